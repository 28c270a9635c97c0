"""The instructor notebook: its cell conventions, and a full run whose model beats a bigram baseline."""
from __future__ import annotations

import ast
import builtins
import json
import math
import re

import nbformat
import pytest
import torch

from autograder.lab_rnn.variants import ALTERNATIVES, BY_NAME, HIDDEN, MUTANTS, VISIBLE, variant_sources
from course.authoring.execute import INJECTED_TAG, ParameterError, execute_notebook, inject_parameters
from course.config import load_config
from course.corpus import load_corpus
from course.student.notebook import (
    PARAMETERS_TAG,
    SETUP_ID,
    SKIP_TAG,
    cell_source,
    grade_id,
    is_answer_cell,
    is_test_cell,
    is_written_answer,
    nbgrader_meta,
    tags,
)

CFG = load_config()
EXERCISES = [name for name in CFG.points if name != "threshold"]
# A run short enough for CI (about 20 s on one thread) that still trains a useful model.
TRAINED_RUN = dict(STEPS=300, EVAL_EVERY=100, EMBED_SIZE=64, HIDDEN_SIZE=128, BATCH_SIZE=32, SEQ_LEN=64,
                   USE_GPU_CONFIG=False)


@pytest.fixture(scope="module")
def nb():
    return nbformat.read(str(CFG.source_notebook), as_version=4)


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def free_names(source: str) -> set[str]:
    """Names a cell reads but neither binds itself nor gets from Python's builtins."""
    tree = ast.parse(source)
    bound, used = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
    return used - bound - set(dir(builtins))


def stored_names(source: str) -> set[str]:
    """Names a cell assigns or imports (what it leaves behind for later cells)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


# --- Conventions ------------------------------------------------------------


def test_answer_cells_are_the_exercises_in_order(nb):
    answers = [c for c in nb.cells if is_answer_cell(c)]
    assert [grade_id(c) for c in answers] == EXERCISES
    for cell in answers:
        name, src = grade_id(cell), cell_source(cell)
        assert re.search(rf"^(def|class) {name}\(", src, re.M), f"{name}: the cell should define {name}"
        assert src.count("### BEGIN SOLUTION") == src.count("### END SOLUTION") >= 1, name
        assert nbgrader_meta(cell) == {"solution": True, "grade": False, "locked": False,
                                       "grade_id": name, "schema_version": 3}


def test_each_exercise_is_followed_by_its_visible_test(nb):
    cells = code_cells(nb)
    for index, cell in enumerate(cells):
        if is_answer_cell(cell):
            test = cells[index + 1]
            name = grade_id(cell)
            assert is_test_cell(test) and grade_id(test) == f"test_{name}", f"{name}: no test cell right after it"
            assert nbgrader_meta(test) == {"grade": True, "solution": False, "locked": True,
                                           "grade_id": f"test_{name}", "points": CFG.points[name],
                                           "schema_version": 3}
            assert "### BEGIN HIDDEN TESTS" in cell_source(test), f"test_{name}: no hidden tests"


def test_written_answers_add_up_to_manual_points(nb):
    written = [c for c in nb.cells if is_written_answer(c)]
    assert 2 <= len(written) <= 3
    assert all(grade_id(c).startswith("q_") and not nbgrader_meta(c)["locked"] for c in written)
    assert sum(nbgrader_meta(c)["points"] for c in written) == CFG.manual_points


def test_setup_cell_is_first_locked_and_standalone(nb):
    setup = code_cells(nb)[0]
    assert grade_id(setup) == SETUP_ID
    assert nbgrader_meta(setup) == {"grade": False, "solution": False, "locked": True,
                                    "grade_id": SETUP_ID, "schema_version": 3}
    src = cell_source(setup)
    for line in ("import torch", "import torch.nn as nn", "import torch.nn.functional as F",
                 'torch.device("cuda" if torch.cuda.is_available() else "cpu")', "torch.manual_seed("):
        assert line in src, f"the setup cell lacks {line!r}"


def test_no_cell_imports_the_course_package(nb):
    for cell in code_cells(nb):
        assert not re.search(r"^\s*(from|import)\s+course\b", cell_source(cell), re.M), cell.get("id")


def test_answer_cells_depend_only_on_setup_and_earlier_answers(nb):
    cells = code_cells(nb)
    available = stored_names(cell_source(cells[0]))
    assert {"torch", "nn", "F", "math", "device"} <= available
    for cell in cells:
        if is_answer_cell(cell):
            missing = free_names(cell_source(cell)) - available
            assert not missing, f"{grade_id(cell)} reads {sorted(missing)}, defined outside setup and earlier answers"
            available.add(grade_id(cell))


def test_other_code_cells_are_skipped_or_self_contained(nb):
    """Untagged demonstration cells run in the grader: they may not read the corpus or training state."""
    skipped_names: set[str] = set()
    for cell in code_cells(nb):
        if grade_id(cell) or is_answer_cell(cell) or is_test_cell(cell):
            continue
        src = cell_source(cell)
        if SKIP_TAG in tags(cell):
            skipped_names |= stored_names(src)
        else:
            reads = free_names(src) & (skipped_names | set(EXERCISES))
            assert not reads, f"untagged cell {cell.get('id')} reads {sorted(reads)}: tag it {SKIP_TAG!r}"
    assert {"text", "train_data", "model", "history"} <= skipped_names


def test_parameters_cell_holds_literal_assignments(nb):
    cells = [c for c in code_cells(nb) if PARAMETERS_TAG in tags(c)]
    assert len(cells) == 1 and SKIP_TAG in tags(cells[0])
    body = ast.parse(cell_source(cells[0])).body
    assert body and all(isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
                        and isinstance(n.value, ast.Constant) for n in body), "only NAME = literal lines"
    names = {n.targets[0].id for n in body}
    assert set(TRAINED_RUN) <= names


def test_no_remote_images_or_outputs(nb):
    for cell in nb.cells:
        assert not re.search(r"https?://\S+\.(png|jpe?g|gif|svg)", cell_source(cell), re.I), cell.get("id")
        assert not cell.get("outputs"), f"{cell.get('id')}: the source notebook is kept without outputs"


# --- Execution --------------------------------------------------------------


def test_inject_parameters_adds_a_cell_after_the_parameters_cell(nb):
    injected = inject_parameters(nb, {"STEPS": 7, "LR": 0.5, "USE_GPU_CONFIG": False})
    index = next(i for i, c in enumerate(injected.cells) if PARAMETERS_TAG in tags(c))
    cell = injected.cells[index + 1]
    assert tags(cell) == [INJECTED_TAG]
    assert cell_source(cell).splitlines()[1:] == ["STEPS = 7", "LR = 0.5", "USE_GPU_CONFIG = False"]
    assert len(injected.cells) == len(nb.cells) + 1 and INJECTED_TAG not in str(nb.cells), "input unchanged"


@pytest.mark.parametrize("override, message", [({"STPES": 3}, "'STPES' is not set"),
                                               ({"STEPS": object()}, "not a plain literal")])
def test_inject_parameters_rejects_unknown_names_and_non_literals(nb, override, message):
    with pytest.raises(ParameterError, match=message):
        inject_parameters(nb, override)



def bigram_perplexity(train: str, heldout: str) -> float:
    """Held-out perplexity of an add-one-smoothed character bigram model."""
    vocab = {ch: i for i, ch in enumerate(sorted(set(train + heldout)))}
    tr = torch.tensor([vocab[c] for c in train])
    ho = torch.tensor([vocab[c] for c in heldout])
    counts = torch.ones(len(vocab), len(vocab), dtype=torch.float64)
    counts.index_put_((tr[:-1], tr[1:]), torch.ones(len(tr) - 1, dtype=torch.float64), accumulate=True)
    log_p = (counts / counts.sum(1, keepdim=True)).log()
    return math.exp(-log_p[ho[:-1], ho[1:]].mean().item())


@pytest.fixture(scope="module")
def executed(nb):
    """The source notebook run top to bottom (errors recorded, not raised) plus a results cell."""
    probe = nbformat.v4.new_code_cell(
        'import json\nprint("RESULTS" + json.dumps({"heldout_ppl": heldout_ppl, "bigram_ppl": bigram_ppl, '
        '"steps": history["step"][-1], "vocab": len(idx2char)}))'
    )
    nb = nbformat.from_dict({**nb, "cells": nb.cells + [probe]})
    # Run where the instructor opens it, so its corpus cell finds corpus/ as it does in Jupyter.
    return execute_notebook(nb, TRAINED_RUN, threads=1, allow_errors=True, timeout=300,
                            cwd=CFG.source_notebook.parent)


def stream_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


@pytest.mark.slow
def test_source_notebook_runs_and_all_its_tests_pass(executed):
    errors = [(c.get("id"), o.ename, o.evalue) for c in executed.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert not errors, f"cells failed: {errors}"
    for cell in executed.cells:
        if is_test_cell(cell):
            assert "visible tests passed" in stream_text(cell), grade_id(cell)


@pytest.mark.slow
def test_notebook_corpus_matches_the_course_loader(executed):
    corpus = load_corpus(CFG.corpus_path, CFG.heldout_fraction)
    out = stream_text(next(c for c in executed.cells if c.get("id") == "load-corpus"))
    assert "Corpus: the file ../../corpus/pydoc_topics.txt beside the notebook" in out and "WARNING" not in out
    assert corpus.sha256 in out
    assert f"train {len(corpus.train):,}, held out {len(corpus.heldout):,}" in out


@pytest.mark.slow
def test_trained_model_beats_a_bigram_baseline(executed):
    out = stream_text(executed.cells[-1])
    assert "RESULTS" in out, "the notebook did not reach its end"
    results = json.loads(out.split("RESULTS", 1)[1])
    corpus = load_corpus(CFG.corpus_path, CFG.heldout_fraction)
    bigram = bigram_perplexity(corpus.train, corpus.heldout)
    assert results["steps"] == TRAINED_RUN["STEPS"]
    assert results["bigram_ppl"] == pytest.approx(bigram, rel=0.02)  # the notebook's own baseline agrees
    assert results["heldout_ppl"] < 0.8 * bigram, f"LSTM {results['heldout_ppl']:.2f} vs bigram {bigram:.2f}"


# --- The notebook's own test cells and the variants --------------------------------------------------------
#
# Each mutant of autograder/lab_rnn/variants.py goes through its exercise's test cell, as in the notebook: the
# visible part (what the release shows) and the whole cell with its nbgrader hidden region (what nbgrader's
# autograde runs). The catalogue says which part rejects it; every legitimate alternative passes the whole cell.


def visible_part(source: str) -> str:
    return source.split("### BEGIN HIDDEN TESTS")[0]


def notebook_namespace(nb, answers: dict[str, str]) -> dict:
    """The setup, the given answers and the untagged helper cells, run in order as a student's kernel would."""
    torch.set_num_threads(1)
    namespace: dict = {}
    for cell in code_cells(nb):
        if is_test_cell(cell) or SKIP_TAG in tags(cell):
            continue
        exec(answers.get(grade_id(cell), cell_source(cell)) if is_answer_cell(cell) else cell_source(cell), namespace)
    return namespace


def exercise_test(nb, symbol: str) -> str:
    """The source of the exercise's test cell, its hidden region included."""
    return cell_source(next(c for c in nb.cells if grade_id(c) == f"test_{symbol}"))


def rejected(nb, answers: dict[str, str], code: str) -> bool:
    """Whether the test code raises AssertionError on these answers (any other error fails the test)."""
    try:
        exec(code, notebook_namespace(nb, answers))
    except AssertionError:
        return True
    return False


@pytest.mark.parametrize("name", [v.name for v in MUTANTS if v.notebook_tests == VISIBLE])
def test_visible_tests_reject_a_typical_mistake(nb, name):
    mutant = BY_NAME[name]
    (symbol,) = mutant.edits  # the exercise the mistake is in
    assert rejected(nb, variant_sources(mutant, CFG), visible_part(exercise_test(nb, symbol)))


@pytest.mark.parametrize("name", [v.name for v in MUTANTS if v.notebook_tests != VISIBLE])
def test_mistakes_the_visible_tests_miss_are_where_the_catalogue_says(nb, name):
    """Only the hidden region (``hidden``) or only the grader's hidden checks (None) catch these."""
    mutant = BY_NAME[name]
    (symbol,) = mutant.edits  # the exercise the mistake is in
    answers, source = variant_sources(mutant, CFG), exercise_test(nb, symbol)
    assert not rejected(nb, answers, visible_part(source)), "the visible tests catch it: say so in the catalogue"
    assert rejected(nb, answers, source) == (mutant.notebook_tests == HIDDEN)


@pytest.mark.parametrize("name", [v.name for v in ALTERNATIVES])
def test_the_whole_test_cells_pass_the_alternatives(nb, name):
    alternative = BY_NAME[name]
    answers = variant_sources(alternative, CFG)
    for symbol in alternative.edits:
        exec(exercise_test(nb, symbol), notebook_namespace(nb, answers))  # raises on a failing test


def test_visible_tests_pass_on_the_solutions(nb):
    torch.set_num_threads(1)
    namespace: dict = {}
    for cell in code_cells(nb):
        if SKIP_TAG not in tags(cell):
            exec(cell_source(cell), namespace)  # raises on the first failing test
