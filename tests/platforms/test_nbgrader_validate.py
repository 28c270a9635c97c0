"""nbgrader's own Validator and `nbgrader validate` under the repository's nbgrader_config.py."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.preprocessors import Execute
from nbgrader.validator import Validator
from traitlets.config.loader import PyFileConfigLoader

from course.authoring.execute import inject_parameters
from course.config import load_config
from course.student import notebook as nbc

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("nbgrader_validate")]

REPO = Path(__file__).resolve().parents[2]
CFG = load_config()
# The notebook's own training, shortened for test time; the configured timeout is proven apart.
SHORT_RUN = {"STEPS": 5, "EVAL_EVERY": 5, "USE_GPU_CONFIG": False}
SLEEP_S = 35  # past nbgrader's default per-cell timeout (30 s); sleeping costs no CPU


def repository_config():
    """The configuration nbgrader reads in the repository (its nbgrader_config.py), as nbgrader loads it."""
    return PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()


def validate(path: Path) -> dict:
    return Validator(config=repository_config()).validate(str(path))


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the kernels nbgrader starts inherit it


def test_the_configured_cell_timeout_is_what_nbgrader_applies(tmp_path):
    assert Execute.timeout.default_value == 30  # nbgrader's own default, which the training cell exceeds
    assert repository_config().Execute.timeout == CFG.nbgrader["Execute.timeout"] > SLEEP_S
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(f"import time\ntime.sleep({SLEEP_S})\nprint('slept')")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 1,
                                 "grade_id": "test_sleep", "schema_version": 3}
    nb.cells = [cell]
    path = tmp_path / "sleepy.ipynb"
    nbformat.write(nb, str(path))
    assert validate(path) == {}  # a timed-out grade cell would be listed as failed


def test_validator_passes_the_source_notebook(tmp_path):
    nb = inject_parameters(nbformat.read(str(CFG.source_notebook), as_version=4), SHORT_RUN)
    path = tmp_path / CFG.notebook
    nbformat.write(nb, str(path))
    assert validate(path) == {}


def finished_student_notebook() -> nbformat.NotebookNode:
    """The released notebook with every answer cell (code and written) holding the solution, as a student who
    finished hands it in."""
    solutions = {nbc.grade_id(c): nbc.cell_source(c) for c in nbformat.read(str(CFG.source_notebook), 4).cells}
    nb = nbformat.read(str(CFG.release_notebook), as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = re.sub(r"[ \t]*### (BEGIN|END) SOLUTION\n?", "", solutions[meta["grade_id"]])
    return inject_parameters(nb, SHORT_RUN)


def test_nbgrader_validate_passes_a_finished_student_notebook(tmp_path):
    path = tmp_path / "student" / CFG.notebook
    path.parent.mkdir()
    nbformat.write(finished_student_notebook(), str(path))
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    done = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "validate", str(path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "Success! Your notebook passes all the tests." in output, output[-3000:]
    assert json.loads(path.read_text(encoding="utf-8"))["cells"]  # validation leaves the student's file as it was
