"""Pytest plugin that runs hidden checks on a submission's probe data and reports points.

Load with ``-p course.grader.plugin --grading-data DIR --grading-report FILE``. DIR holds
what the trusted grader wrote for one submission (never anything the worker
wrote directly):

* ``plan.json`` / ``plan_arrays.npz``: the probe requests (``course.grader.probes``)
* ``responses.json`` / ``response_arrays.npz``: the validated responses
* ``sources.json``: grade_id -> the student's answer cell source
* ``threshold.json`` (optional): the grader-run training result
* ``context.json``: ``{"config_path": ..., "calibration_path": ..., "modes": {exercise: mode}}``
  (``modes`` optional: the configuration's EXERCISES when absent)

Markers on the checks: ``points(n)``, ``tags(exercise, *other_symbols)`` where the
first tag is the exercise (a key of POINTS in course_config.py) whose total the
points count toward. The report is a JSON list with one entry per check: the checks of a
given exercise are deselected, those of an optional one are reported with 0 points (their
marker's points as ``weight``).
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from course import modes as exercise_modes
from course.config import load_config
from course.grader.probes import Response, load_plan, load_responses

# Shown to the student when a check itself breaks: the grader's fault, not theirs.
INTERNAL_ERROR = ("The grader could not run this check ({kind}); your instructor has been told. "
                  "This is not your mistake.")


# An exercise left as released: the message says so instead of a bare exception name.
_NOT_DONE = re.compile(r"\s*(?:(?P<who>\S+) raised )?(?:builtins\.)?NotImplementedError:?\s*")
NOT_DONE = ("{who}not done yet: it still raises NotImplementedError. "
            "Replace `raise NotImplementedError()` with your solution.")


def student_message(message: str) -> str:
    """Make bare exception names readable; keep every other message as the check wrote it."""
    match = _NOT_DONE.fullmatch(message)
    if match:
        who = f"`{match['who']}` is " if match["who"] else "This exercise is "
        return NOT_DONE.format(who=who)
    return message


class PointsMismatch(pytest.UsageError):
    """The checks' points do not add up to course_config.POINTS."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("course", "DLAI course grading")
    group.addoption("--grading-data", default=None, help="folder with one submission's probe data")
    group.addoption("--grading-report", default=None, help="where to write the JSON report of the checks")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "points(n): points this check is worth")
    config.addinivalue_line("markers", "tags(exercise, *symbols): exercise first, then every student symbol used")
    config.addinivalue_line("markers", "visibility(v): Gradescope visibility of this check")
    config._course_results = []  # type: ignore[attr-defined]


def _marker_args(item: pytest.Item, name: str) -> tuple:
    mark = item.get_closest_marker(name)
    return tuple(mark.args) if mark else ()


def check_meta(item: pytest.Item) -> dict[str, Any]:
    """Points (its marker's: the exercise's weight), tags and display name of one check item."""
    points = _marker_args(item, "points")
    tags = _marker_args(item, "tags")
    visibility = _marker_args(item, "visibility")
    doc = (getattr(item, "function", None).__doc__ or "") if hasattr(item, "function") else ""
    name = doc.strip().splitlines()[0].strip() if doc.strip() else item.name
    return {
        "nodeid": item.nodeid,
        "name": name,
        "points": float(points[0]) if points else 0.0,
        "tags": [str(t) for t in tags],
        "visibility": str(visibility[0]) if visibility else None,
    }


def points_by_exercise(items: list[pytest.Item]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for item in items:
        meta = check_meta(item)
        if meta["tags"]:
            totals[meta["tags"][0]] = totals.get(meta["tags"][0], 0.0) + meta["points"]
    return totals


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    data = config.getoption("--grading-data")
    if data is None:
        return
    for item in items:
        meta = check_meta(item)
        if not meta["tags"] or item.get_closest_marker("points") is None:
            raise PointsMismatch(f"check {item.nodeid} needs both @pytest.mark.points and @pytest.mark.tags")
    if not (config.getoption("-k") or config.getoption("-m")):  # a selection cannot add up to the totals
        cfg = load_config(_context(config).get("config_path"))
        totals = points_by_exercise(items)
        expected = {k: float(v) for k, v in cfg.points.items()}
        if totals != expected:
            diff = ", ".join(
                f"{k}: checks {totals.get(k, 0.0):g} vs config {expected.get(k, 0.0):g}"
                for k in sorted(set(totals) | set(expected))
                if totals.get(k) != expected.get(k)
            )
            raise PointsMismatch(
                f"hidden checks' points do not match POINTS in course_config.py ({diff}); fix one of them.")
    modes = grading_modes(config)
    given = [item for item in items if not exercise_modes.has_checks(exercise_modes.mode_of(modes, _exercise(item)))]
    if given:  # a given exercise is the template's solution: nothing of the student's to check
        config.hook.pytest_deselected(items=given)
        items[:] = [item for item in items if item not in given]


def _exercise(item: pytest.Item) -> str:
    tags = _marker_args(item, "tags")
    return str(tags[0]) if tags else ""


def grading_modes(config: pytest.Config) -> dict[str, str]:
    """exercise -> mode this grading applies: context.json's ``modes``, else the configuration's EXERCISES."""
    cached = getattr(config, "_course_modes", None)
    if cached is None and config.getoption("--grading-data") is None:
        cached = {}
    if cached is None:
        context = _context(config)
        raw = context.get("modes")
        cached = dict(raw) if isinstance(raw, dict) else dict(load_config(context.get("config_path")).exercise_modes)
        config._course_modes = cached  # type: ignore[attr-defined]
    return cached


def failure_message(excinfo: pytest.ExceptionInfo) -> str:
    """What a student reads for a failed check: the check's own message, never its source."""
    exc = excinfo.value
    if isinstance(exc, pytest.fail.Exception):
        return student_message(str(exc.msg))
    if isinstance(exc, AssertionError):
        text = str(exc)
        # pytest's assertion rewriting appends "\nassert <expression>": keep only the message.
        return text.split("\nassert ")[0].strip() or "This check failed."
    return INTERNAL_ERROR.format(kind=type(exc).__name__)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    failed_setup = report.when == "setup" and report.failed
    if report.when == "call" or failed_setup or (report.when == "setup" and report.skipped):
        meta = check_meta(item)
        mode = exercise_modes.mode_of(grading_modes(item.config), meta["tags"][0] if meta["tags"] else "")
        meta["weight"], meta["mode"] = meta["points"], mode
        if not exercise_modes.counts(mode):
            meta["points"] = 0.0  # homework: checked and reported, worth nothing in the score
        # Checks attach notes for reviewers with record_property("flag", text).
        meta["flags"] = [str(value) for name, value in report.user_properties if name == "flag"]
        if report.passed:
            meta.update(passed=True, message="")
        elif report.skipped:
            reason = str(call.excinfo.value) if call.excinfo else ""
            meta.update(passed=False, message="This check was skipped: " + reason)
        else:
            meta.update(passed=False, message=failure_message(call.excinfo) if call.excinfo else "This check failed.")
            exc = call.excinfo.value if call.excinfo else None
            if exc is not None and not isinstance(exc, (pytest.fail.Exception, AssertionError)):
                # for the instructor: the exception's type and where the check broke, never its text (it may
                # hold reference values), since results.json may reach the student
                entry = call.excinfo.traceback[-1] if call.excinfo.traceback else None
                where = f" at {Path(str(entry.path)).name}:{entry.lineno + 1}" if entry is not None else ""
                meta["internal"] = f"{type(exc).__name__}{where}"
        item.config._course_results.append(meta)  # type: ignore[attr-defined]
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = session.config.getoption("--grading-report")
    if path:
        Path(path).write_text(json.dumps(session.config._course_results, indent=1))  # type: ignore[attr-defined]


# --- fixtures available to the checks ----------------------------------------


def _data_dir(config: pytest.Config) -> Path:
    data = config.getoption("--grading-data")
    if data is None:
        raise pytest.UsageError("hidden checks need --grading-data DIR (run them through `course grade`)")
    return Path(data)


def _context(config: pytest.Config) -> dict[str, Any]:
    path = _data_dir(config) / "context.json"
    return json.loads(path.read_text()) if path.exists() else {}


@pytest.fixture(scope="session")
def plan(pytestconfig: pytest.Config):
    """Probe requests by id (the inputs the grader chose)."""
    return load_plan(_data_dir(pytestconfig))


@pytest.fixture(scope="session")
def responses(pytestconfig: pytest.Config) -> dict[str, Response]:
    """Validated probe responses by id."""
    return load_responses(_data_dir(pytestconfig))


@pytest.fixture(scope="session")
def probe(responses: dict[str, Response]) -> Callable[[str], Response]:
    """``probe(id)``: the ok Response, or the check fails with the probe's message."""

    def get(probe_id: str) -> Response:
        resp = responses.get(probe_id)
        if resp is None:
            pytest.fail("This check did not run: an earlier step of grading stopped first.", pytrace=False)
        if not resp.ok:
            pytest.fail(resp.message or f"Your code did not answer this probe ({resp.status}).", pytrace=False)
        return resp

    return get


@pytest.fixture(scope="session")
def sources(pytestconfig: pytest.Config) -> dict[str, str]:
    """The student's answer cell sources by grade_id."""
    path = _data_dir(pytestconfig) / "sources.json"
    return json.loads(path.read_text()) if path.exists() else {}


@pytest.fixture(scope="session")
def threshold_result(pytestconfig: pytest.Config) -> dict[str, Any] | None:
    """The grader-run training result, or None when that stage did not run."""
    path = _data_dir(pytestconfig) / "threshold.json"
    return json.loads(path.read_text()) if path.exists() else None


@pytest.fixture(scope="session")
def course_cfg(pytestconfig: pytest.Config):
    """The validated course configuration."""
    return load_config(_context(pytestconfig).get("config_path"))


@pytest.fixture(scope="session")
def calibration(pytestconfig: pytest.Config, course_cfg) -> dict[str, Any]:
    """The threshold calibration (autograder/<assignment>/calibration.json)."""
    path = Path(_context(pytestconfig).get("calibration_path") or course_cfg.calibration_path)
    if not path.exists():
        pytest.fail("The course has no threshold calibration yet; your instructor must run `course calibrate`.",
                    pytrace=False)
    return json.loads(path.read_text())
