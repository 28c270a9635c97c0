"""Trusted-side references for the RNN lab: what the checks compare a submission's answers to.

Never copied into the worker. Everything here runs on grader-chosen data only. The reference
solution itself is not copied here: it is the source notebook's (``notebook_answer``).
"""
from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autograder.lab_rnn.worker.ops import GraderLM
from course.authoring.solution import solution_namespace
from course.config import CourseConfig

GATES = ("input", "forget", "cell", "output")  # PyTorch's order of the stacked LSTM gate blocks
LM_WEIGHTS = ("emb", "w_ih", "w_hh", "b_ih", "b_hh", "w_out", "b_out")  # grader LM arrays, in state_dict order


# --- the reference solution: the source notebook's own answers ----------------------------------


def notebook_answer(cfg: CourseConfig, name: str) -> Any:
    """The source notebook's answer ``name`` (e.g. its train_epoch), for a check to run as the expected behaviour.

    Trusted instructor code, executed in this process (see course.authoring.solution).

    Args:
        cfg: the course configuration (its source notebook is read).
        name: the exercise's grade_id, which is also the symbol its cell defines.

    Returns:
        The function or class the notebook's answer cell defines.
    """
    return solution_namespace(cfg, [name])[name]


class PlainSGD:
    """p <- p - lr * grad, like torch.optim.SGD without momentum (and without its import cost)."""

    def __init__(self, params, lr: float):
        self.params, self.lr = list(params), lr

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        with torch.no_grad():
            for p in self.params:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-self.lr)


# --- grader language models (the worker's GraderLM, on the trusted side) --------------------------


def lm_arrays(gen: torch.Generator, vocab: int, embed: int, hidden: int, scale: float = 1.0,
              head_scale: float = 1.0) -> dict[str, np.ndarray]:
    """Random float32 weights for a one-layer character LSTM, keyed by LM_WEIGHTS."""
    shapes = {"emb": (vocab, embed), "w_ih": (4 * hidden, embed), "w_hh": (4 * hidden, hidden),
              "b_ih": (4 * hidden,), "b_hh": (4 * hidden,), "w_out": (vocab, hidden), "b_out": (vocab,)}
    out = {}
    for name in LM_WEIGHTS:
        s = scale * (head_scale if name in ("w_out", "b_out") else 1.0)
        out[name] = ((torch.rand(shapes[name], generator=gen) * 2 - 1) * s).numpy().astype(np.float32)
    return out


def lm_from_arrays(arrays: dict[str, np.ndarray], dtype: torch.dtype = torch.float64) -> GraderLM:
    """The worker's GraderLM holding a grader LM's weights exactly, in ``dtype`` (eval mode).

    The same class the worker trains and scores with, so that its layout (embedding, one-layer
    batch-first LSTM, linear head; parameters in LM_WEIGHTS order) cannot drift from the worker's.
    """
    model = GraderLM(arrays).to(dtype)
    with torch.no_grad():  # again, in dtype: GraderLM first loads the weights into float32 parameters
        for p, name in zip(model.parameters(), LM_WEIGHTS):
            p.copy_(torch.from_numpy(np.asarray(arrays[name])))
    return model.eval()


def lm_param_arrays(model: nn.Module) -> dict[str, np.ndarray]:
    """A grader LM's weights back as LM_WEIGHTS arrays (float64)."""
    params = [p.detach().double().numpy() for p in model.parameters()]
    return dict(zip(LM_WEIGHTS, params))


def window_nll(model: nn.Module, batches) -> list[tuple[float, int]]:
    """(summed NLL, number of targets) per window, carrying the state; float64, no gradients."""
    out, state = [], None
    with torch.no_grad():
        for x, y in batches:
            logits, state = model(torch.as_tensor(x), state)  # [batch, seq_len, vocab]
            logp = F.log_softmax(logits.double(), dim=-1)
            nll = -logp.gather(-1, torch.as_tensor(y).unsqueeze(-1)).sum().item()
            out.append((nll, int(np.asarray(y).size)))
    return out


def perplexity(model: nn.Module, batches) -> float:
    """exp of the mean NLL per character over all targets, the state carried across windows."""
    parts = window_nll(model, batches)
    return math.exp(sum(n for n, _ in parts) / sum(c for _, c in parts))


def greedy_path(model: nn.Module, prefix_idx: list[int], length: int):
    """Greedy continuation of a prefix, feeding one character at a time and carrying the state.

    Returns:
        (indices, margins): the generated indices and, per step, the gap between the two
        largest logits.
    """
    out, margins = [], []
    with torch.no_grad():
        logits, state = model(torch.tensor([prefix_idx]), None)  # [1, len, vocab]
        for _ in range(length):
            last = logits[0, -1].double()
            top = torch.topk(last, 2).values
            margins.append(float(top[0] - top[1]))
            nxt = int(last.argmax())
            out.append(nxt)
            logits, state = model(torch.tensor([[nxt]]), state)
    return out, margins


# --- MyRNN, lstm_cell ----------------------------------------------------------------------------


def rnn_reference(x, W, U, b, h0=None, grad_out=None, grad_h=None):
    """nn.RNN(batch_first=True) with weight_ih <- W, weight_hh <- U, b_ih + b_hh <- b, in float64.

    Returns:
        (output [batch, seq, hidden], h_n [1, batch, hidden]) as numpy, and, when grad_out and
        grad_h are given, the gradients of sum(output * grad_out) + sum(h_n * grad_h) w.r.t.
        (W, U, b).
    """
    hidden, inp = W.shape
    rnn = nn.RNN(inp, hidden, batch_first=True).double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(W))
        rnn.weight_hh_l0.copy_(torch.from_numpy(U))
        rnn.bias_ih_l0.copy_(torch.from_numpy(b))
        rnn.bias_hh_l0.zero_()
    h = None if h0 is None else torch.from_numpy(h0).double()
    output, h_n = rnn(torch.from_numpy(x).double(), h)
    grads = None
    if grad_out is not None:
        loss = (output * torch.from_numpy(grad_out)).sum() + (h_n * torch.from_numpy(grad_h)).sum()
        loss.backward()
        grads = tuple(p.grad.numpy() for p in (rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0))
    return output.detach().numpy(), h_n.detach().numpy(), grads


def lstm_cell_reference(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """nn.LSTMCell with the given weights, in float64: (h_t, c_t) as numpy."""
    cell = nn.LSTMCell(W_ih.shape[1], W_hh.shape[1]).double()
    with torch.no_grad():
        for p, v in zip((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh), (W_ih, W_hh, b_ih, b_hh)):
            p.copy_(torch.from_numpy(v))
    t = [torch.from_numpy(a).double() for a in (x, h, c)]
    h_t, c_t = cell(t[0], (t[1], t[2]))
    return h_t.detach().numpy(), c_t.detach().numpy()


def lstm_cell_grads(arrays: dict[str, np.ndarray], grad_h, grad_c) -> dict[str, np.ndarray]:
    """Gradients of sum(h_t * grad_h) + sum(c_t * grad_c) w.r.t. each lstm_cell input, via nn.LSTMCell."""
    cell = nn.LSTMCell(arrays["W_ih"].shape[1], arrays["W_hh"].shape[1]).double()
    weights = dict(zip(("W_ih", "W_hh", "b_ih", "b_hh"), (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)))
    with torch.no_grad():
        for name, p in weights.items():
            p.copy_(torch.from_numpy(arrays[name]))
    x, h, c = (torch.from_numpy(arrays[n]).double().requires_grad_() for n in ("x_t", "h_prev", "c_prev"))
    h_t, c_t = cell(x, (h, c))
    ((h_t * torch.from_numpy(grad_h)).sum() + (c_t * torch.from_numpy(grad_c)).sum()).backward()
    grads = {"x_t": x.grad, "h_prev": h.grad, "c_prev": c.grad, **{n: p.grad for n, p in weights.items()}}
    return {n: g.numpy() for n, g in grads.items()}


def lstm_gate_permutations(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """(h_t, c_t) for every other reading order of the four gate blocks.

    Yields:
        (order, h_t, c_t) where order names the gate each stacked block is used as,
        e.g. ("input", "forget", "output", "cell").
    """
    hidden = W_hh.shape[1]

    def blocks(a):
        return [a[i * hidden:(i + 1) * hidden] for i in range(4)]

    for perm in itertools.permutations(range(4)):
        if perm == (0, 1, 2, 3):
            continue
        # Block perm[g] plays PyTorch gate g; so block j is read as gate perm.index(j).
        re = [np.concatenate([blocks(a)[k] for k in perm]) for a in (W_ih, W_hh, b_ih, b_hh)]
        h_t, c_t = lstm_cell_reference(x, h, c, *re)
        yield tuple(GATES[perm.index(j)] for j in range(4)), h_t, c_t


# --- h_n semantics -------------------------------------------------------------------------------

RNN_KINDS = {"RNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}


def run_builtin_rnn(kind: str, input_size: int, hidden_size: int, num_layers: int, bidirectional: bool,
                    batch_first: bool, batch: int, seq_len: int, seed: int):
    """Run a seeded nn.RNN / nn.GRU / nn.LSTM on a seeded input.

    Returns:
        (output, h_n) as float32 numpy; output in the module's own layout (batch_first or
        not), h_n [num_layers * num_directions, batch, hidden] (the h part for an LSTM).
    """
    gen = torch.Generator().manual_seed(seed)
    net = RNN_KINDS[kind](input_size, hidden_size, num_layers, batch_first=batch_first, bidirectional=bidirectional)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.rand(p.shape, generator=gen) * 2 - 1)
    shape = (batch, seq_len, input_size) if batch_first else (seq_len, batch, input_size)
    with torch.no_grad():
        output, h_n = net(torch.randn(shape, generator=gen))
    if kind == "LSTM":
        h_n = h_n[0]
    return output.numpy(), h_n.numpy()


def builtin_shapes(batch_size, seq_len, input_size, hidden_size, num_layers=1, bidirectional=False, batch_first=True):
    """(output shape, h_n shape) of a real nn.RNN, run on zeros."""
    net = nn.RNN(input_size, hidden_size, num_layers, batch_first=batch_first, bidirectional=bidirectional)
    shape = (batch_size, seq_len, input_size) if batch_first else (seq_len, batch_size, input_size)
    with torch.no_grad():
        output, h_n = net(torch.zeros(shape))
    return tuple(output.shape), tuple(h_n.shape)


def top_layer_state(h_n: np.ndarray, num_layers: int, bidirectional: bool) -> np.ndarray:
    """h_n [layers * dirs, batch, hidden] -> [batch, dirs * hidden]: last layer, forward then backward."""
    dirs = 2 if bidirectional else 1
    last = h_n.reshape(num_layers, dirs, *h_n.shape[1:])[-1]  # [dirs, batch, hidden]
    return np.concatenate(list(last), axis=-1)


def state_from_output(output: np.ndarray, bidirectional: bool) -> np.ndarray:
    """Batch-first top-layer output [batch, seq, dirs * hidden] -> [batch, dirs * hidden]."""
    if not bidirectional:
        return output[:, -1]
    hidden = output.shape[-1] // 2
    return np.concatenate([output[:, -1, :hidden], output[:, 0, hidden:]], axis=-1)


# --- vocabulary and batching ---------------------------------------------------------------------


def stream_windows(data: np.ndarray, batch_size: int, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """The lab's make_batches layout: (X, Y) each [windows, batch_size, seq_len]."""
    n = (len(data) - 1) // batch_size
    xs = data[: batch_size * n].reshape(batch_size, n)
    ys = data[1: batch_size * n + 1].reshape(batch_size, n)
    k = n // seq_len
    X = xs[:, : k * seq_len].reshape(batch_size, k, seq_len).transpose(1, 0, 2)
    Y = ys[:, : k * seq_len].reshape(batch_size, k, seq_len).transpose(1, 0, 2)
    return np.ascontiguousarray(X), np.ascontiguousarray(Y)
