"""Build submissions for tests from the source notebook: the solution with some cells changed."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from course.authoring.release import code_stub
from course.config import load_config
from course.student import notebook as nbc

SOLUTION_REGION = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n?", re.M | re.S)


def solution() -> dict:
    """The source notebook (all solutions in place) as a plain dict."""
    return json.loads(load_config().source_notebook.read_text(encoding="utf-8"))


def release() -> dict:
    """The untouched student notebook."""
    return json.loads(load_config().release_notebook.read_text(encoding="utf-8"))


def every_exercise_asked() -> dict:
    """The release as a course that grades every exercise would hand it out: each exercise the
    split gives as worked code becomes the answer cell nbgrader makes of its source cell (stub and all).

    (tests/platforms/similarity_cohort.py stubs the same way on its own: bench/report.py imports it
    without the test helpers.)"""
    cfg = load_config()
    nb = release()
    source = {nbc.grade_id(c): c for c in solution()["cells"] if nbc.is_answer_cell(c)}
    stub = code_stub(cfg)
    for index, cell in enumerate(nb["cells"]):
        gid = nbc.grade_id(cell)
        if gid in source and not nbc.is_answer_cell(cell):
            asked = copy.deepcopy(source[gid])
            asked["source"] = SOLUTION_REGION.sub(
                lambda m: "".join(f"{m['indent']}{line}\n" for line in stub.splitlines()), nbc.cell_source(asked))
            asked.update(outputs=[], execution_count=None)
            nb["cells"][index] = asked
    return nb


def answer_ids() -> list[str]:
    """grade_ids of the solution's autograded answer cells, in order."""
    from course.grader.assemble import answer_ids as ids

    return ids(solution())


def answer_source(grade_id: str, nb: dict | None = None) -> str:
    """The source of one answer cell of ``nb`` (default: the solution)."""
    for cell in (nb or solution())["cells"]:
        if nbc.grade_id(cell) == grade_id:
            return nbc.cell_source(cell)
    raise KeyError(grade_id)


def with_answers(base: dict | None = None, **sources: str) -> dict:
    """A copy of ``base`` (default: the solution) with answer cells replaced by grade_id."""
    nb = copy.deepcopy(base or solution())
    missing = set(sources)
    for cell in nb["cells"]:
        gid = nbc.grade_id(cell)
        if gid in sources:
            cell["source"] = sources[gid]
            missing.discard(gid)
    if missing:
        raise KeyError(f"no answer cells {sorted(missing)} in the notebook")
    return nb


def with_patched(grade_id: str, old: str, new: str, base: dict | None = None) -> dict:
    """The solution with one substring of one answer cell replaced (the realistic mutant)."""
    src = answer_source(grade_id, base)
    if old not in src:
        raise ValueError(f"{old!r} is not in the answer cell {grade_id!r}")
    return with_answers(base, **{grade_id: src.replace(old, new, 1)})


def with_appended(grade_id: str, code: str, base: dict | None = None) -> dict:
    """The solution with code appended to one answer cell (how a hostile submission hides)."""
    return with_answers(base, **{grade_id: answer_source(grade_id, base) + "\n" + code + "\n"})


def without_answer(grade_id: str, base: dict | None = None) -> dict:
    """The solution with one answer cell deleted."""
    nb = copy.deepcopy(base or solution())
    nb["cells"] = [c for c in nb["cells"] if nbc.grade_id(c) != grade_id]
    return nb


def write(nb: dict, path: Path) -> Path:
    """Write a notebook dict as JSON (no validation: tests write broken ones too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path


def new_cell(source: str, cell_type: str = "code", nbgrader: dict | None = None) -> dict:
    """A notebook cell (code, markdown or raw), optionally with nbgrader metadata."""
    cell = {"cell_type": cell_type, "metadata": {}, "source": source}
    if cell_type == "code":
        cell.update(execution_count=None, outputs=[])
    if nbgrader is not None:
        cell["metadata"]["nbgrader"] = {"schema_version": 3, **nbgrader}
    return cell


def with_cell_after(grade_id: str, cell: dict, base: dict | None = None) -> dict:
    """A copy of ``base`` (default: the solution) with ``cell`` inserted after the cell ``grade_id``."""
    nb = copy.deepcopy(base or solution())
    for index, existing in enumerate(nb["cells"]):
        if nbc.grade_id(existing) == grade_id:
            nb["cells"].insert(index + 1, copy.deepcopy(cell))
            return nb
    raise KeyError(grade_id)


def with_test_cells(source: str, points: float | None = None, base: dict | None = None) -> dict:
    """A copy of ``base`` (default: the solution) whose visible test cells all hold ``source``
    (and, when given, claim ``points`` each)."""
    nb = copy.deepcopy(base or solution())
    found = False
    for cell in nb["cells"]:
        if nbc.is_test_cell(cell):
            found = True
            cell["source"] = source
            if points is not None:
                cell["metadata"]["nbgrader"]["points"] = points
    if not found:
        raise ValueError("the notebook has no visible test cells")
    return nb


def with_cell_type(grade_id: str, cell_type: str, base: dict | None = None) -> dict:
    """A copy of ``base`` (default: the solution) with the cell ``grade_id`` turned into ``cell_type``."""
    nb = copy.deepcopy(base or solution())
    for cell in nb["cells"]:
        if nbc.grade_id(cell) == grade_id:
            cell["cell_type"] = cell_type
            if cell_type != "code":
                cell.pop("outputs", None)
                cell.pop("execution_count", None)
            return nb
    raise KeyError(grade_id)
