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
@pytest.mark.xdist_group("source_notebook")
def test_source_notebook_runs_and_all_its_tests_pass(executed):
    errors = [(c.get("id"), o.ename, o.evalue) for c in executed.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert not errors, f"cells failed: {errors}"
    for cell in executed.cells:
        if is_test_cell(cell):
            assert "visible tests passed" in stream_text(cell), grade_id(cell)


@pytest.mark.slow
@pytest.mark.xdist_group("source_notebook")
def test_notebook_corpus_matches_the_course_loader(executed):
    corpus = load_corpus(CFG.corpus_path, CFG.heldout_fraction)
    out = stream_text(next(c for c in executed.cells if c.get("id") == "load-corpus"))
    assert "Corpus: the file ../../corpus/pydoc_topics.txt beside the notebook" in out and "WARNING" not in out
    assert corpus.sha256 in out
    assert f"train {len(corpus.train):,}, held out {len(corpus.heldout):,}" in out


@pytest.mark.slow
@pytest.mark.xdist_group("source_notebook")
def test_trained_model_beats_a_bigram_baseline(executed):
    out = stream_text(executed.cells[-1])
    assert "RESULTS" in out, "the notebook did not reach its end"
    results = json.loads(out.split("RESULTS", 1)[1])
    corpus = load_corpus(CFG.corpus_path, CFG.heldout_fraction)
    bigram = bigram_perplexity(corpus.train, corpus.heldout)
    assert results["steps"] == TRAINED_RUN["STEPS"]
    assert results["bigram_ppl"] == pytest.approx(bigram, rel=0.02)  # the notebook's own baseline agrees
    assert results["heldout_ppl"] < 0.8 * bigram, f"LSTM {results['heldout_ppl']:.2f} vs bigram {bigram:.2f}"


# --- The visible tests catch typical mistakes ---------------------------------

WRONG = {
    "MyRNN: no bias": ("MyRNN", '''
class MyRNN(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.W = nn.Linear(input_size, hidden_size, bias=False)
        self.U = nn.Linear(hidden_size, hidden_size, bias=False)
        self.b = nn.Parameter(torch.zeros(hidden_size))
    def forward(self, x, h0=None):
        h = x.new_zeros(x.shape[0], self.U.in_features) if h0 is None else h0[0]
        out = []
        for t in range(x.shape[1]):
            h = torch.tanh(self.W(x[:, t]) + self.U(h))
            out.append(h)
        return torch.stack(out, 1), h.unsqueeze(0)
'''),
    "MyRNN: h_n without the layer axis": ("MyRNN", '''
class MyRNN(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.W = nn.Linear(input_size, hidden_size, bias=False)
        self.U = nn.Linear(hidden_size, hidden_size, bias=False)
        self.b = nn.Parameter(torch.zeros(hidden_size))
    def forward(self, x, h0=None):
        h = x.new_zeros(x.shape[0], self.U.in_features) if h0 is None else h0[0]
        out = []
        for t in range(x.shape[1]):
            h = torch.tanh(self.W(x[:, t]) + self.U(h) + self.b)
            out.append(h)
        return torch.stack(out, 1), h
'''),
    "lstm_cell: forget and input gates swapped": ("lstm_cell", '''
def lstm_cell(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    f, i, g, o = (x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh).chunk(4, 1)
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c
'''),
    "to_batch_first: reshape only": ("to_batch_first", '''
def to_batch_first(x):
    return x.reshape(x.shape[1], x.shape[0], x.shape[2])
'''),
    "batch_sequences: stacked on the time axis": ("batch_sequences", '''
def batch_sequences(sequences):
    return torch.stack(sequences, dim=1)
'''),
    "rnn_output_shapes: h_n ignores directions": ("rnn_output_shapes", '''
def rnn_output_shapes(batch_size, seq_len, input_size, hidden_size, num_layers=1, bidirectional=False,
                      batch_first=True):
    d = 2 if bidirectional else 1
    return (batch_size, seq_len, d * hidden_size), (num_layers, batch_size, hidden_size)
'''),
    "top_layer_final_state: backward first": ("top_layer_final_state", '''
def top_layer_final_state(h_n, num_layers, bidirectional):
    return torch.cat([h_n[-1], h_n[-2]], -1) if bidirectional else h_n[-1]
'''),
    "final_state_from_output: both halves at the last step": ("final_state_from_output", '''
def final_state_from_output(output, bidirectional):
    return output[:, -1]
'''),
    "build_vocab: first-appearance order": ("build_vocab", '''
def build_vocab(text):
    idx2char = list(dict.fromkeys(text))
    return {c: i for i, c in enumerate(idx2char)}, idx2char
'''),
    "encode: a list": ("encode", '''
def encode(text, char2idx):
    return [char2idx[c] for c in text]
'''),
    "decode: reversed": ("decode", '''
def decode(indices, idx2char):
    return "".join(idx2char[int(i)] for i in indices)[::-1]
'''),
    "make_batches: windows cut from the flat text": ("make_batches", '''
def make_batches(data, batch_size, seq_len):
    size = batch_size * seq_len
    return [(data[k:k + size].view(batch_size, seq_len), data[k + 1:k + size + 1].view(batch_size, seq_len))
            for k in range(0, len(data) - size, size)]
'''),
    "CharLSTM: ignores the incoming state": ("CharLSTM", '''
class CharLSTM(nn.Module):
    def __init__(self, vocab_size, embed_size=64, hidden_size=256, num_layers=1, dropout=0.0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)
    def forward(self, x, state=None):
        out, state = self.lstm(self.embed(x))
        return self.head(out), state
'''),
    "train_epoch: state not detached": ("train_epoch", '''
def train_epoch(model, batches, optimizer, clip=1.0):
    state, total = None, 0.0
    for x, y in batches:
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total += loss.item()
    return total / len(batches)
'''),
    "train_epoch: no clipping": ("train_epoch", '''
def train_epoch(model, batches, optimizer, clip=1.0):
    state, total = None, 0.0
    for x, y in batches:
        state = None if state is None else tuple(s.detach() for s in state)
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(batches)
'''),
    "perplexity: state reset every window": ("perplexity", '''
def perplexity(model, batches):
    model.eval()
    nll, count = 0.0, 0
    with torch.no_grad():
        for x, y in batches:
            logits, _ = model(x)
            nll += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    return math.exp(nll / count)
'''),
    "generate: the state is dropped": ("generate", '''
def generate(model, prefix, length, char2idx, idx2char, temperature=1.0):
    out = list(prefix)
    with torch.no_grad():
        for _ in range(length):
            logits, _ = model(torch.tensor([[char2idx[out[-1]]]]))
            out.append(idx2char[int(logits[0, -1].argmax())])
    return "".join(out)
'''),
}


def visible_part(source: str) -> str:
    return source.split("### BEGIN HIDDEN TESTS")[0]


@pytest.mark.parametrize("case", sorted(WRONG))
def test_visible_tests_reject_a_typical_mistake(nb, case):
    symbol, wrong = WRONG[case]
    torch.set_num_threads(1)
    namespace: dict = {}
    for cell in code_cells(nb):  # setup, every solution and the untagged helper cells, in order
        if is_test_cell(cell) or SKIP_TAG in tags(cell):
            continue
        exec(cell_source(cell), namespace)
    exec(wrong, namespace)
    test = next(c for c in nb.cells if grade_id(c) == f"test_{symbol}")
    with pytest.raises(AssertionError):
        exec(visible_part(cell_source(test)), namespace)


def test_visible_tests_pass_on_the_solutions(nb):
    torch.set_num_threads(1)
    namespace: dict = {}
    for cell in code_cells(nb):
        if SKIP_TAG not in tags(cell):
            exec(cell_source(cell), namespace)  # raises on the first failing test
