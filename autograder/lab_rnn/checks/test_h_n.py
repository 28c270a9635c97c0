"""Hidden checks: what nn.RNN / nn.GRU / nn.LSTM return (output versus h_n), checked on real outputs."""
from __future__ import annotations

import numpy as np
import pytest

from autograder.lab_rnn import reference as ref


def shape_config(args, kwargs) -> str:
    names = ("batch_size", "seq_len", "input_size", "hidden_size")
    parts = [f"{n}={v}" for n, v in zip(names, args)] + [f"{k}={v}" for k, v in kwargs.items()]
    return ", ".join(parts)


def shapes_of(expect, plan, probe, pid):
    """(returned output shape, h_n shape, reference pair, call description)."""
    req = plan[pid]
    args, kwargs = req.params["args"], req.params["kwargs"]
    what = f"rnn_output_shapes({shape_config(args, kwargs)})"
    items = expect.sequence(probe(pid).value.get("result"), f"{what} should return (output_shape, h_n_shape); it", 2)
    got = (expect.ints(items[0], f"{what}[0]"), expect.ints(items[1], f"{what}[1]"))
    return got, ref.builtin_shapes(*args, **kwargs), what


@pytest.mark.points(3)
@pytest.mark.tags("rnn_output_shapes")
def test_rnn_output_shapes_output(plan, probe, expect):
    """rnn_output_shapes gives nn.RNN's output shape (layers, directions, batch_first)"""
    for pid in expect.ids(plan, "rnn_output_shapes/"):
        (out, _), (ref_out, _), what = shapes_of(expect, plan, probe, pid)
        if out == ref_out:
            continue
        kwargs = plan[pid].params["kwargs"]
        b, t, _, h = plan[pid].params["args"]
        dirs = 2 if kwargs.get("bidirectional") else 1
        hint = ("output is [batch, seq_len, num_directions * hidden_size] with batch_first=True, "
                "else [seq_len, batch, ...]")
        if len(out) == 3 and out[-1] == h and dirs == 2:
            hint = ("a bidirectional RNN concatenates both directions in output's last dimension: "
                    "num_directions * hidden_size")
        elif sorted(out) == sorted(ref_out):
            hint = ("the sizes are right but their order is not: batch_first decides whether output is "
                    "[batch, seq_len, ...] or [seq_len, batch, ...]")
        elif len(out) == 3 and kwargs.get("num_layers", 1) > 1 and out[-1] == kwargs["num_layers"] * dirs * h:
            hint = "output holds only the top layer's states; the layers do not add to its size"
        expect.fail(f"{what}: output shape should be {ref_out}; got {out}. Hint: {hint}.")


@pytest.mark.points(3)
@pytest.mark.tags("rnn_output_shapes")
def test_rnn_output_shapes_h_n(plan, probe, expect):
    """rnn_output_shapes gives nn.RNN's h_n shape: [num_layers * num_directions, batch, hidden]"""
    for pid in expect.ids(plan, "rnn_output_shapes/"):
        (_, h_n), (_, ref_h), what = shapes_of(expect, plan, probe, pid)
        if h_n == ref_h:
            continue
        layers_dirs, b, h = ref_h
        hint = "h_n is [num_layers * num_directions, batch, hidden_size]"
        if h_n == (b, layers_dirs, h):
            hint = ("h_n is never batch-first: batch_first only changes input and output, "
                    "h_n stays [num_layers * num_directions, batch, hidden_size]")
        elif len(h_n) == 3 and h_n[1:] == (b, h) and h_n[0] in (plan[pid].params["kwargs"].get("num_layers", 1), 1):
            hint = "h_n holds one final state per layer AND per direction: num_layers * num_directions"
        expect.fail(f"{what}: h_n shape should be {ref_h}; got {h_n}. Hint: {hint}.")


def case_text(case: dict) -> str:
    return (f"nn.{case['kind']}(num_layers={case['num_layers']}, bidirectional={case['bidirectional']}, "
            f"batch_first={case['batch_first']}) with batch={case['batch']}, hidden_size={case['hidden_size']}")


def top_layer_diagnosis(h_n: np.ndarray, y: np.ndarray, layers: int, bidirectional: bool) -> str:
    """The classic mistakes of picking the final state from h_n."""
    dirs = 2 if bidirectional else 1
    view = h_n.reshape(layers, dirs, *h_n.shape[1:])
    if bidirectional and y.shape == h_n[-1].shape and np.allclose(y, h_n[-1]):
        return ("h_n[-1] is only the last layer's BACKWARD direction; for a bidirectional net concatenate "
                "the last layer's forward state h_n[-2] and backward state h_n[-1]")
    if bidirectional and y.shape == (h_n.shape[1], 2 * h_n.shape[2]) and np.allclose(
            y, np.concatenate([view[-1, 1], view[-1, 0]], -1)):
        return "forward direction first, then backward"
    first = np.concatenate(list(view[0]), -1)  # [batch, dirs * hidden]
    if layers > 1 and y.shape == first.shape and np.allclose(y, first):
        return "that is the FIRST layer's state; h_n lists layer 0 first, so the last layer comes last"
    if bidirectional and y.size == h_n[-2:].size and np.allclose(y.ravel(), h_n[-2:].ravel()):
        return ("reshaping h_n[-2:] to [batch, -1] mixes batch and direction; "
                "put the two [batch, hidden] states side by side")
    return ("h_n[-num_directions:] holds the last layer's final states, one [batch, hidden] per direction: "
            "put them side by side")


@pytest.mark.points(3)
@pytest.mark.tags("top_layer_final_state")
def test_top_layer_final_state_unidirectional(plan, probe, expect):
    """top_layer_final_state picks the last layer's final state (one direction)"""
    check_top_layer(plan, probe, expect, bidirectional=False)


@pytest.mark.points(3)
@pytest.mark.tags("top_layer_final_state")
def test_top_layer_final_state_bidirectional(plan, probe, expect):
    """top_layer_final_state picks the last layer's forward and backward states"""
    check_top_layer(plan, probe, expect, bidirectional=True)


def check_top_layer(plan, probe, expect, bidirectional: bool) -> None:
    for pid in expect.ids(plan, "top_layer_final_state/"):
        req = plan[pid]
        if req.params["bidirectional"] != bidirectional:
            continue
        h_n, layers = req.arrays["h_n"], req.params["num_layers"]
        y = expect.tensor(probe(pid), "y", f"top_layer_final_state for {case_text(req.params['case'])}")
        expected = ref.top_layer_state(h_n, layers, bidirectional)
        if not expect.close(y, expected, atol=1e-6, rtol=1e-6):
            expect.fail(f"top_layer_final_state for {case_text(req.params['case'])} should be "
                        f"{expect.fmt_shape(expected.shape)}, got {expect.fmt_shape(y.shape)} with different values: "
                        f"{top_layer_diagnosis(h_n, y, layers, bidirectional)}.")


def output_diagnosis(output: np.ndarray, y: np.ndarray, bidirectional: bool) -> str:
    """The classic mistakes of reading the final state off output."""
    hidden = output.shape[-1] // (2 if bidirectional else 1)
    if bidirectional and y.shape == output[:, -1].shape and np.allclose(y, output[:, -1]):
        return ("output[:, -1] holds the backward direction's state after only ONE step (it runs from the end); "
                "take the forward half at the last step, output[:, -1, :hidden], and the backward half at the "
                "first step, output[:, 0, hidden:]")
    if y.shape == output[:, 0].shape and np.allclose(y, output[:, 0]):
        return "output[:, 0] is the first step; the forward direction ends at the last step"
    if bidirectional and y.shape == output[:, 0].shape and np.allclose(
            y, np.concatenate([output[:, 0, hidden:], output[:, -1, :hidden]], -1)):
        return "forward half first, then backward"
    return ("output is batch-first: [batch, seq_len, num_directions * hidden]; the forward half ends at the last "
            "step, the backward half at the first")


def check_output(plan, probe, expect, bidirectional: bool) -> None:
    for pid in expect.ids(plan, "final_state_from_output/"):
        req = plan[pid]
        if req.params["bidirectional"] != bidirectional:
            continue
        output = req.arrays["output"]
        y = expect.tensor(probe(pid), "y", f"final_state_from_output for {case_text(req.params['case'])}")
        expected = ref.state_from_output(output, bidirectional)
        if not expect.close(y, expected, atol=1e-6, rtol=1e-6):
            expect.fail(f"final_state_from_output for the batch-first output of {case_text(req.params['case'])} "
                        f"should equal the last layer's final state {expect.fmt_shape(expected.shape)}: "
                        f"{output_diagnosis(output, y, bidirectional)}.")


@pytest.mark.points(3)
@pytest.mark.tags("final_state_from_output")
def test_final_state_from_output_unidirectional(plan, probe, expect):
    """final_state_from_output equals the final state (one direction)"""
    check_output(plan, probe, expect, bidirectional=False)


@pytest.mark.points(3)
@pytest.mark.tags("final_state_from_output")
def test_final_state_from_output_bidirectional(plan, probe, expect):
    """final_state_from_output equals the final state (forward at the last step, backward at the first)"""
    check_output(plan, probe, expect, bidirectional=True)
