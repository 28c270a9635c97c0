"""Rebuild a submission from the instructor's template: only answer cells come from the student."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from course.student import notebook as nbc

# What runs in place of an answer the submission lacks.
MISSING_STUB = "raise NotImplementedError({msg!r})\n"


@dataclass
class Assembly:
    """The code the worker runs, and what the assembler noticed.

    Attributes:
        cells: (cell id, source) in template order: setup, other cheap cells and answers.
        answers: grade_id -> the student's answer source ('' when missing).
        missing: grade_ids of answer cells not found in the submission.
        notes: messages for the student about how the notebook was read.
    """

    cells: list[tuple[str, str]] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def answer_ids(template: dict[str, Any]) -> list[str]:
    """grade_ids of the template's autograded answer cells, in order."""
    return [gid for cell in template["cells"] if nbc.is_answer_cell(cell) and (gid := nbc.grade_id(cell))]


def _notes(scan: nbc.AnswerScan) -> list[str]:
    """What the student should know about how their answer cells were read."""
    notes = [f"The answer cell `{gid}` was turned into a {kind} cell; it is not run."
             for gid, kind in scan.not_code.items()]
    notes += [f"Several cells carry the answer id `{gid}`; the first that can run "
              f"(cell {scan.found_at[gid]}) is graded." for gid in scan.duplicated() if gid in scan.found]
    notes += [f"The answer cell `{gid}` holds {n:,} characters (at most {nbc.MAX_ANSWER_CELL_CHARS:,}); it is not run."
              for gid, n in scan.too_long.items()]
    return notes


def assemble(template: dict[str, Any], student: dict[str, Any]) -> Assembly:
    """Take the student's answer cells (by nbgrader grade_id) and everything else from the template.

    Edited or deleted test cells, changed points or metadata, extra cells and
    duplicated ids in the submission change nothing; a missing answer cell is
    replaced by a stub that raises NotImplementedError, which costs exactly that
    exercise.

    Args:
        template: the instructor's notebook (as a dict).
        student: the submitted notebook (as read by ``course.student.notebook.read_notebook``).

    Returns:
        An Assembly of the code to run and the notes for the student.
    """
    scan = nbc.scan_answers(student, answer_ids(template))
    found = scan.found
    out = Assembly(notes=_notes(scan))
    for index, cell in enumerate(template["cells"]):
        if cell.get("cell_type") != "code" or nbc.is_test_cell(cell) or nbc.is_skipped_when_grading(cell):
            continue
        gid = nbc.grade_id(cell)
        if nbc.is_answer_cell(cell) and gid:
            if gid in found:
                out.cells.append((gid, found[gid]))
                out.answers[gid] = found[gid]
            else:
                out.missing.append(gid)
                out.answers[gid] = ""
                msg = f"`{gid}` has no answer cell in the submitted notebook"
                out.cells.append((gid, MISSING_STUB.format(msg=msg)))
        else:
            out.cells.append((gid or f"cell-{index}", nbc.cell_source(cell)))
    for gid in out.missing:
        out.notes.append(
            f"No answer cell for `{gid}` was found (cell id `{gid}`): that exercise scores 0. "
            "Copy the cell back from the released notebook and put your solution in it."
        )
    return out
