"""The lab notebooks' cell conventions and the one reader of submitted files (standard library only).

Both the grader and the student's self-check read a notebook through ``read_notebook`` and
find its answer cells through ``scan_answers``, so that a file the self-check calls gradable
is exactly a file the grader grades, and the other way round.

Conventions (source and release notebooks):

* Answer cells: nbgrader ``solution: true``, ``grade: false``, ``grade_id`` equal to the
  exercise symbol, one symbol per cell, code cells.
* Visible test cells: ``grade: true``, ``solution: false``, ``grade_id: "test_<symbol>"``.
* Written answers: markdown, ``solution: true``, ``grade: true``, ``grade_id: "q_<topic>"``.
* The first code cell has ``grade_id: "setup"``; the ``parameters`` cell holds the training
  hyper-parameters (papermill's convention); cells tagged ``grader-skip`` never run when grading.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SKIP_TAG = "grader-skip"  # cells the grader never executes (training, plots, sampling, the self-check)
PARAMETERS_TAG = "parameters"  # papermill convention: the hyper-parameter cell
SETUP_ID = "setup"  # grade_id of the first, locked code cell
TEST_PREFIX = "test_"  # visible test cells: grade_id "test_<symbol>"
CELL_TYPES = ("code", "markdown", "raw")  # nbformat 4
MAX_ANSWER_CELL_CHARS = 200_000  # an answer cell longer than this is not run


class NotebookError(ValueError):
    """The file is not a gradable notebook; the message says why, for the student."""


# --- cells ------------------------------------------------------------------------------------------


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


def cell_type(cell: Any) -> str | None:
    kind = cell.get("cell_type") if isinstance(cell, dict) else None
    return kind if isinstance(kind, str) else None


def is_answer_cell(cell: Any) -> bool:
    """An autograded answer: a code cell nbgrader marks as a solution and not graded."""
    nbg = nbgrader_meta(cell)
    return cell_type(cell) == "code" and bool(nbg.get("solution")) and not nbg.get("grade")


def is_written_answer(cell: Any) -> bool:
    """A manually graded written answer (markdown, solution and grade)."""
    nbg = nbgrader_meta(cell)
    return cell_type(cell) == "markdown" and bool(nbg.get("solution")) and bool(nbg.get("grade"))


def is_test_cell(cell: Any) -> bool:
    """A visible (autograder) test cell: graded, not a solution, code."""
    nbg = nbgrader_meta(cell)
    return cell_type(cell) == "code" and bool(nbg.get("grade")) and not nbg.get("solution")


def is_skipped_when_grading(cell: Any) -> bool:
    return SKIP_TAG in tags(cell)


def cell_source(cell: Any) -> str:
    src = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(src, list):
        src = "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


# --- the file ----------------------------------------------------------------------------------------


def printable(text: str, cap: int = 80) -> str:
    """A file-system or notebook string made safe to show and to write as UTF-8."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= cap else text[:cap] + "..."


def read_notebook(path: str | Path, max_bytes: int, max_cells: int) -> dict[str, Any]:
    """Read a submitted file as an nbformat-4 notebook, or say clearly why not.

    Never trusts the file: a symbolic link is refused (it could point at any file of the
    grader's machine), at most ``max_bytes`` are read, and its encoding, JSON, version,
    structure, cell types and kernel language are checked after.

    Args:
        path: the file.
        max_bytes: larger files are refused unread.
        max_cells: notebooks with more cells are refused.

    Returns:
        The notebook as a dict.
    Raises:
        NotebookError: with a message for the student.
    """
    path = Path(path)
    if path.is_symlink():
        raise NotebookError("The submission is a symbolic link, not a notebook file; submit the .ipynb file itself.")
    with open(path, "rb") as fh:
        raw = fh.read(max_bytes + 1)
    if len(raw) > max_bytes:
        size = max(path.stat().st_size, len(raw))
        raise NotebookError(
            f"The file is {size / 1e6:.1f} MB; notebooks up to {max_bytes / 1e6:.0f} MB are graded. "
            "Clear the outputs (Edit > Clear all outputs) and submit again."
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotebookError(
            f"The file is not a notebook: it is not UTF-8 text (byte {exc.start}). "
            "Submit the .ipynb that Jupyter or Colab saves (File > Download > .ipynb)."
        ) from None
    try:
        nb = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise NotebookError(
            f"The file is not a readable notebook: its JSON is broken{where}, perhaps truncated. "
            "Download it again from Jupyter or Colab and resubmit."
        ) from None
    if not isinstance(nb, dict):
        raise NotebookError("The file is JSON but not a Jupyter notebook (no list of cells).")
    major = nb.get("nbformat")
    if major != 4 and (major is not None or "worksheets" in nb):  # nbformat 3 keeps its cells in worksheets
        shown = repr(major) if type(major) is int else ("missing" if major is None else "not a number")
        raise NotebookError(
            f"The notebook is in nbformat version {printable(shown)}; version 4 is graded. "
            "Open it in Jupyter or Colab and save it again."
        )
    if not isinstance(nb.get("cells"), list):
        raise NotebookError("The file is JSON but not a Jupyter notebook (no list of cells).")
    if major != 4:
        raise NotebookError(
            "The notebook does not say its nbformat version; version 4 is graded. "
            "Open it in Jupyter or Colab and save it again."
        )
    language = kernel_language(nb)
    if language and language != "python":
        raise NotebookError(f"The notebook's kernel is {printable(language)!r}; this lab is solved in Python.")
    if len(nb["cells"]) > max_cells:
        raise NotebookError(
            f"The notebook has {len(nb['cells']):,} cells; at most {max_cells:,} are graded. "
            "Start again from the released notebook."
        )
    for i, cell in enumerate(nb["cells"]):
        kind = cell_type(cell)
        if kind is None:
            raise NotebookError(f"Cell {i + 1} of the notebook is malformed (no cell type).")
        if kind not in CELL_TYPES:
            raise NotebookError(
                f"Cell {i + 1} of the notebook has the unknown cell type {printable(kind, 40)!r} "
                f"(nbformat 4 knows {', '.join(CELL_TYPES)})."
            )
    return nb


def kernel_language(nb: dict[str, Any]) -> str | None:
    """The notebook's language from its kernelspec or language_info, lower case, or None."""
    meta = nb.get("metadata")
    if not isinstance(meta, dict):
        return None
    for key in ("kernelspec", "language_info"):
        section = meta.get(key)
        if isinstance(section, dict):
            lang = section.get("language") if key == "kernelspec" else section.get("name")
            if isinstance(lang, str) and lang:
                return lang.lower()
    return None


# --- the answer cells ---------------------------------------------------------------------------------


@dataclass
class AnswerScan:
    """Where a notebook keeps each answer cell, as the grader will read it.

    Attributes:
        found: grade_id -> the source the grader runs (the first code cell with that id
            that is not too long).
        found_at: grade_id -> the number (from 1) of that cell.
        cells: grade_id -> [(cell number from 1, cell type)] of every cell carrying that id.
        not_code: grade_id -> the cell type of a cell with that id that is not code (not run).
        too_long: grade_id -> the length of a code cell with that id over ``max_chars`` (not run).
        missing: wanted ids with no code cell the grader can run.
    """

    found: dict[str, str] = field(default_factory=dict)
    found_at: dict[str, int] = field(default_factory=dict)
    cells: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    not_code: dict[str, str] = field(default_factory=dict)
    too_long: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def duplicated(self) -> dict[str, list[int]]:
        """grade_id -> cell numbers, for ids carried by more than one cell."""
        return {gid: [n for n, _ in cells] for gid, cells in self.cells.items() if len(cells) > 1}


def scan_answers(nb: dict[str, Any], wanted: list[str], max_chars: int = MAX_ANSWER_CELL_CHARS) -> AnswerScan:
    """Find the answer cells ``wanted`` (grade_ids) in a notebook read by ``read_notebook``.

    Only the grade_id counts: edited metadata, extra cells and cells moved around change
    nothing. A cell turned into markdown or raw is not run; of several code cells with one
    id, the first runnable one is graded.
    """
    scan = AnswerScan()
    want = set(wanted)
    for number, cell in enumerate(nb.get("cells", []), start=1):
        gid = grade_id(cell)
        if gid not in want:
            continue
        kind = cell_type(cell) or "?"
        scan.cells.setdefault(gid, []).append((number, kind))
        if gid in scan.found:
            continue
        if kind != "code":
            scan.not_code.setdefault(gid, kind)
            continue
        source = cell_source(cell)
        if len(source) > max_chars:
            scan.too_long.setdefault(gid, len(source))
            continue
        scan.found[gid], scan.found_at[gid] = source, number
    scan.missing = [gid for gid in wanted if gid not in scan.found]
    return scan
