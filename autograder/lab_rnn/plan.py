"""The RNN lab's probe plan: seeded, randomised grader inputs for every hidden check.

Probe ids are ``<exercise>/<kind>/<n>``; the checks find their probes by prefix. Everything
a reference depends on (weights, inputs, targets) is chosen here and sent to the worker.
"""
from __future__ import annotations

import numpy as np
import torch

from autograder.lab_rnn import reference as ref
from course.grader.probes import ProbeRequest

VOCAB_ALPHABET = list("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 .,;:!?()[]{}\n\t'\"-_=+*/<>éñçüß∑λ€")
GEN_VOCAB = list(" .aeilnrst")  # the grader LM's characters in the generate probes (sorted)
DIST_LOGITS = [1.2, 0.6, 0.0, -0.6, -1.2]  # constant next-character logits of the temperature probes
DIST_TEMPERATURES = (0.5, 2.0)
LOW_TEMPERATURE = 0.02
# (len(data), batch, seq_len) of the make_batches probes
MAKE_BATCHES_GRID = [(41, 4, 3), (100, 3, 7), (30, 1, 4), (57, 5, 5), (25, 2, 12), (13, 3, 1)]


class _Rand:
    """The plan's random sources, all derived from one seed."""

    def __init__(self, seed: int):
        self.torch = torch.Generator().manual_seed(seed)
        self.np = np.random.default_rng(seed)

    def normal(self, *shape: int, scale: float = 1.0) -> np.ndarray:
        return (torch.randn(shape, generator=self.torch) * scale).numpy().astype(np.float32)

    def uniform(self, *shape: int, scale: float = 1.0) -> np.ndarray:
        return ((torch.rand(shape, generator=self.torch) * 2 - 1) * scale).numpy().astype(np.float32)

    def ints(self, low: int, high: int, size) -> np.ndarray:
        return self.np.integers(low, high, size=size).astype(np.int64)

    def seed(self) -> int:
        return int(self.np.integers(0, 2**31 - 1))

    def text(self, length: int, alphabet: list[str]) -> str:
        return "".join(self.np.choice(alphabet, size=length))


def _myrnn(r: _Rand) -> list[ProbeRequest]:
    def weights(b, t, i, h, h0=False):
        arrays = {"W": r.uniform(h, i), "U": r.uniform(h, h, scale=0.8), "b": r.uniform(h, scale=0.5),
                  "x": r.normal(b, t, i)}
        if h0:
            arrays["h0"] = r.uniform(1, b, h, scale=0.9)
        return arrays

    plan = []
    for n, (b, t, i, h) in enumerate([(1, 1, 3, 4), (3, 6, 5, 8), (2, 4, 1, 16), (4, 3, 2, 1), (1, 5, 4, 3)]):
        params = {"batch": b, "seq_len": t, "h0": False}
        plan.append(ProbeRequest(f"MyRNN/forward/{n}", "myrnn", params, weights(b, t, i, h)))
    for n, (b, t, i, h) in enumerate([(1, 3, 3, 4), (3, 5, 4, 8), (2, 1, 2, 5)]):
        params = {"batch": b, "seq_len": t, "h0": True}
        plan.append(ProbeRequest(f"MyRNN/h0/{n}", "myrnn", params, weights(b, t, i, h, True)))
    for n, (b, t, i, h, split, h0) in enumerate([(2, 8, 3, 5, 3, True), (3, 6, 2, 4, 1, False)]):
        plan.append(ProbeRequest(f"MyRNN/chunks/{n}", "myrnn", {"split": split, "h0": h0}, weights(b, t, i, h, h0)))
    arrays = weights(2, 5, 3, 4, True)
    arrays.update(grad_out=r.normal(2, 5, 4), grad_h=r.normal(1, 2, 4))
    plan.append(ProbeRequest("MyRNN/grad/0", "myrnn", {"h0": True}, arrays))
    # Whether the output depends on the input: the same weights on x, on x again and on a changed x.
    arrays = weights(3, 4, 3, 5)
    arrays["x_changed"] = arrays["x"] + r.uniform(3, 4, 3, scale=0.5) + np.float32(1.0)
    plan.append(ProbeRequest("MyRNN/depends/0", "myrnn", {"h0": False}, arrays))
    return plan


def _lstm_cell(r: _Rand) -> list[ProbeRequest]:
    def arrays(b, i, h):
        return {"x_t": r.normal(b, i), "h_prev": r.uniform(b, h, scale=0.9), "c_prev": r.normal(b, h),
                "W_ih": r.uniform(4 * h, i), "W_hh": r.uniform(4 * h, h), "b_ih": r.uniform(4 * h, scale=0.5),
                "b_hh": r.uniform(4 * h, scale=0.5)}

    plan = [ProbeRequest(f"lstm_cell/value/{n}", "lstm_cell", {"grad": False}, arrays(b, i, h))
            for n, (b, i, h) in enumerate([(1, 3, 4), (3, 5, 2), (2, 1, 6), (4, 6, 1)])]
    a = arrays(3, 4, 5)
    a.update(grad_h=r.normal(3, 5), grad_c=r.normal(3, 5))
    plan.append(ProbeRequest("lstm_cell/grad/0", "lstm_cell", {"grad": True}, a))
    return plan


def _layout(r: _Rand) -> list[ProbeRequest]:
    plan = [ProbeRequest(f"to_batch_first/value/{n}", "to_batch_first", {}, {"x": r.normal(t, b, f)})
            for n, (t, b, f) in enumerate([(5, 3, 2), (1, 4, 3), (6, 1, 2), (4, 4, 4)])]
    for n, (b, t, f) in enumerate([(3, 5, 2), (1, 4, 3), (4, 1, 2), (3, 3, 3)]):
        seqs = {f"s{k}": r.normal(t, f) for k in range(b)}
        plan.append(ProbeRequest(f"batch_sequences/value/{n}", "batch_sequences", {"count": b}, seqs))
    return plan


def _shapes(r: _Rand) -> list[ProbeRequest]:
    plan, n = [], 0
    for layers in (1, 2, 3):
        for bidirectional in (False, True):
            for batch_first in (True, False):
                b, t, i, h = (int(v) for v in r.np.choice(np.arange(2, 13), size=4, replace=False))
                kwargs = {"num_layers": layers, "bidirectional": bidirectional, "batch_first": batch_first}
                plan.append(ProbeRequest(f"rnn_output_shapes/value/{n}", "rnn_output_shapes",
                                         {"args": [b, t, i, h], "kwargs": kwargs}))
                n += 1
    # The defaults: one layer, one direction, batch first.
    for args in ([1, 1, 3, 5], [int(r.ints(2, 6, None)), 7, 2, 9]):
        plan.append(ProbeRequest(f"rnn_output_shapes/value/{n}", "rnn_output_shapes", {"args": args, "kwargs": {}}))
        n += 1
    return plan


def _final_states(r: _Rand) -> list[ProbeRequest]:
    plan, n = [], 0
    kinds = list(ref.RNN_KINDS)
    for layers in (1, 2, 3):
        for bidirectional in (False, True):
            for j in range(3):
                case = {"kind": kinds[(n + j) % 3], "input_size": int(r.ints(2, 5, None)),
                        "hidden_size": int(r.ints(2, 7, None)), "num_layers": layers,
                        "bidirectional": bidirectional, "batch_first": j != 1,
                        "batch": 1 if j == 2 else int(r.ints(2, 5, None)), "seq_len": int(r.ints(2, 6, None)),
                        "seed": r.seed()}
                output, h_n = ref.run_builtin_rnn(**case)
                if not case["batch_first"]:
                    output = np.ascontiguousarray(output.transpose(1, 0, 2))
                params = {"num_layers": layers, "bidirectional": bidirectional, "case": case}
                plan.append(ProbeRequest(f"top_layer_final_state/value/{n}", "top_layer_final_state", params,
                                         {"h_n": h_n}))
                plan.append(ProbeRequest(f"final_state_from_output/value/{n}", "final_state_from_output",
                                         {"bidirectional": bidirectional, "case": case}, {"output": output}))
                n += 1
    return plan


def _vocab(r: _Rand) -> list[ProbeRequest]:
    plan = []
    texts = [r.text(60, VOCAB_ALPHABET), r.text(25, VOCAB_ALPHABET[:8]), "z",
             "hello world\nhello RNN\n" + r.text(10, VOCAB_ALPHABET)]
    for n, text in enumerate(texts):
        plan.append(ProbeRequest(f"build_vocab/value/{n}", "build_vocab", {"text": text}))
    for n, length in enumerate([40, 1, 15]):
        chars = [str(c) for c in r.np.choice(VOCAB_ALPHABET, size=12, replace=False)]
        mapping = [[c, int(i)] for c, i in zip(chars, r.np.permutation(len(chars)))]  # any mapping, not only sorted
        plan.append(ProbeRequest(f"encode/value/{n}", "encode", {"text": r.text(length, chars), "char2idx": mapping}))
    for n, length in enumerate([30, 1, 12]):
        idx2char = [str(c) for c in r.np.choice(VOCAB_ALPHABET, size=10, replace=False)]
        plan.append(ProbeRequest(f"decode/value/{n}", "decode", {"idx2char": idx2char},
                                 {"indices": r.ints(0, len(idx2char), length)}))
    return plan


def _make_batches(r: _Rand) -> list[ProbeRequest]:
    # Distinct values let the checks trace every element back to its position in data.
    return [ProbeRequest(f"make_batches/value/{n}", "make_batches", {"batch_size": b, "seq_len": t},
                         {"data": (r.np.permutation(length) + 3).astype(np.int64)})
            for n, (length, b, t) in enumerate(MAKE_BATCHES_GRID)]


def _charlstm(r: _Rand) -> list[ProbeRequest]:
    plan = []
    grid = [(7, 5, 8, 1, 2, 6), (11, 4, 16, 2, 1, 1), (5, 3, 4, 1, 3, 4), (6, 4, 12, 1, 1, 9)]
    for n, (v, e, h, layers, b, t) in enumerate(grid):
        params = {"vocab_size": v, "embed_size": e, "hidden_size": h, "num_layers": layers, "seed": r.seed()}
        plan.append(ProbeRequest(f"CharLSTM/forward/{n}", "charlstm", params, {"x": r.ints(0, v, (b, t))}))
    for n, (v, h, layers, b, t, k) in enumerate([(9, 8, 1, 2, 8, 3), (6, 5, 2, 3, 7, 4)]):
        params = {"vocab_size": v, "embed_size": 4, "hidden_size": h, "num_layers": layers, "seed": r.seed(),
                  "split": k}
        x = r.ints(0, v, (b, t))
        changed = x.copy()
        changed[:, k:] = (x[:, k:] + r.ints(1, v, (b, t - k))) % v  # every later character differs
        plan.append(ProbeRequest(f"CharLSTM/chunks/{n}", "charlstm", params, {"x": x, "x_changed": changed}))
    return plan


def _charlstm_dropout(r: _Rand) -> list[ProbeRequest]:
    """Dropout acting in training mode with one layer and with two (0.5), off in eval mode; none with 0.0."""
    plan = []
    for n, (dropout, layers) in enumerate([(0.5, 1), (0.0, 1), (0.5, 2)]):
        params = {"vocab_size": 8, "embed_size": 6, "hidden_size": 10, "num_layers": layers, "dropout": dropout,
                  "seed": r.seed()}
        plan.append(ProbeRequest(f"CharLSTM/dropout/{n}", "charlstm_dropout", params, {"x": r.ints(0, 8, (3, 6))}))
    return plan


def _windows(x: np.ndarray, y: np.ndarray, lengths: list[int]) -> dict[str, np.ndarray]:
    """Consecutive windows of the given lengths cut from streams x, y [batch, total]."""
    out, start = {}, 0
    for k, length in enumerate(lengths):
        out[f"x{k}"], out[f"y{k}"] = x[:, start:start + length].copy(), y[:, start:start + length].copy()
        start += length
    return out


def _streams(r: _Rand, vocab: int, batch: int, total: int) -> tuple[np.ndarray, np.ndarray]:
    data = r.ints(0, vocab, batch * total + 1)
    return data[:-1].reshape(batch, total), data[1:].reshape(batch, total)


def _language_model(r: _Rand) -> list[ProbeRequest]:
    plan = []
    # train_epoch: SGD with a small clip, so that clipping always acts.
    arrays = ref.lm_arrays(r.torch, vocab=6, embed=4, hidden=8, scale=0.8, head_scale=2.0)
    arrays.update(_windows(*_streams(r, 6, 3, 20), [5, 5, 5, 5]))
    params = {"windows": 4, "lr": 0.5, "clip": 0.05, "catch": True, "eval_first": True}
    plan.append(ProbeRequest("train_epoch/run/0", "train_epoch", params, arrays))
    # train_epoch learns: a repeating pattern a model can pick up in a few epochs.
    pattern = r.ints(0, 5, 7)
    data = np.tile(pattern, 20)[: 2 * 42 + 1]
    arrays = ref.lm_arrays(r.torch, vocab=5, embed=8, hidden=16, scale=0.3)
    arrays.update(_windows(data[:-1].reshape(2, 42), data[1:].reshape(2, 42), [14, 14, 14]))
    params = {"windows": 3, "lr": 0.03, "epochs": 6}
    plan.append(ProbeRequest("train_epoch/learn/0", "train_epoch_learn", params, arrays))
    # perplexity: a uniform model, then models whose state matters, on windows of unequal length.
    arrays = ref.lm_arrays(r.torch, vocab=7, embed=3, hidden=5)
    arrays["w_out"][:] = 0.0
    arrays["b_out"][:] = 0.0
    arrays.update(_windows(*_streams(r, 7, 3, 15), [4, 9, 2]))
    plan.append(ProbeRequest("perplexity/uniform/0", "perplexity", {"windows": 3}, arrays))
    for n, dropout in enumerate([0.0, 0.5]):
        arrays = ref.lm_arrays(r.torch, vocab=8, embed=4, hidden=10, scale=1.5, head_scale=2.0)
        arrays.update(_windows(*_streams(r, 8, 2, 22), [5, 3, 8, 6]))
        plan.append(ProbeRequest(f"perplexity/model/{n}", "perplexity", {"windows": 4, "dropout": dropout}, arrays))
    # generate: greedy and low temperature on random models, sampling spread, temperature law.
    vocab = len(GEN_VOCAB)
    for n, length in enumerate([12, 20, 1]):
        arrays = ref.lm_arrays(r.torch, vocab=vocab, embed=4, hidden=12, scale=1.2, head_scale=3.0)
        prefix = r.text(int(r.ints(1, 6, None)), GEN_VOCAB)
        base = {"prefix": prefix, "length": length, "idx2char": GEN_VOCAB}
        params = {**base, "temperature": 0.0, "seeds": [r.seed()]}
        plan.append(ProbeRequest(f"generate/greedy/{n}", "generate", params, arrays))
        plan.append(ProbeRequest(f"generate/low/{n}", "generate",
                                 {**base, "temperature": LOW_TEMPERATURE, "seeds": [r.seed()]}, dict(arrays)))
    arrays = ref.lm_arrays(r.torch, vocab=vocab, embed=4, hidden=12, scale=1.0, head_scale=1.0)
    params = {"prefix": "a", "length": 30, "idx2char": GEN_VOCAB, "temperature": 1.5,
              "seeds": [r.seed() for _ in range(4)]}
    plan.append(ProbeRequest("generate/spread/0", "generate", params, arrays))
    dist_vocab = GEN_VOCAB[: len(DIST_LOGITS)]
    for n, temperature in enumerate(DIST_TEMPERATURES):
        arrays = ref.lm_arrays(r.torch, vocab=len(dist_vocab), embed=3, hidden=4)
        arrays["w_out"][:] = 0.0
        arrays["b_out"][:] = np.asarray(DIST_LOGITS, np.float32)  # the logits never depend on the input
        params = {"prefix": "e", "length": 800, "idx2char": dist_vocab, "temperature": temperature,
                  "seeds": [r.seed()]}
        plan.append(ProbeRequest(f"generate/dist/{n}", "generate", params, arrays))
    return plan


def build_plan(seed: int) -> list[ProbeRequest]:
    """Every probe for one submission, from one seed.

    Args:
        seed: the submission's probe seed (different per student, fixed per student).

    Returns:
        The probe requests, in the order the worker runs them.
    """
    r = _Rand(seed)
    return [*_myrnn(r), *_lstm_cell(r), *_layout(r), *_shapes(r), *_final_states(r), *_vocab(r),
            *_make_batches(r), *_charlstm(r), *_language_model(r), *_charlstm_dropout(r)]
