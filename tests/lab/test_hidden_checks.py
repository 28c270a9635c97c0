"""The hidden checks as a classifier: right answers keep every point, each mistake loses points in its own exercise.

Every case (the source notebook's solution, unimplemented stubs, and each variant of
autograder/lab_rnn/variants.py) runs the whole probe plan in-process through the wire
format; the hidden checks then judge each case's saved data with the course plugin, in one
trusted subprocess (pytest.main per case, so that torch is imported once).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from autograder.lab_rnn.plan import build_plan
from autograder.lab_rnn.variants import ALTERNATIVES, BY_NAME, MUTANTS, variant_sources
from course.authoring.solution import run_cells, setup_source, solution_sources
from course.config import load_config
from course.grader.inprocess import InProcessSession
from course.grader.probes import save_plan, save_responses
from course.modes import GIVEN, GRADED, OPTIONAL, all_graded

REPO = Path(__file__).resolve().parents[2]
CFG = load_config()
ALL_GRADED_MODES = all_graded(CFG.exercise_modes)
CHECKS = REPO / "autograder" / "lab_rnn" / "checks"
OPS = sorted((REPO / "autograder" / "lab_rnn" / "worker").glob("*.py"))
SEED = 20260101
THRESHOLD_NAME = "Your CharLSTM, trained by your train_epoch, reaches the held-out perplexity threshold"
THRESHOLD_OK = {"status": "ok", "perplexity": 4.7, "bpc": 2.23, "steps_taken": 500, "train_seconds": 1.0,
                "message": "", "suspicious": False}
SOLUTION = solution_sources(CFG)
# A split of every mode, and one mistake in an exercise of each: a given one (never checked), an optional
# one (checked, 0 points) and a graded one (1 point lost).
SPLIT = {**ALL_GRADED_MODES, "to_batch_first": GIVEN, "decode": GIVEN, "lstm_cell": OPTIONAL, "generate": OPTIONAL}
SPLIT_MISTAKES = ("fails-to-batch-first-reshape", "fails-lstm-gate-order", "fails-charlstm-softmax-instead-of-logits")
STUBS = {e: f"def {e}(*args, **kwargs):\n    raise NotImplementedError()\n" for e in SOLUTION}

# Runs the checks once per data folder in one process: argv = ini, then (data, report) pairs.
RUNNER = """
import sys, pytest
checks, ini = sys.argv[1], sys.argv[2]
for data, report in zip(sys.argv[3::2], sys.argv[4::2]):
    pytest.main([checks, "-c", ini, "--rootdir", checks, "-p", "course.grader.plugin", "-p", "no:cacheprovider",
                 "--grading-data", data, "--grading-report", report, "-q", "--no-header"])
"""


ALL_GRADED = ALL_GRADED_MODES  # the catalogue is judged with every check and every point


def write_data(directory: Path, sources: dict[str, str], plan, threshold: dict | None,
               modes: dict[str, str] = ALL_GRADED) -> Path:
    """Run the plan on the setup cell and these answer cells in-process; save what the plugin reads."""
    session = InProcessSession(run_cells([setup_source(CFG), *sources.values()]), OPS)
    responses = {req.id: session.call(req) for req in plan}
    data = directory / "data"
    data.mkdir(parents=True)
    save_plan(data, plan)
    save_responses(data, responses)
    (data / "sources.json").write_text(json.dumps(sources))
    if threshold is not None:
        (data / "threshold.json").write_text(json.dumps(threshold))
    calibration = directory / "calibration.json"
    calibration.write_text(json.dumps({"threshold": 5.0, "rule": "worst reference seed x 1.10"}))
    (data / "context.json").write_text(json.dumps({"config_path": str(REPO / "course_config.py"),
                                                   "calibration_path": str(calibration), "modes": modes}))
    return data


def run_checks(folders: list[Path], directory: Path) -> list[list[dict]]:
    """The plugin's report for each data folder."""
    ini = directory / "pytest.ini"
    ini.write_text("[pytest]\n")
    reports = [folder.parent / "report.json" for folder in folders]
    args = [a for pair in zip(folders, reports) for a in map(str, pair)]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(CHECKS), str(ini), *args], cwd=directory, env=env,
                          capture_output=True, text=True, timeout=900)
    assert all(r.exists() for r in reports), proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads(r.read_text()) for r in reports]


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, list[dict]]:
    """Report of the checks for every case, by name: mutants without the grader-run training, alternatives with it."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("variants")
    plan = build_plan(SEED)
    cases = {"correct": (SOLUTION, None), "stubs": (STUBS, None)}
    cases.update({v.name: (variant_sources(v, CFG), None) for v in MUTANTS})
    cases.update({v.name: (variant_sources(v, CFG), THRESHOLD_OK) for v in ALTERNATIVES})
    folders = [write_data(root / name, sources, plan, threshold) for name, (sources, threshold) in cases.items()]
    # The configured split, on answers with a mistake in a given, an optional and a graded exercise.
    split = dict(SOLUTION)
    for name in SPLIT_MISTAKES:
        split.update(BY_NAME[name].sources(SOLUTION))
    folders.append(write_data(root / "split", split, plan, THRESHOLD_OK, dict(SPLIT)))
    return dict(zip([*cases, "split"], run_checks(folders, root)))


def lost(report: list[dict]) -> dict[str, float]:
    """Points lost per exercise (the first tag)."""
    out: dict[str, float] = {}
    for check in report:
        if not check["passed"]:
            out[check["tags"][0]] = out.get(check["tags"][0], 0.0) + check["points"]
    return out


def test_correct_answers_get_every_point(reports):
    report = reports["correct"]
    assert {c["name"]: c["message"] for c in report if not c["passed"]} == {
        THRESHOLD_NAME: "The grader-run training was not run for this submission, so this check could not pass."}
    assert sum(c["points"] for c in report) == sum(CFG.points.values())
    assert {c["mode"] for c in report} == {GRADED}


def test_the_split_deselects_given_checks_and_reports_homework_for_no_points(reports):
    """Under a given/optional/graded split: no check of a given exercise, homework checked and reported for 0."""
    report = reports["split"]
    by_exercise: dict[str, list[dict]] = {}
    for check in report:
        by_exercise.setdefault(check["tags"][0], []).append(check)
    assert set(by_exercise) == {e for e, mode in SPLIT.items() if mode != GIVEN} | {"threshold"}
    for exercise, checks in by_exercise.items():
        mode = SPLIT.get(exercise, GRADED)
        assert {c["mode"] for c in checks} == {mode}, exercise
        assert sum(c["weight"] for c in checks) == CFG.points[exercise], exercise
        assert sum(c["points"] for c in checks) == (CFG.points[exercise] if mode == GRADED else 0), exercise
    # the optional exercise's mistake is reported, with its feedback, for no points; the graded one costs points
    homework = [c for c in by_exercise["lstm_cell"] if not c["passed"]]
    assert homework and all(c["points"] == 0 for c in homework)
    assert any("(input, forget, output, cell)" in c["message"] for c in homework)
    assert {e: points for e, points in lost(report).items() if points} == {"CharLSTM": 1.0}
    assert sum(c["points"] for c in report if c["passed"]) == sum(
        points for e, points in CFG.points.items() if SPLIT.get(e, GRADED) == GRADED) - 1


@pytest.mark.parametrize("name", [v.name for v in ALTERNATIVES])
def test_alternative_answers_get_every_point(name, reports):
    assert {c["name"]: c["message"] for c in reports[name] if not c["passed"]} == {}


def test_unimplemented_answers_score_zero(reports):
    report = reports["stubs"]
    assert [c["name"] for c in report if c["passed"]] == []
    assert all("NotImplementedError" in c["message"] for c in report if c["tags"][0] != "threshold")


@pytest.mark.parametrize("name", [v.name for v in MUTANTS])
def test_mutant_loses_points_in_its_exercise_only(name, reports):
    """Each mistake loses points in its exercise only (the grader-run training is judged in course calibrate)."""
    mutant = BY_NAME[name]
    report = reports[name]
    losses = lost(report)
    assert losses.pop("threshold") == CFG.points["threshold"]  # not run here
    assert set(losses) == set(mutant.loses) - {"threshold"}, losses
    for exercise in mutant.zero:
        assert losses[exercise] == CFG.points[exercise], f"{exercise} should score 0"
    messages = [c["message"] for c in report if not c["passed"] and c["tags"][0] in mutant.loses]
    for phrase in mutant.feedback:
        assert any(phrase in m for m in messages), (phrase, messages)
    failed = {c["nodeid"].rsplit("::", 1)[-1] for c in report if not c["passed"]}
    assert mutant.fails_checks <= failed, sorted(mutant.fails_checks - failed)  # doing nothing earns nothing there
    assert [c["internal"] for c in report if c.get("internal")] == []  # every failure is a diagnosis, no crash


def test_every_exercise_has_a_mutant():
    assert {e for m in MUTANTS for e in m.loses} - {"threshold"} == set(CFG.points) - {"threshold"}
