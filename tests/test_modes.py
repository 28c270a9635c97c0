"""course/modes.py: what graded, optional and given mean for a notebook, its headings and its points."""
from __future__ import annotations

import copy

import pytest

from course.config import load_config
from course.errors import ConfigError
from course.modes import (
    GIVEN,
    GIVEN_NOTE,
    GRADED,
    OPTIONAL,
    OPTIONAL_NOTE,
    all_graded,
    apply_modes,
    points,
    strip_hidden_tests,
    strip_solution_markers,
    validate_modes,
)
from course.student import notebook as nbc

CFG = load_config()


def cell(kind: str, source: str, **nbgrader) -> dict:
    c = {"cell_type": kind, "metadata": {}, "source": source}
    if nbgrader:
        c["metadata"]["nbgrader"] = {"schema_version": 3, **nbgrader}
    return c


def tiny() -> dict:
    """A notebook with three exercises, each with its heading, answer cell and test cell."""
    cells = [cell("markdown", "# Lab\n\n**Homework (optional):** `a`.\n\n**Worked code (given):** `b`.")]
    for name in ("f", "g", "h"):
        cells += [
            cell("markdown", f"### Exercise 9: `{name}` (a detail)\n\nWrite {name}."),
            cell("code", f"def {name}():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n",
                 solution=True, grade=False, locked=False, grade_id=name),
            cell("code", f"# Visible tests for {name}.\nassert {name}() == 1\n### BEGIN HIDDEN TESTS\n"
                         f"assert {name}() != 2\n### END HIDDEN TESTS\n",
                 solution=False, grade=True, locked=True, grade_id=f"test_{name}", points=5),
        ]
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_modes_are_validated_and_default_to_graded():
    assert validate_modes({"g": GIVEN}, ["f", "g", "h"]) == {"f": GRADED, "g": GIVEN, "h": GRADED}
    with pytest.raises(ConfigError, match="must be one of graded, optional, given"):
        validate_modes({"f": "skip"}, ["f"])
    with pytest.raises(ConfigError, match="not an exercise of POINTS"):
        validate_modes({"x": GIVEN}, ["f"])
    assert all_graded({"f": GIVEN, "g": OPTIONAL}) == {"f": GRADED, "g": GRADED}
    assert points({"f": 5, "g": 3, "threshold": 2}, {"f": OPTIONAL}) == {"f": 0, "g": 3, "threshold": 2}


def test_markers_and_hidden_regions_are_stripped():
    assert strip_solution_markers("a\n    ### BEGIN SOLUTION\nb\n    ### END SOLUTION\nc\n") == "a\nb\nc\n"
    assert strip_hidden_tests("x\n### BEGIN HIDDEN TESTS\ny\n### END HIDDEN TESTS\n") == "x\n"


def test_apply_modes_makes_worked_code_homework_and_renumbers():
    nb = tiny()
    before = copy.deepcopy(nb)
    out = apply_modes(nb, {"f": GRADED, "g": GIVEN, "h": OPTIONAL})
    assert nb == before, "the source is not changed"
    md = [nbc.cell_source(c) for c in out["cells"] if c["cell_type"] == "markdown"]
    assert md[0] == "# Lab\n\n**Homework (optional):** `h`.\n\n**Worked code (given):** `g`."
    assert md[1].startswith("### Exercise 1: `f` (a detail)\n\nWrite f.")
    assert md[2].startswith(f"### Worked code: `g` (a detail)\n\n{GIVEN_NOTE}\n\nWrite g.")
    assert md[3].startswith(f"### Exercise 2 (homework): `h` (a detail)\n\n{OPTIONAL_NOTE}")
    by_id = {nbc.grade_id(c): c for c in out["cells"] if nbc.grade_id(c)}
    assert nbc.is_answer_cell(by_id["f"]) and nbc.nbgrader_meta(by_id["test_f"])["points"] == 5
    given, demo = by_id["g"], by_id["test_g"]
    assert not nbc.is_answer_cell(given) and nbc.nbgrader_meta(given)["locked"]
    assert nbc.cell_source(given) == "def g():\n    return 1\n"
    assert not nbc.is_test_cell(demo) and nbc.SKIP_TAG in nbc.tags(demo) and "points" not in nbc.nbgrader_meta(demo)
    assert nbc.cell_source(demo) == "# Tests of the worked code `g` above: run them to see it work (not graded).\n" \
                                    "assert g() == 1\n"
    assert nbc.is_answer_cell(by_id["h"]) and nbc.nbgrader_meta(by_id["test_h"])["points"] == 0
    assert "HIDDEN" in nbc.cell_source(by_id["test_h"]), "homework keeps its hidden region for nbgrader"


def test_the_source_notebook_has_one_heading_per_exercise_right_above_its_answer():
    """So that every given exercise's note ("the next cell") and every number are right."""
    nb = __import__("json").loads(CFG.source_notebook.read_text(encoding="utf-8"))
    cells = nb["cells"]
    for index, c in enumerate(cells):
        if nbc.is_answer_cell(c):
            heading = cells[index - 1]
            assert heading["cell_type"] == "markdown", nbc.grade_id(c)
            assert f"Exercise {CFG.exercises.index(nbc.grade_id(c)) + 1}: `{nbc.grade_id(c)}`" in \
                nbc.cell_source(heading), nbc.grade_id(c)


def test_the_introduction_describes_the_configured_split():
    """The introduction's table names the session's exercises; its two lines list homework and worked code."""
    nb = __import__("json").loads(CFG.source_notebook.read_text(encoding="utf-8"))
    intro = nbc.cell_source(nb["cells"][0])
    table = "\n".join(line for line in intro.splitlines() if line.startswith("| "))
    for name in CFG.exercises:
        assert (f"`{name}`" in table) == (CFG.mode(name) == GRADED), name
    out = apply_modes(nb, CFG.exercise_modes)
    assert nbc.cell_source(out["cells"][0]) == intro, "the source's introduction already lists the configured split"
