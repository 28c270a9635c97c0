"""The student self-check: structure and signature checks, the sandboxed run, and the notebook cell."""
from __future__ import annotations

import ast
import copy
import json
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from conftest import answer_cell, code_cell, notebook, visible_test_cell
from course import notebooks as nbc
from course import selfcheck as sc
from course.cli import main as cli_main
from course.config import load_config

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "source" / "lab_rnn" / "lab_rnn.ipynb"
RELEASE = REPO / "release" / "lab_rnn" / "lab_rnn.ipynb"

needs_source = pytest.mark.skipif(not SOURCE.is_file(), reason="source/lab_rnn/lab_rnn.ipynb is not there yet")


def load_source() -> dict:
    return json.loads(SOURCE.read_text(encoding="utf-8"))


def nbgrader_release() -> dict:
    """The student version of the source notebook, cleared by nbgrader's own preprocessors."""
    import nbformat
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

    stub = load_config().nbgrader["ClearSolutions.code_stub"]
    nb = nbformat.read(str(SOURCE), as_version=4)
    for step in (ClearSolutions(code_stub=stub), ClearHiddenTests(), ClearOutput()):
        nb, _ = step.preprocess(nb, {})
    return json.loads(nbformat.writes(nb))


def cell_by_id(nb: dict, gid: str) -> dict:
    return next(c for c in nb["cells"] if nbc.grade_id(c) == gid)


def set_answer(nb: dict, gid: str, source: str) -> dict:
    nb = copy.deepcopy(nb)
    cell_by_id(nb, gid)["source"] = source
    return nb


def write(tmp_path: Path, nb, name: str = "lab_rnn.ipynb") -> Path:
    path = tmp_path / name
    path.write_text(nb if isinstance(nb, str) else json.dumps(nb), encoding="utf-8")
    return path


def statuses(report: sc.Report) -> dict[str, str]:
    return {e.name: e.status for e in report.exercises}


# --- the core's data agree with the lab and the configuration ---------------------------


@needs_source
def test_signatures_agree_with_the_source_answer_cells():
    nb = load_source()
    answers = [c for c in nb["cells"] if nbc.is_answer_cell(c)]
    assert [nbc.grade_id(c) for c in answers] == list(sc.SIGNATURES), "answer cells differ from SIGNATURES"
    for cell in answers:
        gid = nbc.grade_id(cell)
        node = next(n for n in ast.parse(nbc.cell_source(cell)).body if getattr(n, "name", None) == gid)
        expected = sc.SIGNATURES[gid]
        if isinstance(expected, dict):
            methods = {m.name: ast.unparse(m.args) for m in node.body if isinstance(m, ast.FunctionDef)}
            assert {m: methods.get(m) for m in expected} == expected, gid
        else:
            assert ast.unparse(node.args) == expected, gid
        assert sc.check_definition(gid, nbc.cell_source(cell)) == ""
    written = [nbc.grade_id(c) for c in nb["cells"] if nbc.is_written_answer(c)]
    assert written == list(sc.WRITTEN_ANSWERS)
    tests = {nbc.grade_id(c) for c in nb["cells"] if nbc.is_test_cell(c)}
    assert tests == {sc.TEST_PREFIX + gid for gid in sc.SIGNATURES}


def test_constants_agree_with_course_config():
    cfg = load_config()
    assert sc.NOTEBOOK_NAME == cfg.notebook
    assert sc.CELL_TIMEOUT_S == cfg.limits.check_timeout_s
    assert sc.TOTAL_TIMEOUT_S == cfg.limits.submission_timeout_s
    assert sc.MEMORY_LIMIT_MB == cfg.limits.memory_limit_mb
    assert sc.MAX_NOTEBOOK_BYTES == cfg.limits.max_notebook_bytes
    assert sc.MAX_CELLS == cfg.limits.max_cells
    assert sc.SKIP_TAG == nbc.SKIP_TAG
    assert set(sc.SIGNATURES) == set(cfg.points) - {"threshold"}


def test_core_imports_only_the_standard_library():
    tree = ast.parse(Path(sc.__file__).read_text())
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert modules - {"google"} <= set(sys.stdlib_module_names), modules - set(sys.stdlib_module_names)
    assert "__future__" not in modules, "a pasted cell cannot start with a __future__ import after the marker"


# --- whole notebooks -------------------------------------------------------------------


@needs_source
def test_source_notebook_with_solutions_passes_everything(tmp_path):
    report = sc.check_notebook(write(tmp_path, load_source()))
    assert report.problems == []
    assert set(statuses(report).values()) == {sc.PASSED}
    assert report.complete and report.exit_code() == 0
    assert "READY" in report.render()


@needs_source
def test_untouched_release_is_gradable_but_not_done(tmp_path):
    # The committed release when there is one, else the same clearing done here with nbgrader's preprocessors.
    nb = json.loads(RELEASE.read_text()) if RELEASE.is_file() else nbgrader_release()
    report = sc.check_notebook(write(tmp_path, nb))
    assert report.readable and report.errors == [], report.render()
    assert set(statuses(report).values()) == {sc.NOT_DONE}, report.render()
    assert report.exit_code() == 1
    assert "0/15 visible tests pass, 15 not done yet" in report.render()


@needs_source
def test_nbgrader_clearing_leaves_every_definition_checkable():
    nb = nbgrader_release()
    report = sc.Report("release")
    answers = sc.find_answers(nb, report)
    assert report.problems == [] and set(answers) == set(sc.SIGNATURES)
    assert {gid: sc.check_definition(gid, src) for gid, src in answers.items()} == {gid: "" for gid in sc.SIGNATURES}


@needs_source
def test_failures_in_answers_are_reported_per_exercise(tmp_path):
    nb = load_source()
    nb = set_answer(nb, "encode", "def encode(text, char2idx):\n    return [char2idx[c] for c in text]\n")
    nb = set_answer(nb, "decode", "def decode(indices, idx2char):\n    return 1 / 0\n")
    nb = set_answer(nb, "build_vocab", "def build_vocab(text):\n    raise NotImplementedError()\n")
    report = sc.check_notebook(write(tmp_path, nb))
    by_name = {e.name: e for e in report.exercises}
    assert by_name["encode"].status == sc.FAILED and "got list" in by_name["encode"].message  # the visible assert
    assert by_name["decode"].status == sc.ERROR
    assert "ZeroDivisionError" in by_name["decode"].message and "line 2 of the answer cell" in by_name["decode"].message
    assert by_name["build_vocab"].status == sc.NOT_DONE
    others = {k: v for k, v in statuses(report).items() if k not in {"encode", "decode", "build_vocab"}}
    assert set(others.values()) == {sc.PASSED}
    assert report.exit_code() == 1


def mini_lab(**answers: str) -> dict:
    """A fast stand-in for the lab built in code: every exercise as a trivial stub, a visible test each.

    Keyword arguments replace an exercise's answer cell source.
    """
    cells = [code_cell("import types\nnn = types.SimpleNamespace(Module=object)\n", grade_id="setup")]
    for gid, expected in sc.SIGNATURES.items():
        if isinstance(expected, dict):
            methods = "".join(f"    def {m}({params}):\n        return None\n" for m, params in expected.items())
            source = f"class {gid}(nn.Module):\n{methods}"
        else:
            source = f"def {gid}({expected}):\n    return None\n"
        cells.append(answer_cell(gid, answers.get(gid, source)))
        cells.append(visible_test_cell(sc.TEST_PREFIX + gid, f"assert callable({gid}), '{gid} should be callable'"))
    for gid in sc.WRITTEN_ANSWERS:
        written = nbformat.v4.new_markdown_cell("YOUR ANSWER HERE")
        written.metadata["nbgrader"] = {"solution": True, "grade": True, "locked": False, "points": 1,
                                        "grade_id": gid, "schema_version": 3}
        cells.append(written)
    cells.append(code_cell("while True:\n    pass\n", tags=(sc.SKIP_TAG,)))  # a training cell: never run
    return json.loads(nbformat.writes(notebook(*cells)))


def test_mini_lab_passes(tmp_path):
    report = sc.check_notebook(write(tmp_path, mini_lab()))
    assert report.problems == [] and report.complete, report.render()


def test_endless_loop_in_an_answer_hits_the_time_limit(tmp_path):
    looping = "def decode(indices, idx2char):\n    return None\n\nwhile True:\n    pass\n"
    report = sc.check_notebook(write(tmp_path, mini_lab(decode=looping)), cell_timeout=2)
    by_name = {e.name: e for e in report.exercises}
    assert by_name["decode"].status == sc.TIMEOUT and "longer than 2 s" in by_name["decode"].message
    others = {k: v for k, v in statuses(report).items() if k != "decode"}
    assert set(others.values()) == {sc.PASSED}, "one endless loop must not stop the other exercises' checks"
    assert "time limit: a cell ran longer than 2 s" in report.render() and report.exit_code() == 1


# --- structure and signatures (by syntax; nothing is run) ---------------------------------


@needs_source
def test_deleted_answer_cell(tmp_path):
    nb = load_source()
    nb["cells"].remove(cell_by_id(nb, "encode"))
    report = sc.check_notebook(write(tmp_path, nb), run=False)
    assert any("answer cell `encode` is missing" in m for m in report.errors)
    assert any("14 answer cells" in m for m in report.errors)
    assert statuses(report)["encode"] == sc.MISSING
    assert report.readable and report.exit_code() == 1


@needs_source
def test_duplicated_and_converted_answer_cells(tmp_path):
    nb = load_source()
    nb["cells"].append(copy.deepcopy(cell_by_id(nb, "decode")))
    cell_by_id(nb, "perplexity")["cell_type"] = "markdown"
    report = sc.check_notebook(write(tmp_path, nb), run=False)
    assert any("2 cells carry the answer id `decode`" in m for m in report.errors)
    assert any("`perplexity` was turned into a markdown cell" in m for m in report.errors)


@needs_source
def test_missing_written_answer_and_visible_test(tmp_path):
    nb = load_source()
    nb["cells"].remove(cell_by_id(nb, "q_detach"))
    nb["cells"].remove(cell_by_id(nb, "test_decode"))
    report = sc.check_notebook(write(tmp_path, nb), run=False)
    assert any("written answer cell `q_detach` is missing" in m for m in report.errors)
    assert any(p.level == "warning" and "test_decode" in p.message for p in report.problems)


@needs_source
def test_renamed_function(tmp_path):
    nb = load_source()
    cell = cell_by_id(nb, "decode")
    cell["source"] = nbc.cell_source(cell).replace("def decode(", "def decode_text(")
    report = sc.check_notebook(write(tmp_path, nb), run=False)
    assert any("does not define `decode` (it defines `decode_text`)" in m for m in report.errors), report.errors
    assert next(e for e in report.exercises if e.name == "decode").defined


@pytest.mark.parametrize("gid, source, wrong", [
    ("make_batches", "def make_batches(data, seq_len, batch_size):\n    pass\n",
     "should be `make_batches(data, batch_size, seq_len)`, found `make_batches(data, seq_len, batch_size)`"),
    ("generate", "def generate(model, prefix, length, char2idx, idx2char, temperature=0.5):\n    pass\n",
     "temperature=1.0"),
    ("encode", "def encode(text):\n    pass\n", "should be `encode(text, char2idx)`"),
    ("CharLSTM", "class CharLSTM(nn.Module):\n    def __init__(self, vocab_size, embed_size=64, hidden_size=256,"
                 " num_layers=1, dropout=0.0):\n        pass\n    def forward(self, x):\n        pass\n",
     "should be `CharLSTM.forward(self, x, state=None)`"),
    ("MyRNN", "class MyRNN(nn.Module):\n    def __init__(self, input_size, hidden_size):\n        pass\n",
     "has no `forward` method"),
    ("MyRNN", "class MyRNN:\n    pass\n", "should subclass nn.Module"),
    ("to_batch_first", "to_batch_first = lambda x: x.transpose(0, 1)\n", "should be a function"),
    ("lstm_cell", "def lstm_cell(x_t, h_prev\n", "syntax error on line 1"),
])
def test_wrong_signatures_are_named(gid, source, wrong):
    assert wrong in sc.check_definition(gid, source)


@pytest.mark.parametrize("gid, source", [
    ("encode", "def encode(text: str, char2idx: dict) -> 'torch.Tensor':\n    pass\n"),  # annotations
    ("generate", "def generate(model, prefix, length, char2idx, idx2char, temperature=1):\n    pass\n"),  # 1 == 1.0
    ("decode", "def decode(indices, idx2char, sep=''):\n    pass\n"),  # an extra optional parameter
    ("decode", "%time\ndef helper():\n    pass\n\ndef decode(indices, idx2char):\n    pass\n"),  # a magic line
    ("MyRNN", "import torch.nn\nclass MyRNN(torch.nn.Module):\n    def __init__(self, input_size, hidden_size):\n"
              "        pass\n    def forward(self, x, h0=None):\n        pass\n"),
])
def test_compatible_definitions_are_accepted(gid, source):
    assert sc.check_definition(gid, source) == ""


# --- unreadable files ----------------------------------------------------------------------


@pytest.mark.parametrize("content, message", [
    ('{"cells": [', "not valid JSON at line 1"),
    ("[1, 2]", "not a Jupyter notebook"),
    ('{"cells": [], "nbformat": 3}', "nbformat version 3"),
    (b"\xff\xfe\x00", "not UTF-8"),
])
def test_unreadable_files_are_not_gradable(tmp_path, content, message):
    path = tmp_path / "lab_rnn.ipynb"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    report = sc.check_notebook(path)
    assert not report.readable and report.exit_code() == 2 and not report.ran
    assert any(message in m for m in report.errors), report.errors
    assert "NOT GRADABLE" in report.render()


def test_cli_check_exit_codes(tmp_path, capsys):
    broken = write(tmp_path, '{"cells": [')
    assert cli_main(["check", str(broken)]) == 2
    out = capsys.readouterr()
    assert "not valid JSON" in out.out and "Traceback" not in out.out + out.err
    assert cli_main(["check", str(tmp_path / "nowhere.ipynb")]) == 2
    assert "is not a file" in capsys.readouterr().err


# --- the runner ----------------------------------------------------------------------------


def cell(index: int, source: str, kind: str = "other", exercise: str | None = None) -> sc.Cell:
    return sc.Cell(index, kind, exercise, sc._python_only(source))


def test_runner_records_each_cell_and_keeps_going_after_a_per_cell_timeout():
    records, info = sc.run_cells([cell(1, "x = 1"), cell(2, "while True:\n    x += 1"), cell(3, "assert x > 1, 'x'"),
                                  cell(4, "raise KeyError('k')")], cell_timeout=1, total_timeout=60)
    assert [records[i]["status"] for i in (1, 2, 3, 4)] == ["ok", "timeout", "ok", "error"]
    assert records[4]["type"] == "KeyError" and records[4]["origin"] == [4, 1]
    assert not info["killed"]


def test_runner_total_limit_kills_the_process():
    records, info = sc.run_cells([cell(1, "x = 1"), cell(2, "import time\nwhile True:\n    time.sleep(0.01)"),
                                  cell(3, "y = 2")], cell_timeout=600, total_timeout=2)
    assert info["killed"]
    assert records[1]["status"] == "ok" and records[2] == {"status": "timeout", "total": True} and 3 not in records


@pytest.mark.skipif(sys.platform != "linux", reason="the address-space limit is enforced through resource on Linux")
def test_runner_memory_limit():
    records, _ = sc.run_cells([cell(1, "big = bytearray(2 << 30)"), cell(2, "ok = 1")],
                              cell_timeout=30, total_timeout=60, memory_mb=512)
    assert records[1]["status"] == "memory" and records[2]["status"] == "ok"


def test_runner_skips_notebook_magics_and_plots_headless():
    source = "%matplotlib inline\n!pip list\nimport matplotlib.pyplot as plt\nplt.plot([1, 2]); plt.show()"
    records, _ = sc.run_cells([cell(1, source)], cell_timeout=60, total_timeout=120)
    assert records[1]["status"] == "ok", records[1]


@needs_source
def test_cells_to_run_skip_grader_skip_cells_and_the_selfcheck_itself():
    nb = load_source()
    tagged = {"cell_type": "code", "metadata": {"tags": [sc.SKIP_TAG]}, "outputs": [], "execution_count": None,
              "source": sc.selfcheck_cell_source()}
    untagged = dict(tagged, metadata={})
    nb["cells"] += [tagged, untagged]
    cells = sc.cells_to_run(nb)
    numbers = {c.index for c in cells}
    skipped = {i for i, c in enumerate(nb["cells"], start=1) if c["cell_type"] == "code" and nbc.is_skipped_when_grading(c)}
    assert skipped and not numbers & skipped
    assert len(nb["cells"]) not in numbers and len(nb["cells"]) - 1 not in numbers
    kinds = {c.index: (c.kind, c.exercise) for c in cells}
    assert ("setup", None) in kinds.values()
    assert {e for k, e in kinds.values() if k == "test"} == set(sc.SIGNATURES)


# --- the notebook cell ----------------------------------------------------------------------


def test_cell_source_runs_in_a_fresh_namespace(tmp_path, monkeypatch, capsys):
    (tmp_path / "nb").mkdir()
    path = write(tmp_path / "nb", mini_lab())
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    monkeypatch.chdir(tmp_path)  # no notebook here: the hint must be used
    source = sc.selfcheck_cell_source()
    assert source.startswith(sc.SELFCHECK_MARKER)
    namespace: dict = {}
    exec(compile(source, "<selfcheck cell>", "exec"), namespace)
    out = capsys.readouterr().out
    assert f"Checking the saved file {path}" in out and "READY" in out
    assert namespace["selfcheck_report"].complete


def test_cell_finds_the_single_notebook_in_the_working_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "not json", name="mine.ipynb")
    namespace: dict = {}
    exec(sc.selfcheck_cell_source(), namespace)
    assert "Self-check of " + str(tmp_path / "mine.ipynb") in capsys.readouterr().out
    assert namespace["selfcheck_report"].exit_code() == 2


def test_cell_asks_for_the_path_when_it_cannot_find_the_notebook(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(sc.selfcheck_cell_source(), namespace)
    assert "selfcheck_here(path=" in capsys.readouterr().out and namespace["selfcheck_report"] is None


def test_on_colab_the_live_notebook_is_checked(monkeypatch, tmp_path):
    import types

    nb = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    calls = []

    def blocking_request(kind, timeout_sec):
        calls.append((kind, timeout_sec))
        return {"ipynb": nb}

    message = types.ModuleType("google.colab._message")
    message.blocking_request = blocking_request
    colab = types.ModuleType("google.colab")
    colab._message = message
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab._message", message)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path, live = sc.find_notebook({})
    assert calls == [("get_ipynb", 30)] and live
    assert path.name == sc.NOTEBOOK_NAME and path.is_relative_to(tmp_path) and json.loads(path.read_text()) == nb


@needs_source
def test_a_broken_setup_cell_is_an_error_and_a_crash_is_reported(tmp_path):
    nb = load_source()
    setup = cell_by_id(nb, "setup")
    setup["source"] = "import not_a_module_of_this_lab\n" + nbc.cell_source(setup)
    nb = set_answer(nb, "to_batch_first", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    report = sc.check_notebook(write(tmp_path, nb))
    assert any("The setup cell (cell 2) failed: ModuleNotFoundError" in m for m in report.errors), report.errors
    by_name = {e.name: e for e in report.exercises}
    assert by_name["MyRNN"].status == sc.ERROR and "NameError" in by_name["MyRNN"].message
    assert by_name["to_batch_first"].status == sc.ERROR and "process died" in by_name["to_batch_first"].message
    assert {by_name[n].status for n in list(sc.SIGNATURES)[3:]} == {sc.NOT_RUN}


def test_cell_works_in_a_jupyter_kernel(tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.reads(json.dumps(mini_lab()), as_version=4)
    nb.cells = [c for c in nb.cells if not nbc.is_skipped_when_grading(c)]  # no endless training cell here
    nb.cells.append(code_cell(sc.selfcheck_cell_source(), tags=(sc.SKIP_TAG,)))
    nbformat.write(nb, str(tmp_path / sc.NOTEBOOK_NAME))
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert f"Self-check of {tmp_path / sc.NOTEBOOK_NAME}" in printed and "READY" in printed, printed
