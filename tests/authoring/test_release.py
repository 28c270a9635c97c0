"""The student release: up to date, deterministic, guarded by --check, and runnable with stubs."""
from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from course.authoring import release as release_module
from course.authoring.execute import execute_notebook
from course.authoring.release import build_release, main_release
from course.config import load_config
from course.grader.lab import lab_module
from course.modes import GIVEN
from course.student.notebook import SKIP_TAG, cell_source, grade_id, is_answer_cell, is_test_cell, tags

REPO = Path(__file__).resolve().parents[2]
CFG = load_config()
EXERCISES = set(CFG.exercises)
ASKED = {name for name in CFG.exercises if CFG.mode(name) != GIVEN}  # a stub in the release

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fresh() -> str:
    return build_release(CFG)


@pytest.fixture
def repo_copy(tmp_path):
    """A copy of the parts of the repository the release needs; returns its CourseConfig."""
    root = tmp_path / "repo"
    for name in ("course", "source", "corpus", "autograder"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    # the release keeps its .github/ (the Classroom files are part of what --check compares)
    shutil.copytree(REPO / "release", root / "release", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("course_config.py", "nbgrader_config.py", "pyproject.toml", "requirements.lock"):
        shutil.copy(REPO / name, root / name)
    return load_config(root / "course_config.py")


def edit_cell(path: Path, cell_id: str, edit) -> None:
    nb = nbformat.read(str(path), as_version=4)
    cell = next(c for c in nb.cells if c.get("id") == cell_id)
    cell.source = edit(cell.source)
    nbformat.write(nb, str(path))


# --- Generation and --check -----------------------------------------------------


def test_committed_release_is_up_to_date(fresh):
    assert CFG.release_notebook.read_text(encoding="utf-8") == fresh, "run `course release` and commit the result"


def test_release_generation_is_deterministic(fresh):
    assert build_release(CFG) == fresh


def test_check_passes_on_an_up_to_date_release(repo_copy, capsys):
    assert main_release(check=True, config=repo_copy) == 0
    assert "is up to date" in capsys.readouterr().out


def test_check_catches_a_stale_release(repo_copy, capsys):
    before = repo_copy.release_notebook.read_bytes()
    edit_cell(repo_copy.source_notebook, "md-end", lambda s: s + "\n\nGood luck!")
    assert main_release(check=True, config=repo_copy) == 1
    err = capsys.readouterr().err
    assert "differs from what `course release` generates" in err and "changed cells: md-end" in err
    assert any(line.startswith("+") and "Good luck!" in line for line in err.splitlines()), "the diff is shown"
    assert repo_copy.release_notebook.read_bytes() == before, "--check must not write"


def test_check_catches_a_stale_student_readme_corpus_copy_or_badge(repo_copy, capsys):
    folder = repo_copy.release_notebook.parent
    (folder / "README.md").write_text("# an old README\n", encoding="utf-8")
    (folder / repo_copy.corpus_path.name).unlink()
    assert main_release(check=True, config=repo_copy) == 1
    err = capsys.readouterr().err
    assert f"release/{repo_copy.assignment}/README.md is missing or stale (student README" in err
    assert f"release/{repo_copy.assignment}/{repo_copy.corpus_path.name} is missing or stale" in err
    # Another student repository in the configuration: the badge and the download address change.
    config = repo_copy.path.read_text(encoding="utf-8").replace(f'"{repo_copy.student_repo}"', '"another/lab"')
    repo_copy.path.write_text(config, encoding="utf-8")
    moved = load_config(repo_copy.path)
    assert main_release(config=moved) == 0
    release = moved.release_notebook.read_text(encoding="utf-8")
    assert "colab.research.google.com/github/another/lab/blob/main/lab_rnn.ipynb" in release
    assert "raw.githubusercontent.com/another/lab/main/pydoc_topics.txt" in release
    assert repo_copy.student_repo not in release
    assert "github.com/another/lab.git" in (folder / "README.md").read_text(encoding="utf-8")
    assert (folder / moved.corpus_path.name).read_bytes() == moved.corpus_path.read_bytes()


def test_check_catches_a_leaked_marker(repo_copy, capsys):
    edit_cell(repo_copy.release_notebook, "encode", lambda s: s + "\n    ### BEGIN SOLUTION")
    assert main_release(check=True, config=repo_copy) == 1
    err = capsys.readouterr().err
    assert "marker left: '### BEGIN SOLUTION'" in err and "changed cells: encode" in err


def test_release_refuses_to_write_a_bad_release(repo_copy, capsys):
    before = repo_copy.release_notebook.read_bytes()
    # A misspelt hidden-test marker: nbgrader keeps the region, so the hidden tests would leak.
    edit_cell(repo_copy.source_notebook, "test_encode", lambda s: s.replace("BEGIN HIDDEN TESTS", "BEGIN HIDDEN TEST "))
    assert main_release(config=repo_copy) == 1
    err = capsys.readouterr().err
    assert "refusing to write the release" in err and "marker left: '### BEGIN HIDDEN TEST'" in err
    assert repo_copy.release_notebook.read_bytes() == before


def test_release_writes_a_missing_release(repo_copy, capsys):
    repo_copy.release_notebook.unlink()
    assert main_release(config=repo_copy) == 0
    assert "updated" in capsys.readouterr().out
    assert repo_copy.release_notebook.read_bytes() == CFG.release_notebook.read_bytes()


def test_release_writes_nothing_when_another_file_of_it_cannot_be_built(repo_copy, monkeypatch, capsys):
    folder = repo_copy.release_notebook.parent
    before = {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}
    nb = nbformat.read(str(repo_copy.release_notebook), as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("A new last cell.", id="md-new"))
    monkeypatch.setattr(release_module, "build_release", lambda cfg: nbformat.writes(nb) + "\n")
    (repo_copy.root / "requirements.lock").write_text("torch>=2\n", encoding="utf-8")  # constraints.txt needs it
    assert main_release(config=repo_copy) == 1
    err = capsys.readouterr().err
    assert "course release: requirements.lock, line 1: 'torch>=2' is not an exact pin" in err
    assert {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()} == before


# --- The release runs ---------------------------------------------------------------


def test_the_threshold_section_states_the_calibration(fresh):
    nb = nbformat.reads(fresh, as_version=4)
    ids = [c.get("id") for c in nb.cells]
    assert ids.index("threshold-info") + 1 == ids.index("threshold-estimate") == ids.index("md-end") - 1
    record = json.loads(CFG.calibration_path.read_text())
    info = cell_source(nb.cells[ids.index("threshold-info")])
    recipe = record["recipe"]
    assert f"Adam with learning rate {recipe['lr']:g}, windows of {recipe['batch']} streams" in info
    assert f"until **{recipe['steps']} windows**" in info and f"at most **{record['threshold']:.3f}**" in info
    assert f"{record['trigram_perplexity']:.2f}" in info and "one-hot inputs" in info
    estimate = nb.cells[ids.index("threshold-estimate")]
    assert tags(estimate) == [SKIP_TAG] and estimate.cell_type == "code"
    assert lab_module(CFG, "threshold").grader_code() in cell_source(estimate)  # the grader's code, verbatim
    assert f"RECIPE = {json.dumps(recipe)}" in cell_source(estimate)


def test_the_threshold_section_is_lint_clean(fresh, tmp_path):
    """The estimate cell passes the repository's ruff configuration, in the notebook (names of earlier cells known)."""
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    path = tmp_path / "release.ipynb"
    path.write_text(fresh, encoding="utf-8")
    nb = nbformat.reads(fresh, as_version=4)
    cell = 1 + next(i for i, c in enumerate(nb.cells) if c.get("id") == "threshold-estimate")  # ruff counts from 1
    done = subprocess.run([ruff, "check", "--config", str(REPO / "pyproject.toml"), "--no-cache", "--output-format",
                           "json", str(path)], capture_output=True, text=True)
    found = [(d["code"], d["message"]) for d in json.loads(done.stdout or "[]") if d.get("cell") == cell]
    assert found == []


def global_reads(source: str) -> set[str]:
    """Names a cell reads, less the arguments and locals of the functions and classes it defines."""
    tree = ast.parse(source)
    local = set()
    for scope in ast.walk(tree):
        if isinstance(scope, (ast.FunctionDef, ast.ClassDef, ast.Lambda)):
            for node in ast.walk(scope):
                if isinstance(node, ast.arg) or (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)):
                    local.add(node.arg if isinstance(node, ast.arg) else node.id)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - local


def top_level_names(source: str) -> set[str]:
    """Names a cell leaves behind (top-level assignments, defs, imports)."""
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        else:
            names |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return names


def exercise_dependent(cells) -> list[bool]:
    """For each code cell: does it read an exercise, or a name set by a cell that does?"""
    tainted, flags = set(EXERCISES), []
    for cell in cells:
        src = cell_source(cell)
        dependent = not is_answer_cell(cell) and bool(global_reads(src) & tainted)
        if dependent:
            tainted |= top_level_names(src) - EXERCISES
        flags.append(dependent)
    return flags


def first_error(cell):
    return next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)


def test_release_notebook_runs_with_every_exercise_unimplemented():
    nb = nbformat.read(str(CFG.release_notebook), as_version=4)
    # In the release folder, as in the student repository: the corpus file lies beside the notebook.
    out = execute_notebook(nb, {"STEPS": 5, "USE_GPU_CONFIG": False}, threads=1, allow_errors=True, timeout=300,
                           cwd=CFG.release_notebook.parent)
    cells = [c for c in out.cells if c.cell_type == "code"]
    tests_seen, independent_run = set(), []
    for cell, dependent in zip(cells, exercise_dependent(cells)):
        error, name = first_error(cell), grade_id(cell) or cell.get("id")
        if is_test_cell(cell):
            assert dependent, f"{name} does not call its exercise"
            assert error is not None and error.ename == "NotImplementedError", \
                f"{name} should fail with NotImplementedError, got {error and (error.ename, error.evalue)}"
            tests_seen.add(name)
        elif not dependent:
            assert error is None, f"{name} does not use an exercise but failed: {error.ename}: {error.evalue}"
            independent_run.append(name)
        elif error is not None:
            assert error.ename in ("NotImplementedError", "NameError"), f"{name}: {error.ename}: {error.evalue}"
    assert tests_seen == {f"test_{name}" for name in ASKED}
    # The corpus, the parameters, the demonstrations that need no exercise and the worked code do run,
    # and the worked code's own tests pass.
    given = EXERCISES - ASKED
    assert {"setup", "load-corpus", "parameters", "demo-rnn-shapes", "stand-in-models"} | given <= set(independent_run)
    for cell in cells:
        if grade_id(cell) in {f"test_{name}" for name in given}:
            assert first_error(cell) is None and "visible tests passed" in "".join(
                o.get("text", "") for o in cell.get("outputs", [])), grade_id(cell)
    assert all(SKIP_TAG in tags(c) for c in cells if c.get("id") in ("load-corpus", "train", "samples"))
