"""Hidden checks: lstm_cell, one LSTM step equal to nn.LSTMCell."""
from __future__ import annotations

import numpy as np
import pytest

from autograder.lab_rnn import reference as ref

INPUTS = ("x_t", "h_prev", "c_prev", "W_ih", "W_hh", "b_ih", "b_hh")


def config(req) -> str:
    b, i = req.arrays["x_t"].shape
    return f"batch={b}, input_size={i}, hidden_size={req.arrays['h_prev'].shape[1]}"


def step(expect, req, resp):
    """(h_t, c_t) of one probe, checked for type and shape."""
    shape = req.arrays["h_prev"].shape
    expect.sequence(resp.value.get("result"), "lstm_cell should return the tuple (h_t, c_t); it", 2)
    h_t = expect.tensor(resp, "h_t", f"h_t ({config(req)})", shape=shape)
    c_t = expect.tensor(resp, "c_t", f"c_t ({config(req)})", shape=shape)
    return h_t, c_t


def diagnose(req, h_t, c_t) -> str:
    """Name the mistake: a gate order, h from c without tanh, swapped outputs."""
    inputs = [req.arrays[n] for n in INPUTS]
    ref_h, ref_c = ref.lstm_cell_reference(*inputs)
    for order, h, c in ref.lstm_gate_permutations(*inputs):
        if np.allclose(h_t, h, atol=1e-4) and np.allclose(c_t, c, atol=1e-4):
            return (f"lstm_cell reads the four stacked gate blocks as ({', '.join(order)}); PyTorch stacks them as "
                    f"({', '.join(ref.GATES)}).")
    if np.allclose(h_t, ref_c, atol=1e-4) and np.allclose(c_t, ref_h, atol=1e-4):
        return "lstm_cell returns (c_t, h_t); the order is (h_t, c_t)."
    if np.allclose(c_t, ref_c, atol=1e-4):
        return f"c_t is right but h_t differs from nn.LSTMCell ({config(req)}): h_t = o * tanh(c_t)."
    return (f"lstm_cell differs from nn.LSTMCell with the same weights ({config(req)}; largest difference "
            f"{max(np.max(np.abs(h_t - ref_h)), np.max(np.abs(c_t - ref_c))):.3g}): check the gates "
            "i, f, o = sigmoid(...), g = tanh(...), c_t = f * c_prev + i * g, h_t = o * tanh(c_t).")


@pytest.mark.points(2)
@pytest.mark.tags("lstm_cell")
def test_lstm_cell_shapes(plan, probe, expect):
    """lstm_cell returns (h_t, c_t), each [batch, hidden]"""
    for pid in expect.ids(plan, "lstm_cell/"):
        step(expect, plan[pid], probe(pid))


@pytest.mark.points(4)
@pytest.mark.tags("lstm_cell")
def test_lstm_cell_matches_lstmcell(plan, probe, expect):
    """lstm_cell equals nn.LSTMCell with the same weights"""
    for pid in expect.ids(plan, "lstm_cell/"):
        req = plan[pid]
        h_t, c_t = step(expect, req, probe(pid))
        ref_h, ref_c = ref.lstm_cell_reference(*(req.arrays[n] for n in INPUTS))
        if not (expect.close(h_t, ref_h) and expect.close(c_t, ref_c)):
            expect.fail(diagnose(req, h_t, c_t))


@pytest.mark.points(2)
@pytest.mark.tags("lstm_cell")
def test_lstm_cell_gradients(plan, probe, expect):
    """Gradients flow through lstm_cell to its inputs and weights"""
    for pid in expect.ids(plan, "lstm_cell/grad/"):
        req, resp = plan[pid], probe(pid)
        step(expect, req, resp)
        expected = ref.lstm_cell_grads(req.arrays, req.arrays["grad_h"], req.arrays["grad_c"])
        for name in INPUTS:
            if expect.described(resp.value.get(f"grad_{name}")).get("type") != "torch.Tensor":
                expect.fail(f"No gradient reached {name}: keep lstm_cell in torch operations "
                            "(no .detach(), .data, numpy or in-place changes of the inputs).")
            grad = expect.tensor(resp, f"grad_{name}", f"the gradient of {name}", shape=req.arrays[name].shape)
            if not expect.close(grad, expected[name], atol=1e-3, rtol=1e-3):
                expect.fail(f"The gradient of {name} differs from nn.LSTMCell's. If the values differ too, fix "
                            "those first; otherwise look for something detached inside lstm_cell.")
