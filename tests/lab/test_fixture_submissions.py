"""Fixture submissions graded end to end in one batch: mutants lose exactly their exercise,
legitimate alternatives keep full marks, hostile submissions gain nothing and break nothing.

The batch runs without the grader-run training (threshold=False), so the ``threshold``
exercise scores 0 for everyone; one separate test grades the solution and the release
with it.
"""
from __future__ import annotations

import csv
import dataclasses
import fcntl
import io
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import fixture_submissions as fs
import nbfactory as nbf
import pytest
from procs import command_line, processes_with, wait_for
from rich.console import Console

from course.config import load_config
from course.grader.batch import run_grade
from course.modes import all_graded
from course.platforms.report import build_report

pytestmark = pytest.mark.slow

# The batch is graded with every exercise graded, so that every fixture's answers run and are judged (a
# given exercise would run the template's cell instead); the last test grades under the configured split.
SPLIT_CFG = load_config()
CFG = dataclasses.replace(SPLIT_CFG, exercise_modes=all_graded(SPLIT_CFG.exercise_modes))
THRESHOLD = "threshold"
# Graded three times in all: their results.json scores must not change.
RERUN = ("solution", "release", "fails-generate-ignores-temperature", "passes-vectorised-alternatives",
         "fails-make-batches-overlapping-windows")


@dataclass
class Batch:
    """One graded batch: the files, the markers, the exit code and what the grader wrote."""

    inputs: Path
    out: Path
    rc: int
    markers: dict[str, str]

    def results(self, name: str) -> dict:
        return json.loads((self.out / name / "results.json").read_text())

    def feedback(self, name: str) -> str:
        return (self.out / name / "feedback.md").read_text()


def write_fixture(fixture: fs.Fixture, marker: str, folder: Path) -> Path:
    built = fixture.build(marker)
    path = folder / f"{fixture.name}.ipynb"
    if isinstance(built, bytes):
        path.write_bytes(built)
    else:
        nbf.write(built, path)
    return path


def grade(folder: Path, out: Path, threshold: bool = False, cfg=CFG) -> int:
    quiet = Console(file=io.StringIO(), width=120)
    return run_grade([folder], out, jobs=2, threshold=threshold, console=quiet, config=cfg)


@pytest.fixture(scope="session")
def batch(tmp_path_factory) -> Batch:
    """Every fixture written to one folder and graded in one `course grade` batch.

    Graded once per test run: under pytest-xdist, workers share the batch through a
    locked folder, so that tests of this module split across workers never grade it twice.
    """
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's folder, common to its workers
    root = shared / "fixture-batch"
    with open(shared / "fixture-batch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        done = root / "done.json"
        if not done.exists():
            shutil.rmtree(root, ignore_errors=True)
            (root / "submissions").mkdir(parents=True)
            token = secrets.token_hex(4)
            markers = {f.name: f"fxmark-{f.name}-{token}" for f in fs.FIXTURES}
            for fixture in fs.FIXTURES:
                write_fixture(fixture, markers[fixture.name], root / "submissions")
            rc = grade(root / "submissions", root / "out")
            done.write_text(json.dumps({"rc": rc, "markers": markers}))
        state = json.loads(done.read_text())
    return Batch(root / "submissions", root / "out", state["rc"], state["markers"])


def per_exercise(results: dict) -> dict[str, tuple[float, float]]:
    """exercise -> (score, max_score), from the tests' first tag."""
    totals: dict[str, tuple[float, float]] = {}
    for test in results["tests"]:
        got, top = totals.get(test["tags"][0], (0.0, 0.0))
        totals[test["tags"][0]] = (got + test["score"], top + test["max_score"])
    return totals


def test_registry_names_state_outcomes_and_cover_every_exercise():
    names = [f.name for f in fs.FIXTURES]
    assert len(names) == len(set(names))
    for f in fs.FIXTURES:
        assert f.name.startswith(("fails-", "passes-", "hostile-")) or f.name in ("solution", "release"), f.name
        assert f.zero <= f.loses, f.name
        assert f.loses <= set(CFG.points) - {THRESHOLD}, f.name
        assert f.status in ("graded", "rejected"), f.name
        assert all(h in fs.BY_NAME for h in f.honest), f.name
    assert set(fs.EXERCISES) == set(CFG.points) - {THRESHOLD}
    mutated = {ex for f in fs.MUTANTS for ex in f.loses}
    assert mutated == set(fs.EXERCISES), f"no mutant for {set(fs.EXERCISES) - mutated}"
    # one exercise each; a bug only the grader-run training can see loses nothing in this batch (no training)
    assert all(len(f.loses) <= 1 for f in fs.MUTANTS), "a mutant breaks at most one exercise"
    assert all(f.loses or fs.variants.BY_NAME[f.name].loses == {THRESHOLD} for f in fs.MUTANTS)


def test_batch_completes_with_a_result_for_every_fixture(batch):
    assert batch.rc == 0, "the grader failed on a submission (status 'error')"
    with open(batch.out / "gradebook.csv", newline="") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh)}
    assert set(rows) == {f.name for f in fs.FIXTURES}
    for f in fs.FIXTURES:
        assert rows[f.name]["status"] == f.status, f.name
        assert float(rows[f.name]["score"]) == batch.results(f.name)["score"], f.name


@pytest.mark.parametrize("name", [f.name for f in fs.FIXTURES])
def test_fixture_gets_its_expected_outcome(batch, name):
    fixture = fs.BY_NAME[name]
    results = batch.results(name)
    feedback = batch.feedback(name)
    assert results["extra_data"]["status"] == fixture.status, results["output"]
    for text in fixture.feedback:
        assert text.format(marker=batch.markers[name]) in feedback, f"{text!r} missing from the feedback"
    for text in fixture.absent:
        assert text.format(marker=batch.markers[name]) not in feedback, f"{text!r} in the feedback"
    if fixture.status == "rejected":
        assert results["score"] == 0
        assert all(t["status"] == "failed" for t in results["tests"])
        return

    # The same checks as the solution, and their points add up to the course's.
    assert [t["name"] for t in results["tests"]] == [t["name"] for t in batch.results("solution")["tests"]]
    scores = per_exercise(results)
    assert {ex: top for ex, (_, top) in scores.items()} == {ex: float(p) for ex, p in CFG.points.items()}
    assert scores[THRESHOLD][0] == 0, "the batch runs without the threshold stage"
    lost = {ex for ex, (got, top) in scores.items() if got < top} - {THRESHOLD}
    report = {ex: f"{got:g}/{top:g}" for ex, (got, top) in scores.items() if got < top and ex != THRESHOLD}
    assert lost == fixture.loses, f"lost points in {report}; expected exactly {sorted(fixture.loses)}"
    for ex in fixture.zero:
        assert scores[ex][0] == 0, f"{ex} should score 0, got {scores[ex][0]:g}"
    for honest in fixture.honest:
        bound = per_exercise(batch.results(honest))
        beaten = {ex: (got, bound[ex][0]) for ex, (got, _) in scores.items() if got > bound[ex][0]}
        assert not beaten, f"scores above the honest fixture {honest} (got, honest): {beaten}"


def test_failed_checks_explain_themselves(batch):
    """Every failed check of a graded fixture says something (no empty or bare-exception message)."""
    for f in fs.FIXTURES:
        if f.status != "graded":
            continue
        for test in batch.results(f.name)["tests"]:
            if test["status"] == "failed" and test["tags"][0] != THRESHOLD:
                where = (f.name, test["name"], test["output"])
                assert test["output"].strip() and "Traceback" not in test["output"], where
                assert "could not run this check" not in test["output"], where


def test_no_hostile_process_survives_the_batch(batch):
    def survivors() -> list[int]:
        return [pid for marker in batch.markers.values() for pid in processes_with(marker)]

    wait_for(lambda: not survivors(), seconds=5, every_s=0.5)  # killed processes may take a moment to leave /proc
    assert not survivors(), [command_line(pid) for pid in survivors()]


def test_forged_results_never_reach_the_output_folder(batch):
    """Forged result files never reach the output folder: every results.json there is the grader's."""
    assert sorted(p.name for p in batch.out.iterdir() if p.is_file()) == ["gradebook.csv", "intake.log",
                                                                          "submissions.csv"]
    forged = batch.results("hostile-forged-results-and-passed-lines")
    release = batch.results("release")  # the worked code of given exercises scores for both
    assert forged["score"] == release["score"] and all(t["name"] != "everything" for t in forged["tests"])


def test_answers_json_feeds_the_cohort_passes(batch, tmp_path):
    """Beside every graded result, answers.json holds the graded answer cells; report and similarity read them."""
    solution = json.loads((batch.out / "solution" / "answers.json").read_text())
    assert list(solution["answers"]) == nbf.answer_ids()
    assert "gates.chunk(4, dim=1)" in solution["answers"]["lstm_cell"]
    for f in fs.FIXTURES:
        assert (batch.out / f.name / "answers.json").exists() == (f.status != "rejected"), f.name
    build_report(batch.out, tmp_path / "report")
    ranked = json.loads((tmp_path / "report" / "similarity.json").read_text())
    assert ranked["submissions"] == sum(f.status != "rejected" for f in fs.FIXTURES)
    # Most fixtures are the solution with one exercise changed: its code is held by more than ten of them,
    # so it counts as common code, like an idiom a whole class writes.
    assert sum(ranked["common"].values()) > 0
    rejected = {f.name for f in fs.FIXTURES if f.status == "rejected"}
    assert not any({p["a"], p["b"]} & rejected for p in ranked["pairs"])


def test_three_gradings_give_identical_results(batch, tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    for name in RERUN:
        shutil.copy2(batch.inputs / f"{name}.ipynb", folder)

    def summary(results: dict) -> tuple:
        return results["score"], [(t["name"], t["score"], t["status"], t["output"]) for t in results["tests"]]

    first = {name: summary(batch.results(name)) for name in RERUN}
    for run in (1, 2):
        out = tmp_path / f"out{run}"
        assert grade(folder, out) == 0
        again = {name: summary(json.loads((out / name / "results.json").read_text())) for name in RERUN}
        assert again == first, f"grading run {run + 1} differs"


def test_solution_scores_full_marks_and_release_zero_with_the_threshold(tmp_path):
    calibration_path = CFG.calibration_path
    if not calibration_path.exists():
        pytest.skip(f"{calibration_path} is missing: run `course calibrate` to grade with the threshold stage")
    calibration = json.loads(calibration_path.read_text())
    folder = tmp_path / "submissions"
    folder.mkdir()
    nbf.write(nbf.solution(), folder / "solution.ipynb")
    nbf.write(nbf.release(), folder / "release.ipynb")
    assert grade(folder, tmp_path / "out", threshold=True, cfg=SPLIT_CFG) == 0  # the configured split
    solution = json.loads((tmp_path / "out" / "solution" / "results.json").read_text())
    release = json.loads((tmp_path / "out" / "release" / "results.json").read_text())
    failed = [t["name"] for t in solution["tests"] if t["status"] != "passed"]
    assert solution["score"] == solution["extra_data"]["max_autograded"] == SPLIT_CFG.autograded_points, failed
    assert {t["tags"][0] for t in solution["tests"]} == {e for e in SPLIT_CFG.points if SPLIT_CFG.mode(e) != "given"}
    perplexity = solution["extra_data"]["perplexity"]
    assert isinstance(perplexity, float) and perplexity < calibration["threshold"]
    assert release["score"] == 0 and all(t["status"] == "failed" for t in release["tests"])
    assert release["extra_data"]["perplexity"] is None
