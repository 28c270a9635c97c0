"""Find the submitted notebooks under the paths an instructor passes to `course grade`."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from course.errors import UserError

NBGRADER_SUBMITTED = "submitted"  # nbgrader's folder: submitted/<student>/<assignment>/<nb>.ipynb
_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")
# Ids that end like a batch-level output file (gradebook.csv, report.html, plots) get "_" for the dot.
_OUTPUT_SUFFIX = re.compile(r"\.(csv|html|png|json|md|txt)$", re.IGNORECASE)


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


def _safe(text: str) -> str:
    safe = _SAFE_ID.sub("_", text).strip("._") or "submission"
    return _OUTPUT_SUFFIX.sub(lambda m: "_" + m.group(1), safe)


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
        UserError: a path does not exist.
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
            raise UserError(f"{path} does not exist: pass submitted .ipynb files or folders holding them.")
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
