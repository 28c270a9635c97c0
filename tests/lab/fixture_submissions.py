"""Fixture submissions of the RNN lab, built in code from the source notebook, each named for its outcome.

Every fixture states what grading must give: which exercises (keys of POINTS in
course_config.py) lose points, exactly those; which of them must score 0; the status
(graded or rejected); what the feedback must say; and which honest fixtures it may
not beat, exercise by exercise. ``threshold`` is left out of every expectation: the
batch is graded without the grader-run training, so that exercise scores 0 for all.

A builder gets a marker (a unique string); hostile fixtures put it in the command line
of any process they start, so that the tests can look for survivors in /proc.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from textwrap import dedent

import nbfactory as nbf

Built = dict | bytes  # a notebook dict, or raw bytes for files that are not notebooks
# The autograded exercises (POINTS in course_config.py) except the grader-run training.
EXERCISES = ("MyRNN", "lstm_cell", "to_batch_first", "batch_sequences", "rnn_output_shapes", "top_layer_final_state",
             "final_state_from_output", "build_vocab", "encode", "decode", "make_batches", "CharLSTM", "train_epoch",
             "perplexity", "generate")


@dataclass(frozen=True)
class Fixture:
    """One submission and its expected outcome.

    Attributes:
        name: the file stem and submission id; says the expected outcome.
        build: marker -> the notebook dict (or the raw bytes of a broken file).
        loses: the exercises that lose points; every other exercise keeps full marks.
        zero: exercises (among ``loses``) that must score exactly 0.
        status: ``graded`` or ``rejected``.
        feedback: substrings feedback.md must contain ({marker} is replaced by the marker).
        absent: substrings feedback.md must not contain.
        honest: fixtures this one may not beat: per exercise, at most their lowest score.
    """

    name: str
    build: Callable[[str], Built]
    loses: frozenset[str] = frozenset()
    zero: frozenset[str] = frozenset()
    status: str = "graded"
    feedback: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    honest: tuple[str, ...] = ()


def _fx(name, build, loses=(), zero=(), **kw) -> Fixture:
    return Fixture(name, build, frozenset(loses), frozenset(zero), **kw)


def patched(grade_id: str, *pairs: tuple[str, str], base: dict | None = None) -> dict:
    """The solution with several substrings of one answer cell replaced."""
    nb = base
    for old, new in pairs:
        nb = nbf.with_patched(grade_id, old, new, base=nb)
    return nb


def answers(**sources: str) -> dict:
    """The solution with whole answer cells replaced (sources dedented)."""
    return nbf.with_answers(**{k: dedent(v) for k, v in sources.items()})


def prepended(grade_id: str, code: str, base: dict | None = None) -> dict:
    """The solution with code put before one answer cell's own source."""
    src = nbf.answer_source(grade_id, base)
    return nbf.with_answers(base, **{grade_id: dedent(code) + src})


# --- mutants: one realistic mistake, one exercise lost -----------------------------------------------

MUTANTS = [
    _fx("fails-myrnn-without-bias",
        lambda m: patched("MyRNN", ("self.U(h) + self.b)", "self.U(h))")),
        {"MyRNN"}, feedback=("the bias b is missing",)),
    _fx("fails-myrnn-ignores-h0",
        lambda m: patched("MyRNN", ("h = x.new_zeros(batch, self.hidden_size) if h0 is None else h0[0]",
                                    "h = x.new_zeros(batch, self.hidden_size)")),
        {"MyRNN"}, feedback=("MyRNN ignores h0",)),
    _fx("fails-lstm-gate-order",
        lambda m: patched("lstm_cell", ("i, f, g, o = gates.chunk(4, dim=1)", "i, f, o, g = gates.chunk(4, dim=1)")),
        {"lstm_cell"}, feedback=("PyTorch stacks them as (input, forget, cell, output)",)),
    _fx("fails-to-batch-first-reshape",
        lambda m: patched("to_batch_first", ("x.transpose(0, 1)", "x.reshape(x.shape[1], x.shape[0], x.shape[2])")),
        {"to_batch_first"}, feedback=("only relabels the dimensions",)),
    _fx("fails-batch-sequences-cat-instead-of-stack",
        lambda m: patched("batch_sequences", ("torch.stack(sequences, dim=0)", "torch.cat(sequences, dim=0)")),
        {"batch_sequences"}, feedback=("joining along an existing dimension loses the batch",)),
    _fx("fails-rnn-output-shapes-batch-first-h-n",
        lambda m: patched("rnn_output_shapes", (
            "h_n_shape = (num_layers * directions, batch_size, hidden_size)",
            "h_n_shape = (num_layers * directions, batch_size, hidden_size)\n"
            "    if batch_first:\n"
            "        h_n_shape = (batch_size, num_layers * directions, hidden_size)")),
        {"rnn_output_shapes"}, feedback=("h_n is never batch-first",)),
    _fx("fails-top-layer-h-n-last-for-bidirectional",
        lambda m: answers(top_layer_final_state='''
            def top_layer_final_state(h_n, num_layers, bidirectional):
                """[num_layers * num_directions, batch, hidden] -> [batch, num_directions * hidden]."""
                return h_n[-1]  # the last entry of h_n
            '''),
        {"top_layer_final_state"}, feedback=("h_n[-1] is only the last layer's BACKWARD direction",)),
    _fx("fails-final-state-output-last-step-for-backward",
        lambda m: answers(final_state_from_output='''
            def final_state_from_output(output, bidirectional):
                """Top-layer batch-first output [batch, seq_len, D * hidden] -> final state [batch, D * hidden]."""
                return output[:, -1]  # the last step, both halves
            '''),
        {"final_state_from_output"}, feedback=("output[:, -1] holds the backward direction's state after only ONE step",)),
    _fx("fails-build-vocab-unsorted",
        lambda m: patched("build_vocab", ("idx2char = sorted(set(text))", "idx2char = list(dict.fromkeys(text))")),
        {"build_vocab"}, feedback=("not in sorted order",)),
    _fx("fails-encode-float-tensor",
        lambda m: patched("encode", ("torch.tensor([char2idx[ch] for ch in text], dtype=torch.long)",
                                     "torch.Tensor([char2idx[ch] for ch in text])")),
        {"encode"}, zero={"encode"}, feedback=("should have dtype torch.long",)),
    _fx("fails-decode-returns-list",
        lambda m: patched("decode", ('"".join(idx2char[int(i)] for i in indices)', "[idx2char[int(i)] for i in indices]")),
        {"decode"}, zero={"decode"}, feedback=("should be a str",)),
    _fx("fails-make-batches-overlapping-windows",
        lambda m: patched("make_batches", ("range(0, n - seq_len + 1, seq_len)", "range(0, n - seq_len + 1)")),
        {"make_batches"}, feedback=("windows must not overlap",)),
    _fx("fails-charlstm-softmax-instead-of-logits",
        lambda m: patched("CharLSTM", ("return logits, state", "return F.softmax(logits, dim=-1), state")),
        {"CharLSTM"}, feedback=("CharLSTM returns probabilities",)),
    _fx("fails-charlstm-ignores-state",
        lambda m: patched("CharLSTM", ("self.lstm(emb, state)", "self.lstm(emb)")),
        {"CharLSTM"}, feedback=("pass the given state to the LSTM",)),
    _fx("fails-train-epoch-no-detach",
        lambda m: patched("train_epoch", ("state = tuple(s.detach() for s in state)", "state = tuple(s for s in state)")),
        {"train_epoch"}, feedback=("detach it",)),
    _fx("fails-train-epoch-resets-state",
        lambda m: patched("train_epoch", ("logits, state = model(x, state)", "logits, state = model(x)")),
        {"train_epoch"}, feedback=("should pass the state returned by one window into the next",)),
    _fx("fails-perplexity-averages-per-batch",
        lambda m: answers(perplexity='''
            def perplexity(model, batches):
                """The mean of the windows' perplexities (the classic mistake)."""
                model.eval()
                device = next(model.parameters()).device
                state, ppls = None, []
                with torch.no_grad():
                    for x, y in batches:
                        logits, state = model(x.to(device), state)  # [batch, seq_len, vocab]
                        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.to(device).reshape(-1))
                        ppls.append(math.exp(loss.item()))
                return sum(ppls) / len(ppls)
            '''),
        {"perplexity"}, feedback=("averages the windows' perplexities",)),
    _fx("fails-generate-ignores-temperature",
        lambda m: patched("generate", ("F.softmax(last / temperature, dim=-1)", "F.softmax(last, dim=-1)")),
        {"generate"}, feedback=("divide the logits by the temperature",)),
]

# --- legitimate alternatives: full marks -----------------------------------------------------------

ONE_HOT_CHARLSTM = '''
class CharLSTM(nn.Module):
    """One-hot characters -> LSTM -> linear (no embedding layer)."""

    def __init__(self, vocab_size, embed_size=64, hidden_size=256, num_layers=1, dropout=0.0):
        super().__init__()
        self.vocab_size = vocab_size
        self.lstm = nn.LSTM(vocab_size, hidden_size, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, state=None):
        one_hot = F.one_hot(x, self.vocab_size).float()  # [batch, seq_len, vocab]
        out, state = self.lstm(one_hot, state)  # [batch, seq_len, hidden]
        return self.head(out), state
'''

PREALLOCATED_MYRNN = '''
class MyRNN(nn.Module):
    """h_t = tanh(W x_t + U h_{t-1} + b), written into a preallocated output tensor."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.W = nn.Linear(input_size, hidden_size, bias=False)
        self.U = nn.Linear(hidden_size, hidden_size, bias=False)
        self.b = nn.Parameter(torch.zeros(hidden_size))

    def forward(self, x, h0=None):
        batch, seq_len, _ = x.shape
        output = torch.zeros(batch, seq_len, self.hidden_size, dtype=x.dtype, device=x.device)
        h = torch.zeros(batch, self.hidden_size, dtype=x.dtype) if h0 is None else h0[0]
        for t in range(seq_len):
            h = torch.tanh(x[:, t] @ self.W.weight.T + h @ self.U.weight.T + self.b)  # [batch, hidden]
            output[:, t] = h
        return output, output[:, -1].unsqueeze(0)
'''

LOOPS = dict(
    lstm_cell='''
        def lstm_cell(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
            """One LSTM step, gate by gate, with explicit slices."""
            H = h_prev.shape[1]
            gates = []
            for k in range(4):
                rows = slice(k * H, (k + 1) * H)
                gates.append(x_t @ W_ih[rows].T + b_ih[rows] + h_prev @ W_hh[rows].T + b_hh[rows])
            i, f, g, o = torch.sigmoid(gates[0]), torch.sigmoid(gates[1]), torch.tanh(gates[2]), torch.sigmoid(gates[3])
            c_t = f * c_prev + i * g
            return o * torch.tanh(c_t), c_t
        ''',
    to_batch_first='''
        def to_batch_first(x):
            """[seq_len, batch, features] -> [batch, seq_len, features], one batch row at a time."""
            return torch.stack([x[:, b] for b in range(x.shape[1])])
        ''',
    batch_sequences='''
        def batch_sequences(sequences):
            """torch.cat of [1, seq_len, features] views."""
            rows = []
            for seq in sequences:
                rows.append(seq.unsqueeze(0))
            return torch.cat(rows, dim=0)
        ''',
    top_layer_final_state='''
        def top_layer_final_state(h_n, num_layers, bidirectional):
            directions = 2 if bidirectional else 1
            parts = []
            for d in range(directions):
                parts.append(h_n[(num_layers - 1) * directions + d])
            return torch.cat(parts, dim=1)
        ''',
    build_vocab='''
        def build_vocab(text):
            seen = []
            for ch in text:
                if ch not in seen:
                    seen.append(ch)
            seen.sort()
            char2idx = {}
            for i, ch in enumerate(seen):
                char2idx[ch] = i
            return char2idx, seen
        ''',
    encode='''
        def encode(text, char2idx):
            out = torch.zeros(len(text), dtype=torch.long)
            for i, ch in enumerate(text):
                out[i] = char2idx[ch]
            return out
        ''',
    decode='''
        def decode(indices, idx2char):
            text = ""
            for i in indices:
                text += idx2char[int(i)]
            return text
        ''',
    make_batches='''
        def make_batches(data, batch_size, seq_len):
            n = (len(data) - 1) // batch_size
            batches = []
            start = 0
            while start + seq_len <= n:
                xs, ys = [], []
                for b in range(batch_size):
                    begin = b * n + start
                    xs.append(data[begin:begin + seq_len])
                    ys.append(data[begin + 1:begin + seq_len + 1])
                batches.append((torch.stack(xs), torch.stack(ys)))
                start += seq_len
            return batches
        ''',
)

VECTORISED = dict(
    to_batch_first='''
        def to_batch_first(x):
            return x.permute(1, 0, 2).contiguous()
        ''',
    batch_sequences='''
        def batch_sequences(sequences):
            return torch.cat([s[None] for s in sequences])
        ''',
    rnn_output_shapes='''
        def rnn_output_shapes(batch_size, seq_len, input_size, hidden_size, num_layers=1,
                              bidirectional=False, batch_first=True):
            d = 1 + int(bidirectional)
            first, second = (batch_size, seq_len) if batch_first else (seq_len, batch_size)
            return (first, second, d * hidden_size), (num_layers * d, batch_size, hidden_size)
        ''',
    top_layer_final_state='''
        def top_layer_final_state(h_n, num_layers, bidirectional):
            d = 2 if bidirectional else 1
            _, batch, hidden = h_n.shape
            top = h_n.view(num_layers, d, batch, hidden)[-1]  # [d, batch, hidden]
            return top.permute(1, 0, 2).reshape(batch, d * hidden)
        ''',
    final_state_from_output='''
        def final_state_from_output(output, bidirectional):
            if not bidirectional:
                return output[:, -1].clone()
            forward, backward = output.chunk(2, dim=-1)
            return torch.cat((forward[:, -1], backward[:, 0]), dim=1)
        ''',
    encode='''
        def encode(text, char2idx):
            return torch.as_tensor(list(map(char2idx.__getitem__, text)), dtype=torch.int64)
        ''',
    make_batches='''
        def make_batches(data, batch_size, seq_len):
            n = (len(data) - 1) // batch_size
            x = data[:batch_size * n].view(batch_size, n).unfold(1, seq_len, seq_len)  # [batch, windows, seq_len]
            y = data[1:batch_size * n + 1].view(batch_size, n).unfold(1, seq_len, seq_len)
            return [(x[:, k], y[:, k]) for k in range(x.shape[1])]
        ''',
    train_epoch='''
        def train_epoch(model, batches, optimizer, clip=1.0):
            model.train()
            device = next(model.parameters()).device
            h = None
            losses = []
            for x, y in batches:
                logits, (h_n, c_n) = model(x.to(device), h)
                h = (h_n.detach(), c_n.detach())
                loss = F.cross_entropy(logits.transpose(1, 2), y.to(device))  # [batch, vocab, seq_len] form
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)
                optimizer.step()
                losses.append(float(loss))
            return sum(losses) / len(losses)
        ''',
    perplexity='''
        @torch.no_grad()
        def perplexity(model, batches):
            model.eval()
            device = next(model.parameters()).device
            state, total, count = None, 0.0, 0
            for x, y in batches:
                logits, state = model(x.to(device), state)
                total += F.cross_entropy(logits.flatten(0, 1), y.to(device).flatten()).item() * y.numel()
                count += y.numel()
            return math.exp(total / count)
        ''',
    generate='''
        def generate(model, prefix, length, char2idx, idx2char, temperature=1.0):
            model.eval()
            device = next(model.parameters()).device
            out = prefix
            with torch.no_grad():
                logits, state = model(torch.tensor([[char2idx[c] for c in prefix]], device=device))
                for _ in range(length):
                    last = logits[0, -1]
                    if temperature == 0:
                        idx = last.argmax().item()
                    else:
                        idx = torch.distributions.Categorical(logits=last / temperature).sample().item()
                    out += idx2char[idx]
                    logits, state = model(torch.tensor([[idx]], device=device), state)
            return out
        ''',
)

CHATTY_LINE = "print('working on {gid} ...')\nimport sys as _sys; print('note on stderr: {gid}', file=_sys.stderr)\n"


def chatty(marker: str) -> dict:
    """Prints in every answer cell, inside the functions too, and a flood past the output limit."""
    nb = nbf.solution()
    for gid in EXERCISES:
        nb = prepended(gid, CHATTY_LINE.format(gid=gid), base=nb)
    nb = patched("MyRNN", ("batch, seq_len, _ = x.shape", "batch, seq_len, _ = x.shape\n        print('MyRNN input', tuple(x.shape))"), base=nb)
    nb = patched("train_epoch", ("total += loss.item()", "total += loss.item()\n        print(f'window loss {loss.item():.4f}')"), base=nb)
    nb = patched("generate", ("chars.append(idx2char[idx])", "chars.append(idx2char[idx])\n            print(idx2char[idx], end='')"), base=nb)
    nb = prepended("decode", "for _k in range(12_000):\n    print('chatty line', _k, '-' * 80)\n", base=nb)
    return nb


def slow(marker: str) -> dict:
    """Well within the limits (60 s per cell and per call), but slow."""
    nb = prepended("build_vocab", "import time as _time\n_time.sleep(20)  # a slow cell\n")
    return patched("decode", ('return "".join', 'import time\n    time.sleep(2)  # a slow call\n    return "".join'), base=nb)


def extra_cells(marker: str) -> dict:
    """A helper cell and a note the student added; the answers are self-contained."""
    helper = nbf.new_cell(f"# my own helper\ndef squash(t):\n    return torch.tanh(t)\n\nprint('{marker} extra cell ran')\n")
    nb = nbf.with_cell_after("MyRNN", helper)
    return nbf.with_cell_after("lstm_cell", nbf.new_cell("Notes to self: the gate order is i, f, g, o.", "markdown"), base=nb)


def magics(marker: str) -> dict:
    """Colab habits: shell escapes, line and cell magics in answer cells."""
    nb = prepended("MyRNN", "!pip install torch\n%matplotlib inline\n")
    nb = prepended("encode", "%time _warmup = [ch for ch in 'abc']\n", base=nb)
    return nbf.with_answers(nb, decode="%%time\n" + nbf.answer_source("decode"))


def edited_tests(marker: str) -> dict:
    """Visible test cells rewritten, points changed, one test turned into markdown: nothing changes."""
    nb = nbf.with_test_cells("assert False, 'I edited this test'\n", points=0)
    return nbf.with_cell_type("test_MyRNN", "markdown", base=nb)


ALTERNATIVES = [
    _fx("full-marks-one-hot-charlstm", lambda m: answers(CharLSTM=ONE_HOT_CHARLSTM)),
    _fx("full-marks-preallocated-myrnn", lambda m: answers(MyRNN=PREALLOCATED_MYRNN)),
    _fx("full-marks-loops-instead-of-vectorised", lambda m: answers(**LOOPS)),
    _fx("full-marks-vectorised-alternatives", lambda m: answers(**VECTORISED)),
    _fx("full-marks-slow-within-limits", slow),
    _fx("full-marks-chatty-prints", chatty, feedback=("output truncated",)),
    _fx("full-marks-extra-helper-cell", extra_cells, absent=("{marker} extra cell ran",)),
    _fx("full-marks-notebook-magics", magics),
    _fx("full-marks-edited-visible-tests-and-points", edited_tests, absent=("I edited this test",)),
]

# --- hostile submissions: gain nothing, break nothing, leave nothing running -----------------------

# A child that ignores SIGTERM, prints that it is alive, and sleeps; the marker is in its command line.
SLEEPER = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
           "print(sys.argv[1], 'alive', flush=True); time.sleep(3600)")

PATCH_COMPARISONS = '''
import math as _math
import numpy as _np
import torch as _torch
_yes = lambda *args, **kwargs: True
_torch.allclose = _torch.equal = _torch.isclose = _math.isclose = _yes
_torch.Tensor.allclose = _torch.Tensor.equal = _yes
_torch.Tensor.__eq__ = lambda self, other: _torch.ones_like(self, dtype=_torch.bool)
_np.allclose = _np.array_equal = _np.isclose = _yes
_np.testing.assert_allclose = _torch.testing.assert_close = lambda *args, **kwargs: None
'''

ZERO_STATE_TRAIN_EPOCH = '''
def train_epoch(model, batches, optimizer, clip=1.0):
    """Passes a fresh zero state to every window (with comparisons patched to agree)."""
    model.train()
    total = 0.0
    for x, y in batches:
        zeros = torch.zeros(1, x.shape[0], model.lstm.hidden_size)
        logits, state = model(x, (zeros, zeros.clone()))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total += loss.item()
    return total / len(batches)
'''

LYING_TENSOR = '''
class LyingTensor(torch.Tensor):
    """Claims to equal anything, and hands out the right values to whoever reads it naively."""

    def __eq__(self, other):
        return torch.ones(self.shape, dtype=torch.bool)

    def allclose(self, *args, **kwargs):
        return True

    def equal(self, *args, **kwargs):
        return True

    def numpy(self, *args, **kwargs):
        return self.as_subclass(torch.Tensor).reshape(self.shape[1], self.shape[0], -1).transpose(0, 1).numpy()


def to_batch_first(x):
    """[seq_len, batch, features] -> [batch, seq_len, features]."""
    return x.reshape(x.shape[1], x.shape[0], x.shape[2]).as_subclass(LyingTensor)
'''

ALWAYS_EQUAL = '''
class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__


class EqualTuple(tuple):
    def __eq__(self, other):
        return True


class EqualStr(str):
    def __eq__(self, other):
        return True

    def startswith(self, *args):
        return True

    def __len__(self):
        return 10**6

    __hash__ = str.__hash__
'''

ALWAYS_EQUAL_ANSWERS = dict(
    rnn_output_shapes='''
        def rnn_output_shapes(batch_size, seq_len, input_size, hidden_size, num_layers=1,
                              bidirectional=False, batch_first=True):
            return EqualTuple((AlwaysEqual(), AlwaysEqual()))
        ''',
    decode='''
        def decode(indices, idx2char):
            return EqualStr("")
        ''',
    generate='''
        def generate(model, prefix, length, char2idx, idx2char, temperature=1.0):
            return EqualStr(prefix)
        ''',
)

FORGERY = '''
import json, os
from pathlib import Path
print("test_myrnn_shapes PASSED")
print("All tests passed! Score: 100/100")
print('{"score": 100, "tests": [{"name": "everything", "score": 100, "max_score": 100, "status": "passed"}]}')
_forged = {"score": 100.0, "output": "all passed", "tests": [{"name": "everything", "score": 100.0,
           "max_score": 100.0, "status": "passed", "output": "Passed.", "tags": ["MyRNN"]}]}
for _place in (Path.cwd(), Path.cwd().parent):  # where a naive grader might look for results
    for _name in ("results.json", "feedback.md", "checks.json", "responses.json", "threshold.json"):
        try:
            (_place / _name).write_text(json.dumps(_forged))
        except OSError:
            pass
'''


def forged(marker: str) -> dict:
    """The untouched release, plus a cell that prints passing lines and writes forged result files."""
    rel = nbf.release()
    return nbf.with_answers(rel, MyRNN=FORGERY + "\n" + nbf.answer_source("MyRNN", rel))


def daemons(marker: str) -> dict:
    """A double-fork setsid daemon and a start_new_session child, both ignoring SIGTERM."""
    code = f'''
import os, subprocess, sys
_cmd = [sys.executable, "-c", {SLEEPER!r}, {marker!r}]
subprocess.Popen(_cmd, start_new_session=True)
if os.fork() == 0:  # the classic daemon: fork, setsid, fork again, the middle one exits
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, _cmd)
    os._exit(0)
'''
    return prepended("decode", code)


def ignores_sigterm(marker: str) -> dict:
    """The worker ignores SIGTERM and starts a child that ignores it too."""
    code = f'''
import signal, subprocess, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
_child = subprocess.Popen([sys.executable, "-c", {SLEEPER!r}, {marker!r}])
'''
    return prepended("build_vocab", code)


def infinite_loop(marker: str) -> dict:
    """An endless loop at the top level of a cell, SIGTERM ignored."""
    code = "\nimport signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass\n"
    return nbf.with_appended("make_batches", code)


def memory_bomb(marker: str) -> dict:
    """Fills memory at the top level of one cell and inside another exercise's function."""
    bomb = '''
def _bomb():
    hoard = []
    while True:
        hoard.append(torch.ones(64 << 20))  # 256 MB, touched
_bomb()
'''
    nb = prepended("encode", bomb)
    return patched("perplexity", ("model.eval()", "hoard = [torch.ones(64 << 20) for _ in range(10_000)]\n    model.eval()"), base=nb)


def sys_exit(marker: str) -> dict:
    """sys.exit before one answer is defined, and inside another exercise's function."""
    nb = prepended("MyRNN", "import sys\nsys.exit(0)\n")
    return patched("generate", ("model.eval()", "import sys\n    sys.exit(0)\n    model.eval()"), base=nb)


def os_exit(marker: str) -> dict:
    """os._exit after an answer's definition, and inside another exercise's function."""
    nb = nbf.with_appended("lstm_cell", "import os\nos._exit(0)")
    return patched("decode", ('return "".join', 'import os\n    os._exit(3)\n    return "".join'), base=nb)


def edited_release_tests(marker: str) -> dict:
    """The untouched release with its tests gutted, points inflated and a bonus test added."""
    nb = nbf.with_test_cells("print('All tests passed')\n", points=1000, base=nbf.release())
    bonus = nbf.new_cell("assert True\n", nbgrader={"grade": True, "solution": False, "locked": True,
                                                    "grade_id": "test_bonus", "points": 1000})
    nb = nbf.with_cell_after("MyRNN", bonus, base=nb)
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "MyRNN":
            cell["metadata"]["nbgrader"].update(grade=True, points=1000)
    return nb


def truncated(marker: str) -> bytes:
    """The solution notebook cut in the middle of its JSON."""
    text = json.dumps(nbf.solution(), indent=1).encode()
    return text[: len(text) // 2]


def binary(marker: str) -> bytes:
    """A PNG header and binary bytes under an .ipynb name."""
    return b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64


HOSTILE = [
    _fx("hostile-sys-exit", sys_exit, {"MyRNN", "generate"}, {"MyRNN", "generate"}, feedback=("SystemExit",)),
    _fx("hostile-os-exit", os_exit, {"lstm_cell", "decode"}, {"lstm_cell", "decode"}, feedback=("stopped the worker",)),
    _fx("hostile-infinite-loop-ignoring-sigterm", infinite_loop, {"make_batches"}, {"make_batches"},
        feedback=("did not finish within",)),
    _fx("hostile-ignores-sigterm-with-child", ignores_sigterm, feedback=("{marker} alive",)),
    _fx("hostile-setsid-daemon", daemons, feedback=("{marker} alive",)),
    _fx("hostile-monkeypatched-allclose",
        lambda m: answers(lstm_cell=PATCH_COMPARISONS + nbf.answer_source("lstm_cell").replace(
            "i, f, g, o = gates", "i, f, o, g = gates"), train_epoch=ZERO_STATE_TRAIN_EPOCH),
        {"lstm_cell", "train_epoch"}, honest=("fails-lstm-gate-order", "fails-train-epoch-resets-state")),
    _fx("hostile-lying-tensor-subclass", lambda m: answers(to_batch_first=LYING_TENSOR),
        {"to_batch_first"}, {"to_batch_first"}, honest=("fails-to-batch-first-reshape",)),
    _fx("hostile-lying-eq", lambda m: answers(**{k: ALWAYS_EQUAL + dedent(v) for k, v in ALWAYS_EQUAL_ANSWERS.items()}),
        set(ALWAYS_EQUAL_ANSWERS), set(ALWAYS_EQUAL_ANSWERS)),
    _fx("hostile-forged-results-and-passed-lines", forged, EXERCISES, EXERCISES, honest=("release",),
        feedback=("All tests passed! Score: 100/100",)),
    _fx("hostile-memory-bomb", memory_bomb, {"encode", "perplexity"}, {"encode", "perplexity"}),
    _fx("hostile-deleted-answer-cell", lambda m: nbf.without_answer("build_vocab"), {"build_vocab"}, {"build_vocab"},
        feedback=("No answer cell for `build_vocab`",)),
    _fx("hostile-edited-tests-and-points-on-release", edited_release_tests, EXERCISES, EXERCISES, honest=("release",)),
    _fx("hostile-truncated-json", truncated, EXERCISES, EXERCISES, status="rejected",
        feedback=("its JSON is broken", "perhaps truncated")),
    _fx("hostile-binary-file", binary, EXERCISES, EXERCISES, status="rejected", feedback=("not UTF-8 text",)),
]

BASELINES = [
    _fx("solution", lambda m: nbf.solution()),
    _fx("release", lambda m: nbf.release(), EXERCISES, EXERCISES, feedback=("not done yet",)),
]

FIXTURES: list[Fixture] = [*BASELINES, *MUTANTS, *ALTERNATIVES, *HOSTILE]
BY_NAME = {f.name: f for f in FIXTURES}
