"""The assembler takes only answer cells from the student; everything else from the template."""
from conftest import answer_cell, code_cell, notebook, visible_test_cell

from course.grader.assemble import answer_ids, assemble


def template():
    return notebook(
        code_cell("import math", grade_id="setup"),
        answer_cell("square", "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION"),
        visible_test_cell("test_square", "assert square(3) == 9", points=2),
        code_cell("train_for_hours()", tags=("grader-skip",)),
        answer_cell("cube", "def cube(x):\n    return x ** 3"),
        code_cell("HELPER = 1"),
    )


def student(**answers):
    cells = [code_cell("import os; print('student setup')", grade_id="setup")]
    for gid, src in answers.items():
        cells.append(answer_cell(gid, src))
        cells.append(visible_test_cell(f"test_{gid}", "pass  # the student emptied the test", points=99))
    return notebook(*cells)


def test_answers_come_from_student_and_the_rest_from_template():
    out = assemble(template(), student(square="def square(x): return x*x", cube="def cube(x): return x*x*x"))
    ids = [cid for cid, _ in out.cells]
    assert ids == ["setup", "square", "cube", "cell-5"]
    sources = dict(out.cells)
    assert sources["setup"] == "import math"  # the student's edited setup cell is ignored
    assert sources["square"] == "def square(x): return x*x"
    assert out.missing == [] and out.notes == []


def test_test_cells_and_skipped_cells_are_not_run():
    out = assemble(template(), student(square="", cube=""))
    joined = "\n".join(src for _, src in out.cells)
    assert "train_for_hours" not in joined
    assert "assert square" not in joined and "the student emptied" not in joined


def test_missing_answer_costs_only_that_exercise_with_a_message():
    out = assemble(template(), student(square="def square(x): return x*x"))
    assert out.missing == ["cube"]
    assert "raise NotImplementedError" in dict(out.cells)["cube"]
    assert any("`cube`" in note and "scores 0" in note for note in out.notes)
    assert out.answers["cube"] == ""


def test_duplicated_ids_take_the_first_and_say_so():
    nb = student(square="def square(x): return 1", cube="def cube(x): return 1")
    nb.cells.append(answer_cell("square", "def square(x): return x*x"))
    out = assemble(template(), nb)
    assert dict(out.cells)["square"] == "def square(x): return 1"
    assert any("Several cells" in note for note in out.notes)


def test_answer_turned_into_markdown_is_not_run():
    nb = student(cube="def cube(x): return x**3")
    md = answer_cell("square", "def square(x): return x*x")
    md["cell_type"] = "markdown"
    nb.cells.append(md)
    out = assemble(template(), nb)
    assert out.missing == ["square"]
    assert any("markdown" in note for note in out.notes)


def test_extra_cells_and_changed_metadata_change_nothing():
    nb = student(square="def square(x): return x*x", cube="def cube(x): return x**3")
    nb.cells.insert(0, code_cell("import sys; sys.exit(1)"))
    nb.cells[2].metadata["nbgrader"]["points"] = 1000
    out = assemble(template(), nb)
    assert "sys.exit" not in "\n".join(src for _, src in out.cells)


def test_oversized_answer_is_refused():
    out = assemble(template(), student(square="x = 1\n" * 50_000, cube="def cube(x): return x**3"))
    assert out.missing == ["square"]
    assert any("characters" in note for note in out.notes)


def test_answer_ids_in_order():
    assert answer_ids(template()) == ["square", "cube"]
