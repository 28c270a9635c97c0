"""The lab's visible-test runner for GitHub Classroom: runs in the student repository (standard library only).

``run`` puts the released visible tests back into the student's notebook, runs the self-check
on it and writes a results file; ``verdict`` prints one exercise's outcome from that file and
exits 0 when its visible tests passed (one Classroom check per exercise).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import selfcheck
from .contract import Contract
from .notebook import NotebookError, grade_id, read_notebook

TESTS_FILE = "visible_tests.json"  # the released visible test cells, beside the package
CONTRACT_FILE = "contract.json"  # the lab's contract, beside the package
RESULTS_FILE = "classroom-results.json"
HERE = Path(__file__).resolve().parent.parent  # the folder holding this package and the two files


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
        gid = grade_id(cell)
        if gid in released and cell.get("cell_type") == "code":
            cell["source"] = released[gid]
            seen.add(gid)
    return [gid for gid in released if gid not in seen]


def run_public_checks(notebook: Path, tests_file: Path, contract: Contract) -> dict[str, Any]:
    """Run the self-check (setup, answers, released visible tests) on a student's notebook.

    The notebook is read as the grader reads it (``read_notebook``, under the contract's limits): a file the
    grader refuses (a symbolic link, too large, not a notebook) is not copied, and the self-check says why.

    Args:
        notebook: the student's notebook.
        tests_file: visible_tests.json (the released visible test cells).
        contract: the lab's contract.

    Returns:
        ``{"problems": [...], "exercises": {exercise: {"passed", "points", "status", "message"}},
        "report": the self-check's text for the student}``.
    """
    tests = json.loads(tests_file.read_text(encoding="utf-8"))["tests"]
    missing: list[str] = []
    limits = contract.limits
    with tempfile.TemporaryDirectory(prefix="classroom-") as tmp:
        path = notebook
        try:
            nb = read_notebook(notebook, limits.max_notebook_bytes, limits.max_cells)
        except (NotebookError, OSError):
            nb = None  # the self-check reads the file itself and reports why it is refused
        if nb is not None:
            missing = restore_tests(nb, tests)
            path = Path(tmp) / notebook.name
            # compact UTF-8: the copy is no larger than the file the grader would read
            path.write_text(json.dumps(nb, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        report = selfcheck.check_notebook(path, contract)
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
    """``check.py run NOTEBOOK`` or ``check.py verdict RESULTS EXERCISE`` (the Classroom workflow's commands)."""
    parser = argparse.ArgumentParser(prog="check.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the visible tests of a notebook and write the results file")
    p.add_argument("notebook")
    p.add_argument("--out", default=RESULTS_FILE)
    p = sub.add_parser("verdict", help="print one exercise's outcome; exit 0 when it passed")
    p.add_argument("results")
    p.add_argument("exercise")
    args = parser.parse_args(argv)
    if args.command == "verdict":
        return verdict(Path(args.results), args.exercise)
    Path(args.out).unlink(missing_ok=True)  # a stale or committed results file must not outlive a failed run
    tests, contract = HERE / TESTS_FILE, HERE / CONTRACT_FILE
    for path in (tests, contract):
        if not path.is_file():
            print(f"error: {path} is missing: the instructor must publish the release again.", file=sys.stderr)
            return 2
    results = run_public_checks(_find_notebook(args.notebook), tests, Contract.load(contract))
    Path(args.out).write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(results["report"])
    return 0
