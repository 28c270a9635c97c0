"""Cell-level conventions of the lab's notebooks (nbgrader metadata and tags)."""
from __future__ import annotations

from typing import Any

SKIP_TAG = "grader-skip"  # cells the grader never executes (training, plots, sampling)
PARAMETERS_TAG = "parameters"  # papermill convention: the hyper-parameter cell
SETUP_ID = "setup"  # grade_id of the first, locked code cell


def nbgrader_meta(cell: Any) -> dict:
    """The cell's nbgrader metadata, or {} (never raises on odd metadata)."""
    meta = cell.get("metadata", {}) if isinstance(cell, dict) else {}
    nbg = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    return nbg if isinstance(nbg, dict) else {}


def grade_id(cell: Any) -> str | None:
    gid = nbgrader_meta(cell).get("grade_id")
    return gid if isinstance(gid, str) else None


def tags(cell: Any) -> list[str]:
    meta = cell.get("metadata", {}) if isinstance(cell, dict) else {}
    found = meta.get("tags", []) if isinstance(meta, dict) else []
    return [t for t in found if isinstance(t, str)] if isinstance(found, list) else []


def is_answer_cell(cell: Any) -> bool:
    """An autograded answer: a code cell nbgrader marks as a solution and not graded."""
    nbg = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(nbg.get("solution")) and not nbg.get("grade")


def is_written_answer(cell: Any) -> bool:
    """A manually graded written answer (markdown, solution and grade)."""
    nbg = nbgrader_meta(cell)
    return cell.get("cell_type") == "markdown" and bool(nbg.get("solution")) and bool(nbg.get("grade"))


def is_test_cell(cell: Any) -> bool:
    """A visible (autograder) test cell: graded, not a solution, code."""
    nbg = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(nbg.get("grade")) and not nbg.get("solution")


def is_skipped_when_grading(cell: Any) -> bool:
    return SKIP_TAG in tags(cell)


def cell_source(cell: Any) -> str:
    src = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(src, list):
        src = "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""
