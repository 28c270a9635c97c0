"""Hidden checks: CharLSTM's contract (shapes, state, causality, statefulness, logits, dropout)."""
from __future__ import annotations

import numpy as np
import pytest

RUNS = ("CharLSTM/forward/", "CharLSTM/chunks/")  # the probes of one model in eval mode


def config(req) -> str:
    p = req.params
    b, t = req.arrays["x"].shape
    return (f"CharLSTM({p['vocab_size']}, embed_size={p['embed_size']}, hidden_size={p['hidden_size']}, "
            f"num_layers={p['num_layers']}) on x [{b}, {t}]")


def logits_of(expect, req, resp, result="result", name="logits", length=None):
    """The logits of one forward, checked for type and shape."""
    b, t = req.arrays["x"].shape
    v = req.params["vocab_size"]
    expect.sequence(resp.value.get(result), "CharLSTM.forward should return the tuple (logits, state); it", 2)
    return expect.tensor(resp, name, f"logits of {config(req)}", shape=(b, t if length is None else length, v))


def state_of(expect, req, resp, pair="state", names=("h_n", "c_n")):
    """(h_n, c_n) of one forward, each [num_layers, batch, hidden]."""
    b = req.arrays["x"].shape[0]
    shape = (req.params["num_layers"], b, req.params["hidden_size"])
    expect.sequence(resp.value.get(pair), "CharLSTM's state should be the tuple (h_n, c_n); it", 2)
    return tuple(expect.tensor(resp, n, f"{n} of {config(req)}", shape=shape) for n in names)


def does_work(expect, req, resp) -> None:
    """Fail unless changing characters changes the logits from there on: the model reads its input.

    Causality and statefulness hold for a model that ignores its input; those checks award their
    points only to a CharLSTM whose logits depend on the characters it reads.
    """
    k = req.params["split"]
    logits = logits_of(expect, req, resp)
    changed = logits_of(expect, req, resp, "changed", "logits_changed")
    if expect.close(logits[:, k:], changed[:, k:], atol=1e-6, rtol=1e-6):
        expect.fail(f"For {config(req)}, other characters from position {k} on give the same logits: CharLSTM's "
                    "output does not depend on its input. Feed the embedded characters to the LSTM; this check "
                    "counts only for a model that reads what it is given.")


@pytest.mark.points(2)
@pytest.mark.tags("CharLSTM")
def test_charlstm_shapes(plan, probe, expect):
    """CharLSTM returns logits [batch, seq_len, vocab_size]"""
    for pid in expect.ids(plan, *RUNS):
        logits_of(expect, plan[pid], probe(pid))


@pytest.mark.points(2)
@pytest.mark.tags("CharLSTM")
def test_charlstm_state_shapes(plan, probe, expect):
    """CharLSTM returns the state (h_n, c_n), each [num_layers, batch, hidden_size]"""
    for pid in expect.ids(plan, *RUNS):
        state_of(expect, plan[pid], probe(pid))


@pytest.mark.points(2)
@pytest.mark.tags("CharLSTM")
def test_charlstm_causal(plan, probe, expect):
    """CharLSTM is causal: changing later characters leaves earlier logits unchanged"""
    for pid in expect.ids(plan, "CharLSTM/chunks/"):
        req, resp = plan[pid], probe(pid)
        does_work(expect, req, resp)
        k = req.params["split"]
        logits = logits_of(expect, req, resp)
        changed = logits_of(expect, req, resp, "changed", "logits_changed")
        if not expect.close(logits[:, :k], changed[:, :k], atol=1e-5, rtol=1e-5):
            expect.fail(f"For {config(req)}, changing the characters from position {k} on changed the logits before "
                        f"position {k}: the logits at step t may depend only on x[:, :t+1] (no bidirectional LSTM, "
                        "no look-ahead).")


@pytest.mark.points(2)
@pytest.mark.tags("CharLSTM")
def test_charlstm_stateful(plan, probe, expect):
    """CharLSTM on two chunks with the carried state equals one run"""
    for pid in expect.ids(plan, "CharLSTM/chunks/"):
        req, resp = plan[pid], probe(pid)
        does_work(expect, req, resp)
        k, t = req.params["split"], req.arrays["x"].shape[1]
        logits = logits_of(expect, req, resp)
        h_n, c_n = state_of(expect, req, resp)
        first = logits_of(expect, req, resp, "first", "logits_1", k)
        second = logits_of(expect, req, resp, "second", "logits_2", t - k)
        h_2, c_2 = state_of(expect, req, resp, "state_2", ("h_2", "c_2"))
        joined = np.concatenate([first, second], axis=1)
        if not (expect.close(joined, logits) and expect.close(h_2, h_n) and expect.close(c_2, c_n)):
            expect.fail(f"For {config(req)}, forward(x[:, :{k}]) then forward(x[:, {k}:], state) should equal one "
                        "forward over x: pass the given state to the LSTM and return its new state.")


@pytest.mark.points(1)
@pytest.mark.tags("CharLSTM")
def test_charlstm_logits(plan, probe, expect):
    """CharLSTM returns unnormalised logits (log-probabilities accepted), not probabilities"""
    pid = expect.ids(plan, "CharLSTM/chunks/")[0]
    does_work(expect, plan[pid], probe(pid))  # constant logits are not probabilities either
    probabilities = True
    for pid in expect.ids(plan, *RUNS):
        logits = logits_of(expect, plan[pid], probe(pid))
        probabilities &= bool(np.all(logits >= 0) and np.allclose(logits.sum(-1), 1.0, atol=1e-4))
    if probabilities:
        expect.fail("CharLSTM returns probabilities (every row sums to 1): return the linear layer's logits; "
                    "cross_entropy applies log-softmax itself.")


def dropout_config(req) -> str:
    p = req.params
    return (f"CharLSTM({p['vocab_size']}, embed_size={p['embed_size']}, hidden_size={p['hidden_size']}, "
            f"num_layers={p['num_layers']}, dropout={p['dropout']:g})")


@pytest.mark.points(1)
@pytest.mark.tags("CharLSTM")
def test_charlstm_dropout(plan, probe, expect):
    """CharLSTM applies dropout in training mode (one layer too), not in eval mode, and none with dropout=0"""
    for pid in expect.ids(plan, "CharLSTM/dropout/"):
        req, resp = plan[pid], probe(pid)
        b, t = req.arrays["x"].shape
        shape = (b, t, req.params["vocab_size"])
        got = {}
        for name in ("train_1", "train_2", "eval_1", "eval_2"):
            expect.sequence(resp.value.get(name), "CharLSTM.forward should return the tuple (logits, state); it", 2)
            got[name] = expect.tensor(resp, f"logits_{name}", f"logits of {dropout_config(req)}", shape=shape)
        if not expect.close(got["eval_1"], got["eval_2"], atol=1e-6, rtol=1e-6):
            expect.fail(f"{dropout_config(req)} in eval mode gave different logits for the same input: dropout must "
                        "be off after model.eval() (use nn.Dropout modules, not F.dropout with training=True).")
        random = not expect.close(got["train_1"], got["train_2"], atol=1e-6, rtol=1e-6)
        if req.params["dropout"] > 0 and not random:
            layers = "with one layer, " if req.params["num_layers"] == 1 else ""
            expect.fail(f"{dropout_config(req)} in training mode gave the same logits twice: {layers}dropout should "
                        "act on the embeddings and before the linear layer (nn.Dropout), whatever the number of "
                        "layers; nn.LSTM's own dropout only acts between layers.")
        if req.params["dropout"] == 0 and random:
            expect.fail(f"{dropout_config(req)} in training mode gave different logits for the same input: with "
                        "dropout=0 nothing should be random.")
