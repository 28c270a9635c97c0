"""Finding submissions and reading untrusted files into notebooks, or a clear refusal."""
import json

import pytest
from conftest import notebook

from course.errors import UserError
from course.grader.submission import discover
from course.student.notebook import NotebookError, read_notebook


def read(path):
    return read_notebook(path, max_bytes=1_000_000, max_cells=50)


def test_nbgrader_layout_gives_student_ids(tmp_path, write_nb):
    for student in ["bob", "alice"]:
        write_nb(notebook(), f"submitted/{student}/lab_rnn/lab_rnn.ipynb")
    (tmp_path / "submitted/alice/lab_rnn/timestamp.txt").write_text("2026-12-01 10:00:00 UTC\n")
    subs = discover([tmp_path], "lab_rnn", timezone="Europe/Madrid")
    assert [s.id for s in subs] == ["alice", "bob"]
    assert subs[0].student_id == "alice" and subs[0].lms == "nbgrader"
    assert subs[0].timestamp == "2026-12-01T11:00:00+01:00"  # nbgrader's UTC time, in the course's zone


def test_plain_files_use_the_stem_and_clashes_stay_unique(tmp_path, write_nb):
    write_nb(notebook(), "a/lab.ipynb")
    write_nb(notebook(), "b/lab.ipynb")
    write_nb(notebook(), "b/.ipynb_checkpoints/lab-checkpoint.ipynb")
    subs = discover([tmp_path], "lab_rnn")
    assert sorted(s.id for s in subs) == ["b__lab", "lab"]


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        discover([tmp_path / "nope"], "lab_rnn")


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe\x00binary", "not UTF-8"),
    (b'{"cells": [', "JSON is broken"),
    (b"[1, 2, 3]", "not a Jupyter notebook"),
    (json.dumps({"cells": [], "nbformat": 3}).encode(), "nbformat version 3"),
    (json.dumps({"cells": [{"source": "x"}], "nbformat": 4}).encode(), "malformed"),
    (json.dumps({"cells": [], "nbformat": 4, "metadata": {"kernelspec": {"language": "R"}}}).encode(), "'r'"),
    (json.dumps({"cells": [{"cell_type": "code", "source": ""}] * 51, "nbformat": 4}).encode(), "51 cells"),
])
def test_unreadable_files_are_refused_with_a_reason(tmp_path, content, message):
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotebookError, match=message):
        read(path)


def test_oversized_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.ipynb"
    path.write_bytes(b" " * 1_000_001)
    with pytest.raises(NotebookError, match="MB"):
        read(path)


def test_deeply_nested_json_is_refused(tmp_path):
    path = tmp_path / "deep.ipynb"
    path.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(NotebookError):
        read(path)


def test_a_good_notebook_reads(write_nb):
    nb = read(write_nb(notebook()))
    assert nb["nbformat"] == 4 and nb["cells"] == []
