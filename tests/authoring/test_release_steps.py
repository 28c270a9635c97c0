"""Unit tests of each release step, on small notebooks built in code."""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

import nbformat
import pytest
from conftest import answer_cell, code_cell, notebook, visible_test_cell

from course.authoring.release import (
    ReleaseError,
    ReleaseJob,
    check_answer_stubs,
    check_cells_kept,
    check_committed,
    check_markers,
    check_no_hidden_tests,
    check_no_solution,
    check_outputs,
    check_schema,
    generate,
    normalise,
    read_source,
    stage,
    verify,
    verify_release,
)
from course.config import load_config

REPO = Path(__file__).resolve().parents[2]
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"

SOLUTION = """def double(x):
    \"\"\"Twice x.\"\"\"
    ### BEGIN SOLUTION
    result = 2 * x
    return result
    ### END SOLUTION
"""
STUBBED = """def double(x):
    \"\"\"Twice x.\"\"\"
    # YOUR CODE HERE
    raise NotImplementedError()
"""
TEST = """assert double(2) == 4, "double(2) should be 4"
### BEGIN HIDDEN TESTS
assert double(-3) == -6
### END HIDDEN TESTS
"""
VISIBLE_TEST = 'assert double(2) == 4, "double(2) should be 4"\n'


def written_cell(source: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata["nbgrader"] = {"solution": True, "grade": True, "locked": False, "points": 2,
                                 "grade_id": "q_why", "schema_version": 3}
    return cell


def tiny_source() -> nbformat.NotebookNode:
    return notebook(
        code_cell("import math", grade_id="setup"),
        answer_cell("double", SOLUTION),
        visible_test_cell("test_double", TEST),
        written_cell("Because the model answer says so."),
    )


def tiny_release() -> nbformat.NotebookNode:
    """What a correct release of tiny_source() looks like."""
    nb = tiny_source()
    nb.cells[1].source, nb.cells[2].source, nb.cells[3].source = STUBBED, VISIBLE_TEST, TEXT_STUB
    return nb


@pytest.fixture
def course_copy(tmp_path):
    """make(nb) -> a CourseConfig for a throw-away course whose source notebook is nb."""
    root = tmp_path / "course"
    shutil.copytree(REPO / "course", root / "course", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "corpus", root / "corpus")
    for name in ("course_config.py", "nbgrader_config.py", "requirements.lock"):
        shutil.copy(REPO / name, root / name)

    def make(nb=None):
        cfg = load_config(root / "course_config.py")
        if nb is not None:
            cfg.source_notebook.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, str(cfg.source_notebook))
        return cfg

    return make


# --- read_source, stage ---------------------------------------------------------


def test_read_source_reports_a_missing_notebook(course_copy, tmp_path):
    job = ReleaseJob(cfg=course_copy(), workdir=tmp_path)
    with pytest.raises(ReleaseError, match="No source notebook"):
        read_source(job)


def test_read_source_rejects_a_broken_notebook(course_copy, tmp_path):
    cfg = course_copy(tiny_source())
    cfg.source_notebook.write_text('{"cells": [', encoding="utf-8")
    with pytest.raises(ReleaseError, match="is not a valid notebook"):
        read_source(ReleaseJob(cfg=cfg, workdir=tmp_path))


def test_stage_copies_the_assignment_without_hidden_files(course_copy, tmp_path):
    cfg = course_copy(tiny_source())
    (cfg.source_notebook.parent / "data.txt").write_text("abc", encoding="utf-8")
    (cfg.source_notebook.parent / ".ipynb_checkpoints").mkdir()
    work = tmp_path / "work"
    stage(ReleaseJob(cfg=cfg, workdir=work))
    staged = work / "source" / cfg.assignment
    assert sorted(p.name for p in staged.iterdir()) == sorted(["data.txt", cfg.notebook])
    assert (staged / cfg.notebook).read_bytes() == cfg.source_notebook.read_bytes()


# --- generate (runs nbgrader) -----------------------------------------------------


@pytest.mark.slow
def test_generate_clears_solutions_and_hidden_tests(course_copy, tmp_path):
    cfg = course_copy(tiny_source())
    job = ReleaseJob(cfg=cfg, workdir=tmp_path / "work")
    for step in (read_source, stage, generate):
        step(job)
    cells = job.release.cells
    assert cells[1].source.rstrip() == STUBBED.rstrip()
    assert cells[2].source.rstrip() == VISIBLE_TEST.rstrip()
    assert cells[3].source == TEXT_STUB
    assert not (cfg.root / "release").exists() and not (cfg.root / "gradebook.db").exists(), \
        "nbgrader must work in the temporary course folder only"


@pytest.mark.slow
def test_generate_reports_nbgrader_errors(course_copy, tmp_path):
    bad = tiny_source()
    bad.cells.append(code_cell("x = 1\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION"))  # not a solution cell
    job = ReleaseJob(cfg=course_copy(bad), workdir=tmp_path / "work")
    read_source(job)
    stage(job)
    with pytest.raises(ReleaseError, match="(?s)generate_assignment failed.*non-solution cell"):
        generate(job)


# --- normalise --------------------------------------------------------------------


def messy_release() -> nbformat.NotebookNode:
    nb = tiny_release()
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.9"}
    nb.metadata["widgets"] = {"state": {}}
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="hello\n")]
    nb.cells[0].execution_count = 7
    nb.cells[1].metadata.update({"collapsed": True, "execution": {"iopub.status.busy": "2026-01-01"}})
    nb.cells[2].id = nb.cells[1].id  # a duplicated id
    del nb.cells[3]["id"]  # a missing id
    return nb


def test_normalise_clears_outputs_and_volatile_metadata(course_copy, tmp_path):
    job = ReleaseJob(cfg=course_copy(), workdir=tmp_path, release=messy_release())
    normalise(job)
    nb = nbformat.reads(job.text, as_version=4)
    assert nb.metadata == {"kernelspec": tiny_source().metadata.kernelspec, "language_info": {"name": "python"}}
    assert nb.cells[0].outputs == [] and nb.cells[0].execution_count is None
    assert set(nb.cells[1].metadata) == {"nbgrader"}
    assert [c.id for c in nb.cells][2:] == ["cell-2", "cell-3"]
    assert job.text.endswith("}\n")


def test_normalise_is_deterministic_and_idempotent(course_copy, tmp_path):
    cfg = course_copy()
    messy = messy_release()
    first = ReleaseJob(cfg=cfg, workdir=tmp_path, release=copy.deepcopy(messy))
    second = ReleaseJob(cfg=cfg, workdir=tmp_path, release=copy.deepcopy(messy))
    normalise(first)
    normalise(second)
    again = ReleaseJob(cfg=cfg, workdir=tmp_path, release=nbformat.reads(first.text, as_version=4))
    normalise(again)
    assert first.text == second.text == again.text


# --- verify -----------------------------------------------------------------------


def test_a_correct_release_passes_every_check():
    assert verify_release(tiny_source(), tiny_release(), CODE_STUB, TEXT_STUB) == []


@pytest.mark.parametrize("line", ["    ### BEGIN SOLUTION", "### END HIDDEN TESTS", "## BEGIN", "# END SOLUTION"])
def test_check_markers_finds_a_leftover_marker(line):
    release = tiny_release()
    release.cells[2].source = VISIBLE_TEST.rstrip() + "\n" + line
    problems = check_markers(tiny_source(), release, CODE_STUB, TEXT_STUB)
    assert len(problems) == 1 and "marker left" in problems[0] and "line 2" in problems[0]


def test_check_markers_ignores_ordinary_words():
    release = tiny_release()
    release.cells[2].source += "\n# The BEGINNING and the END of a sequence"
    assert check_markers(tiny_source(), release, CODE_STUB, TEXT_STUB) == []


def test_check_outputs_finds_outputs_and_counts():
    release = tiny_release()
    release.cells[2].outputs = [nbformat.v4.new_output("stream", text="4\n")]
    release.cells[1].execution_count = 3
    assert len(check_outputs(tiny_source(), release, CODE_STUB, TEXT_STUB)) == 2


def test_check_cells_kept_finds_a_lost_test_cell():
    release = tiny_release()
    del release.cells[2]
    problems = check_cells_kept(tiny_source(), release, CODE_STUB, TEXT_STUB)
    assert problems and "test_double" in problems[0]


def test_check_answer_stubs_needs_not_implemented_error():
    release = tiny_release()
    release.cells[1].source = "def double(x):\n    pass\n"
    problems = check_answer_stubs(tiny_source(), release, CODE_STUB, TEXT_STUB)
    assert problems == ["answer cell 'double' should raise NotImplementedError in place of each solution"]


def test_check_no_solution_finds_surviving_solution_code():
    release = tiny_release()
    release.cells[1].source = STUBBED + "    return result\n"
    problems = check_no_solution(tiny_source(), release, CODE_STUB, TEXT_STUB)
    assert problems == ["solution code survives in 'double': 'return result'"]


def test_check_no_solution_finds_a_surviving_written_answer():
    release = tiny_release()
    release.cells[3].source = "Because the model answer says so."
    problems = check_no_solution(tiny_source(), release, CODE_STUB, TEXT_STUB)
    assert len(problems) == 1 and "'q_why'" in problems[0]


def test_check_no_hidden_tests_finds_surviving_hidden_code():
    release = tiny_release()
    release.cells[2].source = VISIBLE_TEST + "assert double(-3) == -6\n"
    problems = check_no_hidden_tests(tiny_source(), release, CODE_STUB, TEXT_STUB)
    assert problems == ["hidden test code survives in 'test_double': 'assert double(-3) == -6'"]


def test_check_schema_finds_an_invalid_notebook():
    release = tiny_release()
    del release.cells[1]["outputs"]
    problems = check_schema(tiny_source(), release, CODE_STUB, TEXT_STUB)
    assert len(problems) == 1 and "nbformat schema" in problems[0]


def test_verify_refuses_with_every_reason(course_copy, tmp_path):
    release = tiny_release()
    release.cells[1].source = SOLUTION  # nothing was cleared
    job = ReleaseJob(cfg=course_copy(), workdir=tmp_path, source=tiny_source(), text=nbformat.writes(release))
    with pytest.raises(ReleaseError) as info:
        verify(job)
    message = str(info.value)
    assert message.startswith("refusing to write the release")
    assert "marker left" in message and "NotImplementedError" in message and "solution code survives" in message


# --- check_committed ------------------------------------------------------------------


def test_check_committed_reports_a_missing_release(course_copy):
    cfg = course_copy(tiny_source())
    assert check_committed(cfg, "{}") == [f"release/{cfg.assignment}/{cfg.notebook} does not exist"]


def test_check_committed_names_the_changed_cells(course_copy):
    cfg = course_copy(tiny_source())
    fresh = tiny_release()
    stale = copy.deepcopy(fresh)
    stale.cells[2].source = 'assert double(2) == 5, "an older test"'
    cfg.release_notebook.parent.mkdir(parents=True)
    cfg.release_notebook.write_text(nbformat.writes(stale), encoding="utf-8")
    problems = check_committed(cfg, nbformat.writes(fresh))
    assert problems[0].endswith("differs from what `course release` generates")
    assert f"changed cells: {fresh.cells[2].id}" in problems
    assert any(line.startswith("+") and "double(2) == 4" in line for line in problems)
    assert check_committed(cfg, nbformat.writes(stale)) == []
