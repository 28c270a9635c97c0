"""Hidden checks: MyRNN, the RNN equation h_t = tanh(W x_t + U h_{t-1} + b) with nn.RNN's contract."""
from __future__ import annotations

import ast
import re

import numpy as np
import pytest

from autograder.lab_rnn import reference as ref

# Names that would hand the recurrence to PyTorch's own RNN.
BANNED = {"RNN", "RNNCell", "RNNBase", "rnn_tanh", "rnn_relu", "rnn_tanh_cell", "rnn_relu_cell", "_VF",
          "_VariableFunctions"}
BUILTIN_MODULES = "torch.nn.modules.rnn."


def config(req) -> str:
    b, t, i = req.arrays["x"].shape
    h = req.arrays["W"].shape[0]
    start = "with h0" if "h0" in req.arrays else "without h0"
    return f"batch={b}, seq_len={t}, input_size={i}, hidden_size={h}, {start}"


def outputs(expect, req, resp):
    """(output, h_n) of one forward, checked for type and shape."""
    b, t, _ = req.arrays["x"].shape
    h = req.arrays["W"].shape[0]
    expect.sequence(resp.value.get("result"), "MyRNN.forward should return the tuple (output, h_n); it", 2)
    output = expect.tensor(resp, "output", f"output ({config(req)})", shape=(b, t, h))
    h_n = expect.tensor(resp, "h_n", f"h_n ({config(req)})", shape=(1, b, h))
    return output, h_n


def diagnose(req, resp, output) -> str:
    """Name the likely mistake when MyRNN's output differs from nn.RNN's."""
    a = req.arrays
    h0 = a.get("h0")
    ref_out = ref.rnn_reference(a["x"], a["W"], a["U"], a["b"], h0)[0]
    where = f"for {config(req)}"
    if resp.value.get("W_bias") or resp.value.get("U_bias"):
        return (f"MyRNN differs from nn.RNN {where}: self.W and self.U must be nn.Linear(..., bias=False); "
                "b is the only bias.")
    if np.allclose(output, ref.rnn_reference(a["x"], a["W"], a["U"], np.zeros_like(a["b"]), h0)[0], atol=1e-4):
        return f"MyRNN differs from nn.RNN {where}: the bias b is missing from h_t = tanh(W x_t + U h_(t-1) + b)."
    if h0 is not None and np.allclose(output, ref.rnn_reference(a["x"], a["W"], a["U"], a["b"])[0], atol=1e-4):
        return f"MyRNN ignores h0 {where}: start from h0 when it is given (zeros only when h0 is None)."
    bad = [t for t in range(output.shape[1]) if not np.allclose(output[:, t], ref_out[:, t], atol=1e-4, rtol=1e-4)]
    step = bad[0] if bad else 0
    hint = ("check h_t = tanh(W x_t + U h_(t-1) + b) at the first step" if step == 0
            else "the first steps are right: check how h_(t-1) is carried from step to step")
    return (f"MyRNN's output differs from nn.RNN(batch_first=True) with the same weights {where}, "
            f"from step t={step} on (largest difference {np.max(np.abs(output - ref_out)):.3g}): {hint}.")


def check_values(expect, plan, probe, prefix) -> None:
    for pid in expect.ids(plan, prefix):
        req, resp = plan[pid], probe(pid)
        output, h_n = outputs(expect, req, resp)
        a = req.arrays
        ref_out, ref_h, _ = ref.rnn_reference(a["x"], a["W"], a["U"], a["b"], a.get("h0"))
        if not expect.close(output, ref_out):
            expect.fail(diagnose(req, resp, output))
        if not expect.close(h_n, ref_h):
            expect.fail(f"h_n differs from nn.RNN's final state for {config(req)}: h_n should be the last hidden "
                        "state, [1, batch, hidden].")


def does_work(expect, plan, probe) -> None:
    """Fail unless MyRNN's output depends on its input, the same way on the same input: it computes something.

    The consistency checks below (h_n against output, no built-in RNN) would hold for a forward that
    returns zeros of the right shapes; they award their points only to a MyRNN that does real work.
    """
    pid = expect.ids(plan, "MyRNN/depends/")[0]
    req, resp = plan[pid], probe(pid)
    output, _ = outputs(expect, req, resp)
    again = expect.tensor(resp, "output_again", f"output on the same x again ({config(req)})", shape=output.shape)
    changed = expect.tensor(resp, "output_changed", f"output on another x ({config(req)})", shape=output.shape)
    if not expect.close(again, output, atol=1e-6, rtol=1e-6):
        expect.fail(f"MyRNN gave two different outputs for the same x ({config(req)}): forward should compute "
                    "h_t = tanh(W x_t + U h_(t-1) + b) from its input, nothing random.")
    if expect.close(changed, output, atol=1e-6, rtol=1e-6):
        expect.fail(f"MyRNN's output does not depend on its input: another x gives the same output "
                    f"({config(req)}). This check counts only for a MyRNN that computes h_t = "
                    "tanh(W x_t + U h_(t-1) + b) from x.")


def loaded_grad(expect, resp, name: str, shape) -> np.ndarray:
    """The gradient of MyRNN.<name> in the grader's shape; a parameter with extra leading 1s (b [1, hidden])
    has its gradient in that shape, with the same numbers."""
    info = expect.described(resp.value.get(f"grad_{name}"))
    got = tuple(info.get("shape") or ())
    extra = len(got) - len(shape)
    if extra > 0 and got[extra:] == tuple(shape) and all(d == 1 for d in got[:extra]):
        return expect.tensor(resp, f"grad_{name}", f"the gradient of {name}", shape=got).reshape(shape)
    return expect.tensor(resp, f"grad_{name}", f"the gradient of {name}", shape=shape)


@pytest.mark.points(2)
@pytest.mark.tags("MyRNN")
def test_myrnn_shapes(plan, probe, expect):
    """MyRNN returns (output [batch, seq_len, hidden], h_n [1, batch, hidden])"""
    for pid in expect.ids(plan, "MyRNN/forward/", "MyRNN/h0/"):
        outputs(expect, plan[pid], probe(pid))


@pytest.mark.points(3)
@pytest.mark.tags("MyRNN")
def test_myrnn_matches_nn_rnn(plan, probe, expect):
    """MyRNN equals nn.RNN(batch_first=True) with the same weights"""
    check_values(expect, plan, probe, "MyRNN/forward/")


@pytest.mark.points(2)
@pytest.mark.tags("MyRNN")
def test_myrnn_with_h0(plan, probe, expect):
    """MyRNN starts from a given h0 like nn.RNN"""
    check_values(expect, plan, probe, "MyRNN/h0/")


@pytest.mark.points(1)
@pytest.mark.tags("MyRNN")
def test_myrnn_h_n_is_last_output(plan, probe, expect):
    """MyRNN's h_n[0] equals output[:, -1]"""
    does_work(expect, plan, probe)
    for pid in expect.ids(plan, "MyRNN/forward/", "MyRNN/h0/"):
        output, h_n = outputs(expect, plan[pid], probe(pid))
        if not expect.close(h_n[0], output[:, -1], atol=1e-6, rtol=1e-6):
            expect.fail(f"h_n[0] should equal output[:, -1] (the last step's hidden state) for {config(plan[pid])}.")


@pytest.mark.points(1)
@pytest.mark.tags("MyRNN")
def test_myrnn_chunks(plan, probe, expect):
    """MyRNN on two chunks with the carried state equals one run"""
    for pid in expect.ids(plan, "MyRNN/chunks/"):
        req, resp = plan[pid], probe(pid)
        a, k = req.arrays, req.params["split"]
        b, t, _ = a["x"].shape
        h = a["W"].shape[0]
        what = "MyRNN.forward should return the tuple (output, h_n); it"
        expect.sequence(resp.value.get("first"), what, 2)
        expect.sequence(resp.value.get("second"), what, 2)
        out1 = expect.tensor(resp, "output_1", "output of the first chunk", shape=(b, k, h))
        out2 = expect.tensor(resp, "output_2", "output of the second chunk", shape=(b, t - k, h))
        h2 = expect.tensor(resp, "h_2", "h_n of the second chunk", shape=(1, b, h))
        ref_out, ref_h, _ = ref.rnn_reference(a["x"], a["W"], a["U"], a["b"], a.get("h0"))
        if not (expect.close(np.concatenate([out1, out2], axis=1), ref_out) and expect.close(h2, ref_h)):
            expect.fail(f"Running x[:, :{k}] and then x[:, {k}:] starting from the returned h_n should equal one run "
                        f"over x ({config(req)}): forward(x, h0) must continue from h0.")


@pytest.mark.points(2)
@pytest.mark.tags("MyRNN")
def test_myrnn_gradients(plan, probe, expect):
    """Gradients reach MyRNN's W, U and b"""
    for pid in expect.ids(plan, "MyRNN/grad/"):
        req, resp = plan[pid], probe(pid)
        outputs(expect, req, resp)
        a = req.arrays
        _, _, grads = ref.rnn_reference(a["x"], a["W"], a["U"], a["b"], a["h0"], a["grad_out"], a["grad_h"])
        for name, shape, expected in zip(("W", "U", "b"), (a["W"].shape, a["U"].shape, a["b"].shape), grads):
            info = expect.described(resp.value.get(f"grad_{name}"))
            if info.get("type") != "torch.Tensor":
                expect.fail(f"No gradient reached MyRNN's {name} after backward(): use self.{name} inside forward, "
                            "and keep the computation in torch (no .detach(), .data or numpy).")
            grad = loaded_grad(expect, resp, name, shape)
            if not expect.close(grad, expected, atol=1e-3, rtol=1e-3):
                expect.fail(f"The gradient of {name} differs from nn.RNN's (largest difference "
                            f"{expect.max_diff(grad, expected):.3g}). If the outputs differ too, fix those first; "
                            "otherwise look for something detached or modified in place in forward.")


# A line magic, a shell escape or a cell-magic header (``%time``, ``!pip``, ``%%time``, ``x = !ls``).
IPYTHON_LINE = re.compile(r"^\s*[%!]|^\s*[\w.,\s]+=\s*[%!]")


def python_source(source: str) -> str:
    """The cell with its IPython-only lines blanked, so that it parses as Python (a cell magic's body stays)."""
    return "\n".join("" if IPYTHON_LINE.match(line) else line for line in source.splitlines())


def banned_names(source: str) -> set[str]:
    """Names in a cell that reach PyTorch's own RNN: identifiers, attributes, imports, getattr strings."""
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError:  # IPython syntax: fall back to whole words
        return {w for w in re.findall(r"[A-Za-z_]+", source) if w in BANNED}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.alias):
            found.update({node.name.split(".")[-1], node.asname or ""})
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value.strip())
    return found & BANNED


@pytest.mark.points(1)
@pytest.mark.tags("MyRNN")
def test_myrnn_no_builtin_rnn(plan, probe, expect, sources):
    """MyRNN computes the recurrence itself (no nn.RNN, nn.RNNCell or their functional forms)"""
    does_work(expect, plan, probe)
    resp = probe(expect.ids(plan, "MyRNN/forward/")[0])
    modules = resp.value.get("modules")
    if not isinstance(modules, list):
        expect.fail("MyRNN's modules could not be listed.")
    builtin = sorted({m.rsplit(".", 1)[-1] for m in modules if isinstance(m, str) and m.startswith(BUILTIN_MODULES)})
    if builtin:
        expect.fail(f"MyRNN contains {', '.join('nn.' + b for b in builtin)}: write the recurrence yourself with "
                    "self.W, self.U and self.b.")
    used = banned_names(sources.get("MyRNN", ""))
    if used:
        expect.fail(f"The MyRNN cell uses {', '.join(sorted(used))}: write the recurrence yourself, "
                    "without PyTorch's RNN.")
