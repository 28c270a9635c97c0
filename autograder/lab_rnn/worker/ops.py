"""Worker-side probe ops of the RNN lab: call the student's symbols on grader-chosen inputs.

This file runs inside the sandboxed worker, next to the student's code, and may import
only the standard library, numpy and torch. Each op returns plain data: JSON values and
numpy arrays, never a student object. The type of everything the student returned is
recorded by name, so that the trusted checks can insist on exactly ``torch.Tensor``,
``tuple``, ``int``, ``str``... Nothing here decides a grade.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course.worker.ops import MAX_ITEMS, Reply, describe, item, seed_everything, tensor_in, type_name
from course.worker.runtime import op, symbol

MAX_WINDOWS = 256  # most make_batches windows sent back
_THRESHOLD: dict = {}  # the grader-run training (a ThresholdRun), kept between threshold calls
# Bound before any student code runs, so that a submission which rebinds these names cannot change
# the records. The records are also made with tensor-subclass overrides off (``_plain``): a subclass
# with a lying ``__torch_function__`` cannot answer for torch.equal, .requires_grad or .detach().
_equal = torch.equal
_grad_enabled = torch._C.is_grad_enabled
_plain = torch._C.DisableTorchFunctionSubclass
_requires_grad = torch._C.TensorBase.requires_grad.__get__
_grad_fn = torch._C.TensorBase.grad_fn.__get__


# --- MyRNN, lstm_cell -------------------------------------------------------------------------------


def load_param(model, path: str, value: torch.Tensor, hint: str) -> None:
    """Copy a grader tensor into the student's parameter ``model.<path>``.

    A parameter with leading dimensions of size 1 before the grader's shape (a bias [1, hidden]
    for [hidden]) holds the same numbers and broadcasts the same way: it is loaded as its own shape.
    """
    target = model
    for part in path.split("."):
        target = getattr(target, part, None)
    want = tuple(value.shape)
    got = tuple(target.shape) if isinstance(target, torch.Tensor) else None
    if got is None or not (got == want or (len(got) > len(want) and got[len(got) - len(want):] == want
                                           and all(d == 1 for d in got[:len(got) - len(want)]))):
        shown = list(got) if got is not None else type_name(target)
        raise ValueError(f"MyRNN.{path} should be a parameter of shape {list(want)} ({hint}); got {shown}.")
    with torch.no_grad():
        target.copy_(value.view(got))


@op("myrnn")
def myrnn(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    """MyRNN with grader weights: one run, or two chunks with the carried state, optionally backward."""
    W, U, b, x = (tensor_in(arrays, k) for k in ("W", "U", "b", "x"))
    hidden, inp = W.shape
    model = symbol(ns, "MyRNN")(inp, hidden)
    load_param(model, "W.weight", W, "self.W = nn.Linear(input_size, hidden_size, bias=False)")
    load_param(model, "U.weight", U, "self.U = nn.Linear(hidden_size, hidden_size, bias=False)")
    load_param(model, "b", b, "self.b = nn.Parameter(torch.zeros(hidden_size))")
    reply = Reply()
    reply.values["modules"] = [type_name(m) for m in list(model.modules())[:MAX_ITEMS]]
    reply.values["W_bias"] = getattr(model.W, "bias", None) is not None
    reply.values["U_bias"] = getattr(model.U, "bias", None) is not None
    h0 = tensor_in(arrays, "h0") if "h0" in arrays else None
    split = params.get("split")
    if split:
        first = model(x[:, :split]) if h0 is None else model(x[:, :split], h0)
        reply.structure("first", first, ("output_1", "h_1"))
        second = model(x[:, split:], item(first, 1, "MyRNN.forward"))
        reply.structure("second", second, ("output_2", "h_2"))
        return reply.done()
    result = model(x) if h0 is None else model(x, h0)
    reply.structure("result", result, ("output", "h_n"))
    if "x_changed" in arrays:
        reply.structure("again", model(x), ("output_again", "h_again"))
        reply.structure("changed", model(tensor_in(arrays, "x_changed")), ("output_changed", "h_changed"))
    if "grad_out" in arrays:
        output, h_n = item(result, 0, "MyRNN.forward"), item(result, 1, "MyRNN.forward")
        loss = (output * tensor_in(arrays, "grad_out")).sum() + (h_n * tensor_in(arrays, "grad_h")).sum()
        loss.backward()
        for name, param in (("W", model.W.weight), ("U", model.U.weight), ("b", model.b)):
            reply.tensor(f"grad_{name}", param.grad)
    return reply.done()


LSTM_INPUTS = ("x_t", "h_prev", "c_prev", "W_ih", "W_hh", "b_ih", "b_hh")


@op("lstm_cell")
def lstm_cell(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    """One lstm_cell step on grader tensors; optionally the gradients of a grader loss."""
    grad = bool(params.get("grad"))
    inputs = [tensor_in(arrays, n).requires_grad_(grad) for n in LSTM_INPUTS]
    result = symbol(ns, "lstm_cell")(*inputs)
    reply = Reply()
    reply.structure("result", result, ("h_t", "c_t"))
    if grad:
        h_t, c_t = item(result, 0, "lstm_cell"), item(result, 1, "lstm_cell")
        loss = (h_t * tensor_in(arrays, "grad_h")).sum() + (c_t * tensor_in(arrays, "grad_c")).sum()
        loss.backward()
        for name, t in zip(LSTM_INPUTS, inputs):
            reply.tensor(f"grad_{name}", t.grad)
    return reply.done()


# --- tensor layout and h_n semantics --------------------------------------------------------------


@op("to_batch_first")
def to_batch_first(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    reply = Reply()
    reply.tensor("y", symbol(ns, "to_batch_first")(tensor_in(arrays, "x")))
    return reply.done()


@op("batch_sequences")
def batch_sequences(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    seqs = [tensor_in(arrays, f"s{i}") for i in range(int(params["count"]))]
    reply = Reply()
    reply.tensor("y", symbol(ns, "batch_sequences")(seqs))
    return reply.done()


@op("rnn_output_shapes")
def rnn_output_shapes(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    result = symbol(ns, "rnn_output_shapes")(*params["args"], **params.get("kwargs", {}))
    return {"result": describe(result)}, {}


@op("top_layer_final_state")
def top_layer_final_state(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    fn = symbol(ns, "top_layer_final_state")
    reply = Reply()
    reply.tensor("y", fn(tensor_in(arrays, "h_n"), int(params["num_layers"]), bool(params["bidirectional"])))
    return reply.done()


@op("final_state_from_output")
def final_state_from_output(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    fn = symbol(ns, "final_state_from_output")
    reply = Reply()
    reply.tensor("y", fn(tensor_in(arrays, "output"), bool(params["bidirectional"])))
    return reply.done()


# --- vocabulary and batching ------------------------------------------------------------------------


@op("build_vocab")
def build_vocab(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    return {"result": describe(symbol(ns, "build_vocab")(params["text"]))}, {}


@op("encode")
def encode(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    char2idx = {c: int(i) for c, i in params["char2idx"]}
    reply = Reply()
    reply.tensor("y", symbol(ns, "encode")(params["text"], char2idx))
    return reply.done()


@op("decode")
def decode(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    result = symbol(ns, "decode")(tensor_in(arrays, "indices"), list(params["idx2char"]))
    return {"result": describe(result)}, {}


@op("make_batches")
def make_batches(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    """make_batches on grader data; windows come back stacked as x, y [windows, batch, seq_len]."""
    result = symbol(ns, "make_batches")(tensor_in(arrays, "data"), int(params["batch_size"]), int(params["seq_len"]))
    reply = Reply()
    reply.values["result"] = {"type": type_name(result)}
    if not (type(result) is list or type(result) is tuple):
        return reply.done()
    windows = list(result)
    reply.values["count"] = len(windows)
    pairs = [describe(w) for w in windows[:MAX_WINDOWS]]
    reply.values["pairs"] = pairs
    tensors = [w for w in windows[:MAX_WINDOWS] if (type(w) is tuple or type(w) is list) and len(w) == 2
               and type(w[0]) is torch.Tensor and type(w[1]) is torch.Tensor]
    shapes = {(tuple(x.shape), tuple(y.shape)) for x, y in tensors}
    if tensors and len(tensors) == len(pairs) and len(shapes) == 1:
        reply.tensor("x", torch.stack([x.detach() for x, _ in tensors]))
        reply.tensor("y", torch.stack([y.detach() for _, y in tensors]))
    return reply.done()


# --- the language model -----------------------------------------------------------------------------


@op("charlstm")
def charlstm(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    """The student's CharLSTM (seeded init, eval mode): one run, two chunks, or a changed suffix."""
    torch.manual_seed(int(params["seed"]))
    model = symbol(ns, "CharLSTM")(int(params["vocab_size"]), embed_size=int(params["embed_size"]),
                                   hidden_size=int(params["hidden_size"]), num_layers=int(params["num_layers"]))
    model.eval()
    x = tensor_in(arrays, "x")
    reply = Reply()
    names = ("logits", ("state", ("h_n", "c_n")))
    with torch.no_grad():
        full = model(x)
        reply.structure("result", full, names)
        if params.get("split"):
            k = int(params["split"])
            first = model(x[:, :k])
            reply.structure("first", first, ("logits_1", ("state_1", ("h_1", "c_1"))))
            second = model(x[:, k:], item(first, 1, "CharLSTM.forward"))
            reply.structure("second", second, ("logits_2", ("state_2", ("h_2", "c_2"))))
        if "x_changed" in arrays:
            changed = model(tensor_in(arrays, "x_changed"))
            reply.structure("changed", changed, ("logits_changed", ("state_c", ("h_c", "c_c"))))
    return reply.done()


@op("charlstm_dropout")
def charlstm_dropout(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    """The student's CharLSTM built with ``dropout``: two forwards in training mode, then two in eval mode.

    Each forward reseeds torch differently, so that dropout, when it acts, draws other masks.
    """
    torch.manual_seed(int(params["seed"]))
    model = symbol(ns, "CharLSTM")(int(params["vocab_size"]), embed_size=int(params["embed_size"]),
                                   hidden_size=int(params["hidden_size"]), num_layers=int(params["num_layers"]),
                                   dropout=float(params["dropout"]))
    x = tensor_in(arrays, "x")
    reply = Reply()
    with torch.no_grad():
        for mode, names in (("train", ("train_1", "train_2")), ("eval", ("eval_1", "eval_2"))):
            model.train(mode == "train")
            for k, name in enumerate(names):
                torch.manual_seed(int(params["seed"]) + 1 + k)
                reply.structure(name, model(x), (f"logits_{name}", (f"state_{name}", (f"h_{name}", f"c_{name}"))))
    return reply.done()


class GraderLM(nn.Module):
    """The grader's character LSTM with plan weights; it records how it is called.

    Each forward records the input shape, whether a state came in, whether that state
    still carries an autograd graph, whether it equals the state returned by the previous
    call, the training flag and whether gradients were enabled; when ``targets`` is set,
    also the cross-entropy of the returned logits against the targets of that call.
    """

    def __init__(self, arrays: dict[str, np.ndarray], dropout: float = 0.0):
        super().__init__()
        vocab, embed = arrays["emb"].shape
        hidden = arrays["w_hh"].shape[1]
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, vocab)
        weights = [tensor_in(arrays, k) for k in ("emb", "w_ih", "w_hh", "b_ih", "b_hh", "w_out", "b_out")]
        with torch.no_grad():
            for p, w in zip(self.parameters(), weights):
                p.copy_(w)
        self.calls: list[dict] = []
        self.targets: list[torch.Tensor] | None = None
        self._last = None

    def _record(self, x, state) -> dict:
        with _plain():
            rec = {"shape": list(x.shape) if isinstance(x, torch.Tensor) else None, "state": "none",
                   "attached": False, "carried": False, "training": self.training,
                   "grad_enabled": _grad_enabled()}
            if state is not None:
                parts = list(state) if isinstance(state, (tuple, list)) else [state]
                rec["state"] = type_name(state)
                rec["attached"] = any(isinstance(s, torch.Tensor) and (_requires_grad(s) or _grad_fn(s) is not None)
                                      for s in parts)
                rec["carried"] = self._last is not None and len(parts) == 2 and all(
                    isinstance(s, torch.Tensor) and s.shape == last.shape and _equal(s.detach().cpu(), last)
                    for s, last in zip(parts, self._last))
        return rec

    def forward(self, x, state=None):
        rec = self._record(x, state)
        self.calls.append(rec)
        h, new_state = self.lstm(self.embed(x), state)  # [batch, seq_len, hidden]
        logits = self.head(self.drop(h))  # [batch, seq_len, vocab]
        with _plain():
            self._last = tuple(s.detach().cpu().clone() for s in new_state)
            if self.targets is not None and len(self.calls) <= len(self.targets):
                with torch.no_grad():
                    y = self.targets[len(self.calls) - 1]
                    rec["loss"] = float(F.cross_entropy(logits.reshape(-1, logits.size(-1)),
                                                        y.reshape(-1).to(logits.device)))
        return logits, new_state


def grad_norm(model: nn.Module) -> float:
    """Total 2-norm of the gradients held by the model's parameters."""
    norms = [p.grad.detach().double().norm() for p in model.parameters() if p.grad is not None]
    return float(torch.stack(norms).norm()) if norms else 0.0


def windows_in(arrays: dict[str, np.ndarray], count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(tensor_in(arrays, f"x{k}"), tensor_in(arrays, f"y{k}")) for k in range(count)]


def lm_params(reply: Reply, model: nn.Module) -> None:
    for name, p in zip(("emb", "w_ih", "w_hh", "b_ih", "b_hh", "w_out", "b_out"), model.parameters()):
        reply.tensor(f"param_{name}", p.detach().clone())


@op("train_epoch")
def train_epoch(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    """One train_epoch over grader windows with SGD; the grader model records every call.

    With ``catch``, an exception from train_epoch is reported in the reply (``error``),
    so that the records made before it still come back.
    """
    model = GraderLM(arrays)
    batches = windows_in(arrays, int(params["windows"]))
    model.targets = [y for _, y in batches]
    optimizer = torch.optim.SGD(model.parameters(), lr=float(params["lr"]))
    norms: list[float] = []
    optimizer.register_step_pre_hook(lambda *_: norms.append(grad_norm(model)))
    fn = symbol(ns, "train_epoch")
    reply = Reply()
    if params.get("eval_first"):
        model.eval()  # as perplexity and generate leave it: train_epoch must switch it back to training
    try:
        reply.values["result"] = describe(fn(model, batches, optimizer, clip=float(params["clip"])))
    except Exception as exc:
        if not params.get("catch"):
            raise
        reply.values["error"] = f"{type_name(exc)}: {str(exc)[:500]}"
    reply.values["calls"] = model.calls[:MAX_ITEMS]
    reply.values["grad_norms"] = norms[:MAX_ITEMS]
    lm_params(reply, model)
    return reply.done()


@op("train_epoch_learn")
def train_epoch_learn(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    """Several train_epoch calls with Adam on a learnable sequence; the final weights come back."""
    model = GraderLM(arrays)
    batches = windows_in(arrays, int(params["windows"]))
    optimizer = torch.optim.Adam(model.parameters(), lr=float(params["lr"]))
    fn = symbol(ns, "train_epoch")
    reply = Reply()
    reply.values["results"] = [describe(fn(model, batches, optimizer, clip=1.0)) for _ in range(int(params["epochs"]))]
    lm_params(reply, model)
    return reply.done()


@op("perplexity")
def perplexity(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    """The student's perplexity of a grader model on grader windows."""
    model = GraderLM(arrays, dropout=float(params.get("dropout", 0.0)))
    before = [p.detach().clone() for p in model.parameters()]
    result = symbol(ns, "perplexity")(model, windows_in(arrays, int(params["windows"])))
    changed = any(not _equal(p.detach(), b) for p, b in zip(model.parameters(), before))
    return {"result": describe(result), "calls": model.calls[:MAX_ITEMS], "params_changed": changed}, {}


@op("generate")
def generate(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    """The student's generate on a grader model, once per seed (torch, numpy and random seeded); the model's calls."""
    model = GraderLM(arrays)
    idx2char = list(params["idx2char"])
    char2idx = {c: i for i, c in enumerate(idx2char)}
    fn = symbol(ns, "generate")
    samples = []
    for seed in params["seeds"]:
        seed_everything(int(seed))
        text = fn(model, params["prefix"], int(params["length"]), char2idx, idx2char,
                  temperature=float(params["temperature"]))
        samples.append(describe(text))
    return {"samples": samples, "calls": model.calls[:MAX_ITEMS]}, {}


# --- the perplexity threshold -----------------------------------------------------------------------
#
# grader_windows, chunk_end and ThresholdRun are plain torch code that `course release` also copies into
# the release notebook's optional estimate cell (course/authoring/release.py): the student's estimate runs
# the grader's own training, not a copy of it. They may use only torch and numpy.


def grader_windows(data: torch.Tensor, batch: int, seq_len: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The grader's own stateful batching (the lab's make_batches layout): contiguous windows.

    Args:
        data: [n] int64 character indices.
        batch: number of streams.
        seq_len: characters per window.

    Returns:
        (x, y) pairs, each [batch, seq_len] int64; y is x shifted by one character.
    """
    n = (len(data) - 1) // batch
    xs = data[: batch * n].view(batch, n)
    ys = data[1: batch * n + 1].view(batch, n)
    return [(xs[:, i:i + seq_len].contiguous(), ys[:, i:i + seq_len].contiguous())
            for i in range(0, n - seq_len + 1, seq_len)]


def chunk_end(given: int, epoch: int, chunk: int) -> int:
    """Where the train_epoch call that starts at window ``given`` (counted from the start) stops.

    At the next multiple of ``chunk`` or at the end of the epoch, whichever comes first: the cuts
    do not depend on how long the run is, so a run to N windows (N a multiple of ``chunk``) is
    exactly the first part of any longer run.
    """
    return min((given // chunk + 1) * chunk, (given // epoch + 1) * epoch)


class ThresholdRun:
    """The grader-run training of a CharLSTM by a train_epoch, and its held-out feeding.

    The model is built after ``torch.manual_seed(seed)`` and trained with Adam on the grader's
    windows, ``train_epoch`` called once per chunk of windows (see ``chunk_end``). ``train_to``
    can be called again to go on training the same model: after ``train_to(N)`` the model is
    the one a single ``train_to(N)`` gives, however the run was split. Held-out feeding puts
    the model in eval mode and gives every module its own training flag back when training
    goes on.

    Args:
        char_lstm: the CharLSTM class, called as ``char_lstm(vocab_size, embed_size=, hidden_size=)``.
        train_epoch: ``train_epoch(model, batches, optimizer, clip=)``.
        train: [n] int64 training text.
        vocab_size: the vocabulary size.
        embed, hidden: the model's sizes.
        batch, seq_len: the windows' shape.
        lr: Adam's learning rate.
        clip: the clip passed to train_epoch.
        chunk: windows per train_epoch call (at most).
        seed: torch seed of the model's initialisation.
    """

    def __init__(self, char_lstm, train_epoch, train: torch.Tensor, vocab_size: int, *, embed: int, hidden: int,
                 batch: int, seq_len: int, lr: float, clip: float, chunk: int, seed: int):
        self.windows = grader_windows(train, batch, seq_len)
        if not self.windows:
            raise ValueError("The training text is too short for one window.")
        torch.manual_seed(seed)
        self.model = char_lstm(vocab_size, embed_size=embed, hidden_size=hidden)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.optimizer_steps = 0
        self.optimizer.register_step_post_hook(self._count_step)
        self.train_epoch, self.clip, self.chunk = train_epoch, clip, chunk
        self.given = 0  # windows given to train_epoch so far
        self.steps_after: list[int] = []  # optimizer steps made when each train_epoch call returned
        self.results: list = []  # what each train_epoch call returned
        self.state = None  # the held-out state
        self._flags: list | None = None  # each module's training flag while the held-out text is fed

    def _count_step(self, *_) -> None:
        self.optimizer_steps += 1

    def train_to(self, total: int) -> None:
        """Give train_epoch the next windows (wrapping round the epoch) until ``total`` windows were given."""
        self.end_heldout()
        epoch = len(self.windows)
        while self.given < total:
            end = min(chunk_end(self.given, epoch, self.chunk), total)
            first = self.given % epoch
            self.results.append(self.train_epoch(self.model, self.windows[first:first + end - self.given],
                                                 self.optimizer, clip=self.clip))
            self.given = end
            self.steps_after.append(self.optimizer_steps)

    def start_heldout(self) -> None:
        """Eval mode and no state: the held-out streams start."""
        if self._flags is None:
            self._flags = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        self.state = None

    def end_heldout(self) -> None:
        """Every module's training flag as it was before the held-out text (training goes on)."""
        for module, flag in self._flags or ():
            module.training = flag
        self._flags = None

    def heldout_step(self, x: torch.Tensor) -> np.ndarray:
        """Feed one column of characters x [streams]; the next-character logits [streams, vocab] as float32."""
        x = x.view(-1, 1)  # [streams, 1]
        with torch.no_grad():
            result = self.model(x, self.state)
        if not (type(result) is tuple or type(result) is list) or len(result) != 2:
            raise TypeError(f"CharLSTM.forward should return the tuple (logits, state); got {type(result).__name__}.")
        logits, self.state = result
        if type(logits) is not torch.Tensor or logits.dim() != 3 or tuple(logits.shape[:2]) != (x.shape[0], 1):
            shape = list(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise TypeError(f"CharLSTM.forward should return logits [batch, seq_len, vocab]; got {shape} "
                            f"for input [{x.shape[0]}, 1].")
        return logits[:, -1].detach().to("cpu", torch.float32).numpy()


@op("threshold_train")
def threshold_train(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    """Train the student's CharLSTM with the student's train_epoch until ``steps`` windows were given.

    With ``resume``, the model of the previous call trains on (calibration scores several step
    counts of one run); otherwise a new run starts on the ``train`` array. Real optimizer steps
    are counted; each train_epoch call's return value comes back described, with the optimizer
    steps made when it returned (the training curve).
    """
    run = _THRESHOLD.get("run") if params.get("resume") else None
    if run is None:
        run = ThresholdRun(symbol(ns, "CharLSTM"), symbol(ns, "train_epoch"), tensor_in(arrays, "train"),
                           int(params["vocab_size"]), embed=int(params["embed"]), hidden=int(params["hidden"]),
                           batch=int(params["batch"]), seq_len=int(params["seq_len"]), lr=float(params["lr"]),
                           clip=float(params["clip"]), chunk=int(params["chunk"]), seed=int(params["seed"]))
        _THRESHOLD.clear()
        _THRESHOLD["run"] = run
    run.train_to(int(params["steps"]))
    return {"steps_taken": run.optimizer_steps, "windows": run.given, "calls": len(run.results),
            "curve_steps": run.steps_after[-MAX_ITEMS:], "results": [describe(r) for r in run.results[-MAX_ITEMS:]]}, {}


def _run() -> ThresholdRun:
    if "run" not in _THRESHOLD:
        raise RuntimeError("No trained model: the training step did not finish.")
    return _THRESHOLD["run"]


@op("heldout_start")
def heldout_start(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    """Put the trained model in eval mode and forget any state."""
    _run().start_heldout()
    return {}, {}


@op("heldout_step")
def heldout_step(ns: dict, params: dict, arrays: dict[str, np.ndarray]):
    """Feed one column of characters x [B]; return the next-character logits [B, V] (float32)."""
    return {}, {"logits": _run().heldout_step(tensor_in(arrays, "x"))}
