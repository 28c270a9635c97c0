"""The pytest plugin: points and tags on checks, student-safe messages, totals enforced."""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course.grader.probes import ProbeRequest, Response, save_plan, save_responses

REPO = Path(__file__).resolve().parents[2]

CHECKS = '''
import pytest

@pytest.mark.points(2)
@pytest.mark.tags("alpha")
def test_passes(probe):
    """Alpha answers one"""
    assert probe("p1").value["x"] == 1

@pytest.mark.points(1)
@pytest.mark.tags("alpha", "beta")
def test_assert_message_only(probe):
    """Alpha answers two"""
    secret_reference = 12345
    assert probe("p1").value["x"] == secret_reference, "x should be 2 for this input"

@pytest.mark.points(1)
@pytest.mark.tags("beta")
def test_probe_error_reaches_the_student(probe):
    """Beta runs"""
    probe("p2")

@pytest.mark.points(2)
@pytest.mark.tags("beta")
def test_internal_error_is_not_blamed_on_the_student(probe):
    """Beta internals"""
    {}["hidden_key_name"]
'''


THRESHOLD_CHECK = '''
import pytest

@pytest.mark.points(1)
@pytest.mark.tags("threshold")
def test_threshold():
    """The threshold"""
'''


def make_case(tmp_path: Path, points: str = '{"alpha": 3, "beta": 3, "threshold": 1}',
              modes: str = "{}") -> tuple[Path, Path]:
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "test_checks.py").write_text(CHECKS)
    (checks / "test_threshold.py").write_text(THRESHOLD_CHECK)  # POINTS must give the threshold its points
    config_text = (REPO / "course_config.py").read_text()
    config_text = re.sub(r"POINTS = \{.*?\n\}", f"POINTS = {points}", config_text, flags=re.S)
    config_text = re.sub(r"EXERCISES = \{.*?\n\}", f"EXERCISES = {modes}", config_text, flags=re.S)
    (tmp_path / "course_config.py").write_text(config_text)
    data = tmp_path / "data"
    data.mkdir()
    save_plan(data, [ProbeRequest("p1", "op", {"n": 1}, {"a": np.arange(3)})])
    save_responses(data, {
        "p1": Response("p1", "ok", {"x": 1}),
        "p2": Response("p2", "error", message="beta raised ValueError: shapes do not match"),
    })
    (data / "context.json").write_text(json.dumps({"config_path": str(tmp_path / "course_config.py")}))
    return checks, data


def run(tmp_path: Path, checks: Path, data: Path) -> tuple[subprocess.CompletedProcess, list]:
    report = tmp_path / "report.json"
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(checks), "-c", str(tmp_path / "pytest.ini"), "-p", "course.grader.plugin",
         "-p", "no:cacheprovider", "--grading-data", str(data), "--grading-report", str(report), "-q"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    return proc, json.loads(report.read_text()) if report.exists() else []


def test_report_carries_points_tags_names_and_messages(tmp_path):
    proc, report = run(tmp_path, *make_case(tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    by_name = {r["name"]: r for r in report}
    assert set(by_name) == {"Alpha answers one", "Alpha answers two", "Beta runs", "Beta internals", "The threshold"}
    assert by_name["Alpha answers one"]["passed"] and by_name["Alpha answers one"]["points"] == 2
    assert by_name["Alpha answers two"]["tags"] == ["alpha", "beta"]
    assert by_name["Alpha answers two"]["message"] == "x should be 2 for this input"
    assert by_name["Beta runs"]["message"] == "beta raised ValueError: shapes do not match"
    internal = by_name["Beta internals"]["message"]
    assert "not your mistake" in internal and "KeyError" in internal
    assert by_name["Beta internals"]["internal"].startswith("KeyError")  # recorded for the instructor
    assert [name for name, r in by_name.items() if "internal" in r] == ["Beta internals"]  # failures are not


def test_no_check_source_or_reference_leaks_into_messages(tmp_path):
    _, report = run(tmp_path, *make_case(tmp_path))
    text = json.dumps(report)
    assert "12345" not in text and "secret_reference" not in text and "hidden_key_name" not in text


def test_points_must_add_up_to_the_configured_totals(tmp_path):
    proc, report = run(tmp_path, *make_case(tmp_path, points='{"alpha": 3, "beta": 4, "threshold": 1}'))
    assert proc.returncode != 0 and proc.returncode != 1
    assert "beta: checks 3 vs config 4" in proc.stdout + proc.stderr
    assert report == []


def test_given_exercises_lose_their_checks_and_optional_ones_report_for_no_points(tmp_path):
    proc, report = run(tmp_path, *make_case(tmp_path, modes='{"alpha": "optional", "beta": "given"}'))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    by_name = {r["name"]: r for r in report}
    assert set(by_name) == {"Alpha answers one", "Alpha answers two", "The threshold"}, "beta's are deselected"
    assert [(r["points"], r["weight"], r["mode"]) for r in report if r["name"] != "The threshold"] == [
        (0, 2, "optional"), (0, 1, "optional")]
    assert by_name["Alpha answers two"]["message"] == "x should be 2 for this input"  # still reported
    # context.json's split wins over the configuration's (the grader writes the one it assembled for)
    checks, data = tmp_path / "checks", tmp_path / "data"
    context = json.loads((data / "context.json").read_text())
    (data / "context.json").write_text(json.dumps({**context, "modes": {"alpha": "graded", "beta": "graded"}}))
    _, report = run(tmp_path, checks, data)
    assert sorted((r["points"], r["mode"]) for r in report) == [(1, "graded"), (1, "graded"), (1, "graded"),
                                                                 (2, "graded"), (2, "graded")]


def test_checks_without_markers_are_refused(tmp_path):
    checks, data = make_case(tmp_path)
    (checks / "test_unmarked.py").write_text("def test_x():\n    pass\n")
    proc, _ = run(tmp_path, checks, data)
    assert "needs both @pytest.mark.points and @pytest.mark.tags" in proc.stdout + proc.stderr


@pytest.mark.parametrize("status", ["timeout", "crash", "skipped"])
def test_unanswered_probes_fail_only_their_checks(tmp_path, status):
    checks, data = make_case(tmp_path)
    save_responses(data, {
        "p1": Response("p1", "ok", {"x": 1}),
        "p2": Response("p2", status, message=f"probe {status}"),
    })
    _, report = run(tmp_path, checks, data)
    by_name = {r["name"]: r for r in report}
    assert by_name["Alpha answers one"]["passed"]
    assert by_name["Beta runs"]["message"] == f"probe {status}"


@pytest.mark.parametrize("raw, shown", [
    ("NotImplementedError", "This exercise is not done yet"),
    ("train_epoch raised builtins.NotImplementedError: ", "`train_epoch` is not done yet"),
    ("NotImplementedError: wrong shapes in my helper", "NotImplementedError: wrong shapes in my helper"),
    ("ValueError: bad", "ValueError: bad"),
])
def test_not_done_exercises_get_a_readable_message(raw, shown):
    from course.grader.plugin import student_message

    assert student_message(raw).startswith(shown)
