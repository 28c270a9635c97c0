"""GitHub Classroom: the student template's workflow (visible tests only, Classroom points) and its runner."""
# write_student_workflow(release_dir) writes into the student template repository:
#  * .github/workflows/classroom.yml: installs the lab's pinned packages, runs the visible
#    tests once, then one classroom-resources/autograding-command-grader step per visible
#    test cell (max-score = the cell's nbgrader points) and the
#    classroom-resources/autograding-grading-reporter step that reports the points;
#  * .github/classroom/: this module and course.selfcheck, plus visible_tests.json (the
#    released visible test cells, put back before each run so that an edited test cell
#    changes nothing). Hidden checks never leave the instructor's repository.
# The runner half imports only the standard library and course.selfcheck, so it runs in
# the student repository.
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from course import selfcheck

if TYPE_CHECKING:
    from course.config import CourseConfig

WORKFLOW = ".github/workflows/classroom.yml"
RUNNER_DIR = ".github/classroom"  # holds course/ (the runner) and visible_tests.json
TESTS_FILE = "visible_tests.json"
RESULTS_FILE = "classroom-results.json"
VENDORED = ("selfcheck.py", "classroom.py")  # modules of course/ copied into RUNNER_DIR/course/
COMMAND_GRADER = "classroom-resources/autograding-command-grader@v1"
REPORTER = "classroom-resources/autograding-grading-reporter@v1"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"  # CPU wheels: the CUDA build is several GB
NOTEBOOK_PACKAGES = ("torch", "numpy", "matplotlib", "tqdm")  # what the notebook's cells import
HIDDEN_MARKER = "BEGIN HIDDEN TESTS"
RUN_TIMEOUT_MIN = 20  # the visible tests of a full notebook take well under a minute
VENDORED_INIT = '"""The lab\'s visible-test runner for GitHub Classroom, copied from the course tooling."""\n'


class ClassroomError(ValueError):
    """The release notebook cannot give a Classroom workflow; the message says why."""


# --- the visible tests of the release notebook --------------------------------------


def visible_tests(release: dict[str, Any]) -> list[dict[str, Any]]:
    """The release notebook's visible test cells, in notebook order.

    Args:
        release: the released notebook (as a dict).

    Returns:
        One dict per test cell: exercise, grade_id (``test_<exercise>``), points, source.
    Raises:
        ClassroomError: a test cell still holds a hidden-test region (the source notebook
            was passed instead of the release), has no points, or an exercise repeats.
    """
    tests = []
    for cell in release.get("cells", []):
        nbg = selfcheck.nbgrader_meta(cell)
        gid = nbg.get("grade_id")
        if cell.get("cell_type") != "code" or not nbg.get("grade") or nbg.get("solution"):
            continue
        if not isinstance(gid, str) or not gid.startswith(selfcheck.TEST_PREFIX):
            continue
        source = selfcheck.cell_source(cell)
        if HIDDEN_MARKER in source:
            raise ClassroomError(f"test cell `{gid}` holds a hidden-test region: pass the release notebook, not the source.")
        points = nbg.get("points")
        if not isinstance(points, (int, float)) or isinstance(points, bool) or points <= 0:
            raise ClassroomError(f"test cell `{gid}` has no positive nbgrader points ({points!r}).")
        tests.append({"exercise": gid[len(selfcheck.TEST_PREFIX):], "grade_id": gid, "points": points, "source": source})
    names = [t["exercise"] for t in tests]
    if len(set(n.lower() for n in names)) != len(names):
        raise ClassroomError(f"visible test cells repeat an exercise: {', '.join(names)}")
    if not tests:
        raise ClassroomError("the release notebook has no visible test cells.")
    return tests


def step_id(exercise: str) -> str:
    """The workflow step id of an exercise's check (the reporter reads ``<ID>_RESULTS``)."""
    return "check_" + re.sub(r"[^a-z0-9_]", "_", exercise.lower())


# --- the workflows ------------------------------------------------------------------


def student_workflow(tests: list[dict[str, Any]], notebook: str, pins: list[str]) -> dict[str, Any]:
    """The GitHub Actions workflow of the student template repository, as a dict.

    Args:
        tests: from ``visible_tests``.
        notebook: the notebook's file name in the student repository.
        pins: ``name==version`` requirements to install.
    """
    install = f"python -m pip install --no-input --extra-index-url {TORCH_INDEX} " + " ".join(pins)
    checks = []
    for test in tests:
        checks.append({
            "name": f"{test['exercise']} (visible tests)",
            "id": step_id(test["exercise"]),
            "uses": COMMAND_GRADER,
            "with": {
                "test-name": f"{test['exercise']} (visible tests)",
                "setup-command": "",
                "command": f"python -m course.classroom verdict {RESULTS_FILE} {test['exercise']}",
                "timeout": 1,
                "max-score": test["points"],
            },
        })
    reporter = {
        "name": "Autograding Reporter",
        "uses": REPORTER,
        "env": {f"{c['id'].upper()}_RESULTS": f"${{{{steps.{c['id']}.outputs.result}}}}" for c in checks},
        "with": {"runners": ",".join(c["id"] for c in checks)},
    }
    steps = [
        {"name": "Checkout code", "uses": "actions/checkout@v4"},
        {"name": "Set up Python", "uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}},
        {"name": "Install the lab's packages (CPU)", "run": install},
        {
            "name": "Run the visible tests",
            "run": f"python -m course.classroom run {notebook} --out {RESULTS_FILE}",
            "timeout-minutes": RUN_TIMEOUT_MIN,
        },
        *checks,
        reporter,
    ]
    return {
        "name": "Autograding Tests",
        "on": ["push", "workflow_dispatch", "repository_dispatch"],
        "permissions": {"checks": "write", "actions": "read", "contents": "read"},
        "jobs": {
            "run-autograding-tests": {
                "runs-on": "ubuntu-latest",
                "if": "github.actor != 'github-classroom[bot]'",
                "timeout-minutes": RUN_TIMEOUT_MIN + 10,
                "env": {"PYTHONPATH": f"${{{{ github.workspace }}}}/{RUNNER_DIR}"},
                "steps": steps,
            }
        },
    }


def notebook_pins(pyproject: Path) -> list[str]:
    """The pinned versions (from pyproject.toml) of the packages the notebook imports."""
    from course.gradescope import pinned_requirements

    pins = [p for p in pinned_requirements(pyproject) if p.split("==")[0].strip().lower() in NOTEBOOK_PACKAGES]
    missing = set(NOTEBOOK_PACKAGES) - {p.split("==")[0].strip().lower() for p in pins}
    if missing:
        raise ClassroomError(f"pyproject.toml does not pin {', '.join(sorted(missing))}.")
    return pins


def render_workflow(workflow: dict[str, Any], header: str) -> str:
    """YAML text of a workflow, after a comment header."""
    import yaml

    lines = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    return lines + yaml.safe_dump(workflow, sort_keys=False, width=1000, allow_unicode=True)


def student_files(release_notebook: Path, cfg: CourseConfig) -> dict[str, str]:
    """The Classroom files of the student template repository: relative path -> text."""
    if not release_notebook.is_file():
        raise ClassroomError(f"no release notebook at {release_notebook}: run `course release` first.")
    tests = visible_tests(json.loads(release_notebook.read_text(encoding="utf-8")))
    workflow = student_workflow(tests, cfg.notebook, notebook_pins(cfg.root / "pyproject.toml"))
    total = sum(t["points"] for t in tests)
    header = (
        f"GitHub Classroom autograding of {cfg.notebook}: the visible tests of the released notebook only\n"
        f"({len(tests)} checks, {total:g} points). The course's grade comes from the hidden checks,\n"
        "which never leave the instructor's repository.\n"
        "Generated by course/classroom.py (write_student_workflow); regenerate rather than edit."
    )
    files = {
        WORKFLOW: render_workflow(workflow, header),
        f"{RUNNER_DIR}/{TESTS_FILE}": json.dumps({"notebook": cfg.notebook, "tests": tests}, indent=1) + "\n",
        f"{RUNNER_DIR}/course/__init__.py": VENDORED_INIT,
    }
    here = Path(__file__).resolve().parent
    for name in VENDORED:
        files[f"{RUNNER_DIR}/course/{name}"] = (here / name).read_text(encoding="utf-8")
    return dict(sorted(files.items()))


def write_student_workflow(dest: Path, release_notebook: Path | None = None,
                           cfg: CourseConfig | None = None) -> list[Path]:
    """Write the Classroom workflow and its runner into a student template repository.

    The release pipeline calls it with ``dest = release/<assignment>``; instructors
    copy that folder into the template repository.

    Args:
        dest: the root of the student template repository.
        release_notebook: the released notebook (default: the configured release notebook).
        cfg: the course configuration (default: ``load_config()``).

    Returns:
        The files written, sorted.
    """
    from course.config import load_config

    cfg = cfg or load_config()
    written = []
    for rel, text in student_files(release_notebook or cfg.release_notebook, cfg).items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_student_files(dest: Path, release_notebook: Path | None = None,
                        cfg: CourseConfig | None = None) -> list[str]:
    """Classroom files under ``dest`` that are missing or differ from a fresh generation (for --check)."""
    from course.config import load_config

    cfg = cfg or load_config()
    fresh = student_files(release_notebook or cfg.release_notebook, cfg)
    return [rel for rel, text in fresh.items()
            if not (dest / rel).is_file() or (dest / rel).read_text(encoding="utf-8") != text]


# --- the runner, in the student repository --------------------------------------------


def restore_tests(nb: dict[str, Any], tests: list[dict[str, Any]]) -> list[str]:
    """Put the released source back into every visible test cell of ``nb`` (in place).

    Returns:
        grade_ids of visible test cells that are missing from the notebook.
    """
    released = {t["grade_id"]: t["source"] for t in tests}
    seen = set()
    for cell in nb.get("cells", []):
        if not isinstance(cell, dict):
            continue
        gid = selfcheck.nbgrader_meta(cell).get("grade_id")
        if gid in released and cell.get("cell_type") == "code":
            cell["source"] = released[gid]
            seen.add(gid)
    return [gid for gid in released if gid not in seen]


def run_public_checks(notebook: Path, tests_file: Path) -> dict[str, Any]:
    """Run the self-check (setup, answers, released visible tests) on a student's notebook.

    Returns:
        ``{"problems": [...], "exercises": {exercise: {"passed", "points", "status", "message"}}}``.
    """
    tests = json.loads(tests_file.read_text(encoding="utf-8"))["tests"]
    missing: list[str] = []
    with tempfile.TemporaryDirectory(prefix="classroom-") as tmp:
        path = notebook
        try:
            nb = json.loads(notebook.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            nb = None  # the self-check reports why the file is unreadable
        if isinstance(nb, dict) and isinstance(nb.get("cells"), list):
            missing = restore_tests(nb, tests)
            path = Path(tmp) / notebook.name
            path.write_text(json.dumps(nb), encoding="utf-8")
        report = selfcheck.check_notebook(path)
    report.path = notebook
    found = {e.name: e for e in report.exercises}
    exercises = {}
    for test in tests:
        ex = found.get(test["exercise"])
        if ex is None:
            status, message = "not run", "the notebook could not be read" if not report.readable else "not checked"
        elif test["grade_id"] in missing:
            status, message = "missing", f"the visible test cell `{test['grade_id']}` was deleted; copy it back"
        else:
            status, message = ex.status, ex.defined or ex.message
        passed = ex is not None and ex.status == selfcheck.PASSED and not ex.defined and test["grade_id"] not in missing
        exercises[test["exercise"]] = {"passed": passed, "points": test["points"], "status": status, "message": message}
    return {"problems": [p.message for p in report.problems], "exercises": exercises, "report": report.render()}


def verdict(results_file: Path, exercise: str) -> int:
    """Print one exercise's outcome (on stdout: the command grader fails any test that writes to stderr).

    Returns:
        0 when its visible tests passed, else 1.
    """
    try:
        results = json.loads(results_file.read_text(encoding="utf-8"))
        outcome = results["exercises"][exercise]
    except (OSError, ValueError, KeyError, TypeError):
        print(f"{exercise}: the visible tests did not run; see the step 'Run the visible tests'.")
        return 1
    if outcome["passed"]:
        print(f"{exercise}: visible tests passed ({outcome['points']:g} points).")
        return 0
    detail = f": {outcome['message']}" if outcome["message"] else ""
    print(f"{exercise}: {outcome['status']}{detail}")
    if outcome["status"] == "not run":
        for problem in results.get("problems", []):
            print(f"  - {problem}")
    return 1


def _find_notebook(name: str) -> Path:
    path = Path(name)
    if path.is_file():
        return path
    others = sorted(p for p in Path.cwd().glob("*.ipynb") if p.is_file())
    return others[0] if len(others) == 1 else path


def main(argv: list[str] | None = None) -> int:
    """``python -m course.classroom {run,verdict,generate}``."""
    parser = argparse.ArgumentParser(prog="python -m course.classroom", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the visible tests of a notebook and write the results file")
    p.add_argument("notebook")
    p.add_argument("--out", default=RESULTS_FILE)
    p.add_argument("--tests", default=None, help=f"default: {RUNNER_DIR}/{TESTS_FILE} beside this module")
    p = sub.add_parser("verdict", help="print one exercise's outcome; exit 0 when it passed")
    p.add_argument("results")
    p.add_argument("exercise")
    p = sub.add_parser("generate", help="write the Classroom workflow into a student template repository")
    p.add_argument("dest")
    args = parser.parse_args(argv)
    if args.command == "verdict":
        return verdict(Path(args.results), args.exercise)
    if args.command == "generate":
        for path in write_student_workflow(Path(args.dest)):
            print(f"wrote {path}")
        return 0
    tests = Path(args.tests) if args.tests else Path(__file__).resolve().parent.parent / TESTS_FILE
    if not tests.is_file():
        print(f"error: {tests} is missing: regenerate the workflow with write_student_workflow.", file=sys.stderr)
        return 2
    notebook = _find_notebook(args.notebook)
    results = run_public_checks(notebook, tests)
    Path(args.out).write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(results["report"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
