"""Shared helpers for the repository's tests: small notebooks built in code."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# Keep Jupyter, IPython and matplotlib state out of $HOME during tests.
for _var, _sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                   ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "mpl")]:
    os.environ.setdefault(_var, str(REPO / "build" / "test-jupyter" / _sub))
    Path(os.environ[_var]).mkdir(parents=True, exist_ok=True)
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def answer_cell(grade_id: str, source: str) -> nbformat.NotebookNode:
    """An nbgrader autograded answer cell."""
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "locked": False,
                                 "grade_id": grade_id, "schema_version": 3}
    return cell


def visible_test_cell(grade_id: str, source: str, points: int = 1) -> nbformat.NotebookNode:
    """An nbgrader visible test cell."""
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"solution": False, "grade": True, "locked": True, "points": points,
                                 "grade_id": grade_id, "schema_version": 3}
    return cell


def code_cell(source: str, tags: tuple[str, ...] = (), grade_id: str | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    if grade_id:
        cell.metadata["nbgrader"] = {"solution": False, "grade": False, "locked": True,
                                     "grade_id": grade_id, "schema_version": 3}
    return cell


def notebook(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = list(cells)
    return nb


@pytest.fixture
def write_nb(tmp_path):
    """write_nb(nb, name) -> path of the notebook written under tmp_path."""

    def write(nb, name: str = "submission.ipynb") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(path))
        return path

    return write
