"""Find submitted notebooks and read each one defensively into a notebook dict."""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NBGRADER_SUBMITTED = "submitted"  # nbgrader's folder: submitted/<student>/<assignment>/<nb>.ipynb
MAX_ANSWER_CELL_CHARS = 200_000  # an answer cell longer than this is not run
_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")
# Ids that end like a batch-level output file (gradebook.csv, report.html, plots) get "_" for the dot.
_OUTPUT_SUFFIX = re.compile(r"\.(csv|html|png|json|md|txt)$", re.IGNORECASE)
CELL_TYPES = ("code", "markdown", "raw")  # nbformat 4


@dataclass(frozen=True)
class Submission:
    """One file to grade.

    Attributes:
        id: folder name for its results; the student id in nbgrader's layout, else the file stem.
        path: the submitted file.
        student_id: the student id when the layout says it, else the same as id.
        timestamp: nbgrader's timestamp.txt beside the notebook, if any.
    """

    id: str
    path: Path
    student_id: str
    timestamp: str = ""


class SubmissionError(ValueError):
    """The submitted file is not a gradable notebook; the message says why."""


def _safe(text: str) -> str:
    safe = _SAFE_ID.sub("_", text).strip("._") or "submission"
    return _OUTPUT_SUFFIX.sub(lambda m: "_" + m.group(1), safe)


def _printable(text: str, cap: int = 80) -> str:
    """A file-system or notebook string made safe to show and to write as UTF-8."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= cap else text[:cap] + "..."


def _nbgrader_student(path: Path, assignment: str) -> str | None:
    parts = path.parts
    # .../submitted/<student>/<assignment>/<notebook>.ipynb
    if len(parts) >= 4 and parts[-4] == NBGRADER_SUBMITTED and parts[-2] == assignment:
        return os.fsencode(parts[-3]).decode("utf-8", "replace")  # an undecodable folder name stays writable
    return None


def discover(paths: list[Path], assignment: str) -> list[Submission]:
    """Submissions under the given files and folders (folders searched recursively).

    Args:
        paths: .ipynb files or folders.
        assignment: the assignment name, to recognise nbgrader's submitted/ layout.

    Returns:
        Submissions sorted by id; ids are unique (a clash gets the parent folder's name) and never
        name a batch-level output (``gradebook.csv`` becomes ``gradebook_csv``). Symbolic links
        are kept as links: ``read_notebook`` refuses them.
    Raises:
        SubmissionError: a path does not exist.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                p for p in sorted(path.rglob("*.ipynb"))
                if ".ipynb_checkpoints" not in p.parts and p.is_file()
            )
        elif path.exists():
            files.append(path)
        else:
            raise SubmissionError(f"{path} does not exist: pass submitted .ipynb files or folders holding them.")
    found: list[Submission] = []
    seen: dict[str, Path] = {}
    for path in dict.fromkeys(Path(os.path.abspath(p)) for p in files):  # not resolve(): a link stays a link
        student = _nbgrader_student(path, assignment)
        base = _safe(student if student else path.stem)
        sub_id = base
        if sub_id in seen:
            sub_id = _safe(f"{path.parent.name}__{base}")
        n = 2
        while sub_id in seen:
            sub_id, n = f"{base}-{n}", n + 1
        seen[sub_id] = path
        stamp = path.parent / "timestamp.txt"
        timestamp = stamp.read_text(errors="replace").strip()[:64] if student and stamp.is_file() else ""
        found.append(Submission(sub_id, path, student or sub_id, timestamp))
    return sorted(found, key=lambda s: s.id)


def read_notebook(path: Path, max_bytes: int, max_cells: int) -> dict[str, Any]:
    """Read a submitted file as an nbformat-4 notebook, or say clearly why not.

    Never trusts the file: a symbolic link is refused (it could point at any file
    of the grader's machine), at most ``max_bytes`` are read, and its encoding,
    JSON, version, structure, cell types and kernel language are checked after.

    Raises:
        SubmissionError: with a message for the student.
    """
    if path.is_symlink():
        raise SubmissionError(
            "The submission is a symbolic link, not a notebook file; submit the .ipynb file itself."
        )
    with open(path, "rb") as fh:
        raw = fh.read(max_bytes + 1)
    if len(raw) > max_bytes:
        size = max(path.stat().st_size, len(raw))
        raise SubmissionError(
            f"The file is {size / 1e6:.1f} MB; notebooks up to {max_bytes / 1e6:.0f} MB are graded. "
            "Clear the outputs (Edit > Clear all outputs) and submit again."
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SubmissionError(
            f"The file is not a notebook: it is not UTF-8 text (byte {exc.start}). "
            "Submit the .ipynb that Jupyter or Colab saves (File > Download > .ipynb)."
        ) from None
    try:
        nb = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise SubmissionError(
            f"The file is not a readable notebook: its JSON is broken{where}, perhaps truncated. "
            "Download it again from Jupyter or Colab and resubmit."
        ) from None
    if not isinstance(nb, dict):
        raise SubmissionError("The file is JSON but not a Jupyter notebook (no list of cells).")
    major = nb.get("nbformat")
    if major != 4 and (major is not None or "worksheets" in nb):  # nbformat 3 keeps its cells in worksheets
        shown = repr(major) if type(major) is int else ("missing" if major is None else "not a number")
        raise SubmissionError(
            f"The notebook is in nbformat version {_printable(shown)}; version 4 is graded. "
            "Open it in Jupyter or Colab and save it again."
        )
    if not isinstance(nb.get("cells"), list):
        raise SubmissionError("The file is JSON but not a Jupyter notebook (no list of cells).")
    if major != 4:
        raise SubmissionError(
            "The notebook does not say its nbformat version; version 4 is graded. "
            "Open it in Jupyter or Colab and save it again."
        )
    language = _kernel_language(nb)
    if language and language != "python":
        raise SubmissionError(f"The notebook's kernel is {_printable(language)!r}; this lab is solved in Python.")
    if len(nb["cells"]) > max_cells:
        raise SubmissionError(
            f"The notebook has {len(nb['cells']):,} cells; at most {max_cells:,} are graded. "
            "Start again from the released notebook."
        )
    for i, cell in enumerate(nb["cells"]):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            raise SubmissionError(f"Cell {i + 1} of the notebook is malformed (no cell type).")
        if cell["cell_type"] not in CELL_TYPES:
            raise SubmissionError(
                f"Cell {i + 1} of the notebook has the unknown cell type {_printable(cell['cell_type'], 40)!r} "
                f"(nbformat 4 knows {', '.join(CELL_TYPES)})."
            )
    return nb


def _kernel_language(nb: dict[str, Any]) -> str | None:
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
