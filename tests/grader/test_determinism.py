"""The same submission graded three times, at --jobs 1 and --jobs 2, gets identical results."""
from __future__ import annotations

import json
import os
from pathlib import Path

import nbfactory
import pytest
from harness import run_course_grade, run_once

from autograder.lab_rnn.variants import BY_NAME, variant_notebook
from course.config import load_config

pytestmark = pytest.mark.slow

ASSIGNMENT = load_config().assignment
SUBMISSIONS = {  # student id -> notebook: the solution and two realistic mistakes in different exercises
    "alice": lambda: nbfactory.solution(),
    "bob": lambda: variant_notebook(BY_NAME["fails-myrnn-without-bias"]),  # a graded exercise of the split
    "carol": lambda: variant_notebook(BY_NAME["fails-charlstm-ignores-state"]),
}
THRESHOLD_ENV = "COURSE_TEST_THRESHOLD_DETERMINISM"  # set to 1 to also compare grader-trained perplexities


def submitted(root: Path, students: dict) -> Path:
    """nbgrader's submitted/<student>/<assignment>/ layout: the student id, hence the probe seed, comes from it."""
    for student, make in students.items():
        nbfactory.write(make(), root / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    return root


# extra_data that may differ between runs of the same submission (the training's result itself may not)
RUN_DEPENDENT = ("submission_id", "timestamp", "timings", "threshold_seconds", "threshold_cache")


def comparable(results: dict) -> dict:
    """Everything in results.json that must not depend on the run: all but timings, the folder name, the
    file's time and whether the grader-run training came from the cache."""
    extra = {k: v for k, v in results["extra_data"].items() if k not in RUN_DEPENDENT}
    tests = [{k: t[k] for k in ("name", "score", "max_score", "status", "output", "tags")} for t in results["tests"]]
    return {"score": results["score"], "output": results["output"], "tests": tests, "extra": extra}


def results_by_student(out: Path) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for path in sorted(out.glob("*/results.json")):
        results = json.loads(path.read_text(encoding="utf-8"))
        found.setdefault(results["extra_data"]["student_id"], []).append(results)
    return found


def grade_three_times(base: Path) -> dict[str, list[dict]]:
    """Run 1 at --jobs 1; runs 2 and 3 at --jobs 2 (one batch each: a batch grades one submission per student)."""
    roots = [submitted(base / name, SUBMISSIONS) for name in ("r1", "r2", "r3")]
    runs = [run_course_grade([root], base / f"out{i}", dict(os.environ), jobs=1 if i == 1 else 2)
            for i, root in enumerate(roots, start=1)]
    assert all(run.code == 0 for run in runs), [run.output[-2000:] for run in runs]
    found: dict[str, list[dict]] = {}
    for i in range(1, 4):
        for student, results in results_by_student(base / f"out{i}").items():
            found.setdefault(student, []).extend(results)
    return found


@pytest.fixture(scope="session")
def three_runs(tmp_path_factory) -> dict[str, list[dict]]:
    return run_once(tmp_path_factory, "determinism", grade_three_times)


@pytest.mark.parametrize("student", sorted(SUBMISSIONS))
def test_three_gradings_at_jobs_1_and_2_are_identical(three_runs, student):
    runs = three_runs[student]
    assert len(runs) == 3
    first = comparable(runs[0])
    for other in runs[1:]:
        assert comparable(other) == first


def test_the_three_submissions_score_differently(three_runs):
    cfg = load_config()
    scores = {student: runs[0]["score"] for student, runs in three_runs.items()}
    assert scores["alice"] == cfg.autograded_points - cfg.points["threshold"]  # everything but the grader-run training
    assert scores["bob"] < scores["alice"] and scores["carol"] < scores["alice"] and scores["bob"] != scores["carol"]


@pytest.mark.skipif(os.environ.get(THRESHOLD_ENV) != "1",
                    reason=f"three grader-run trainings take minutes on 2 cores; set {THRESHOLD_ENV}=1 to run them")
def test_grader_trained_perplexity_is_identical_at_jobs_1_and_2(tmp_path):
    # The grader-run training is seeded by the course, not the student: a second student with the same
    # notebook trains side by side with the first at --jobs 2 (a batch grades one submission per student).
    solution, again = {"alice": SUBMISSIONS["alice"]}, {"alice-again": SUBMISSIONS["alice"]}
    roots = [submitted(tmp_path / "r1", solution), submitted(tmp_path / "r2", solution),
             submitted(tmp_path / "r3", again)]
    one = run_course_grade([roots[0]], tmp_path / "out1", dict(os.environ), jobs=1, threshold=True)
    two = run_course_grade(roots[1:], tmp_path / "out2", dict(os.environ), jobs=2, threshold=True)
    assert one.code == 0 and two.code == 0, (one.output[-2000:], two.output[-2000:])
    second = results_by_student(tmp_path / "out2")
    runs = results_by_student(tmp_path / "out1")["alice"] + second["alice"] + second["alice-again"]
    perplexities = [r["extra_data"]["perplexity"] for r in runs]
    assert len(runs) == 3 and isinstance(perplexities[0], float)
    assert perplexities == [perplexities[0]] * 3  # bit for bit, not approximately
    assert comparable(runs[1]) == comparable(runs[0])
