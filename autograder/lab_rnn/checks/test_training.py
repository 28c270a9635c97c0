"""Hidden checks: train_epoch, perplexity and generate, on the grader's own language models."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from autograder.lab_rnn import reference as ref
from autograder.lab_rnn.plan import DIST_LOGITS, LOW_TEMPERATURE


def windows(req) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(req.arrays[f"x{k}"], req.arrays[f"y{k}"]) for k in range(req.params["windows"])]


def calls_of(expect, resp) -> list[dict]:
    calls = resp.value.get("calls")
    if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
        expect.fail("The grader's model could not report how it was called.")
    return calls


def returned_params(expect, resp) -> dict[str, np.ndarray]:
    return {name: expect.tensor(resp, f"param_{name}", f"the model's {name} after training") for name in ref.LM_WEIGHTS}


# --- train_epoch --------------------------------------------------------------------------------------


def train_run(expect, plan, probe):
    """(request, response) of the recorded train_epoch run, failing when train_epoch raised."""
    pid = expect.ids(plan, "train_epoch/run/")[0]
    req, resp = plan[pid], probe(pid)
    error = resp.value.get("error")
    if error:
        expect.fail(f"train_epoch raised {str(error)[:300]}")
    return req, resp


@pytest.mark.points(2)
@pytest.mark.tags("train_epoch")
def test_train_epoch_detaches_state(plan, probe, expect):
    """train_epoch carries the state to the next window, detached"""
    pid = expect.ids(plan, "train_epoch/run/")[0]
    req, resp = plan[pid], probe(pid)
    calls = calls_of(expect, resp)
    if any(c.get("attached") for c in calls[1:]):
        expect.fail("The state entering the next window still carries the previous window's autograd graph: "
                    "detach it (h.detach(), c.detach()) before the next forward, so that backward stops at the "
                    "window boundary.")
    if resp.value.get("error"):
        expect.fail(f"train_epoch raised {str(resp.value['error'])[:300]}")
    n = req.params["windows"]
    if len(calls) != n:
        expect.fail(f"train_epoch should call the model once per window ({n} windows); "
                    f"it called it {len(calls)} times.")
    if not all(c.get("carried") for c in calls[1:]):
        expect.fail("train_epoch should pass the state returned by one window into the next window's forward "
                    "(truncated BPTT carries the state).")


@pytest.mark.points(1)
@pytest.mark.tags("train_epoch")
def test_train_epoch_training_mode(plan, probe, expect):
    """train_epoch puts the model in training mode (model.train()) before its forwards"""
    _, resp = train_run(expect, plan, probe)
    calls = calls_of(expect, resp)
    if not calls:
        expect.fail("train_epoch never called the model.")
    if any(c.get("training") is not True for c in calls):
        expect.fail("The model came in eval mode, as perplexity and generate leave it, and train_epoch ran it in eval "
                    "mode: call model.train() at the start of train_epoch, so that dropout acts while training.")


@pytest.mark.points(1)
@pytest.mark.tags("train_epoch")
def test_train_epoch_mean_loss(plan, probe, expect):
    """train_epoch returns the mean cross-entropy loss as a float"""
    req, resp = train_run(expect, plan, probe)
    value = expect.number(resp.value.get("result"), "train_epoch's return value")
    losses = [c.get("loss") for c in calls_of(expect, resp)]
    if len(losses) != req.params["windows"] or not all(isinstance(x, float) for x in losses):
        expect.fail("train_epoch should call the model once per window.")
    mean = float(np.mean(losses))
    if not math.isclose(value, mean, rel_tol=1e-4, abs_tol=1e-5):
        hint = ""
        if math.isclose(value, sum(losses), rel_tol=1e-4):
            hint = " It returned the sum; divide by the number of windows."
        elif math.isclose(value, losses[-1], rel_tol=1e-4):
            hint = " It returned the last window's loss."
        expect.fail(f"train_epoch should return the mean cross-entropy over the windows (nats per character).{hint}")


@pytest.mark.points(1)
@pytest.mark.tags("train_epoch")
def test_train_epoch_steps_and_clipping(plan, probe, expect):
    """train_epoch makes one optimizer step per window and clips the gradient norm"""
    req, resp = train_run(expect, plan, probe)
    norms = resp.value.get("grad_norms")
    if not isinstance(norms, list) or not all(isinstance(x, (int, float)) for x in norms):
        expect.fail("The optimizer's steps could not be recorded.")
    if len(norms) != req.params["windows"]:
        expect.fail(f"train_epoch should call optimizer.step() once per window ({req.params['windows']} windows); "
                    f"it did {len(norms)} times.")
    clip = req.params["clip"]
    if max(norms) > clip * (1 + 1e-3) + 1e-6:
        expect.fail(f"With clip={clip}, the gradient norm at optimizer.step() was {max(norms):.3g}: clip with "
                    "nn.utils.clip_grad_norm_(model.parameters(), clip) after backward() and before step().")
    # Every window's raw gradient here is several times the clip, so a clipped step sits at the clip;
    # a smaller norm means the step had no gradient to clip (no backward, or zero_grad after it).
    if min(norms) < clip * (1 - 1e-3):
        found = "no gradient" if min(norms) == 0 else f"a gradient norm of {min(norms):.3g}"
        expect.fail(f"optimizer.step() found {found} (with clip={clip} it should be {clip:g}): call "
                    "optimizer.zero_grad(), then loss.backward(), then clip, then optimizer.step(), in that order.")


@pytest.mark.points(1)
@pytest.mark.tags("train_epoch")
def test_train_epoch_update(plan, probe, expect, course_cfg):
    """train_epoch's updates equal truncated BPTT with zero_grad, backward, clipping and step"""
    req, resp = train_run(expect, plan, probe)
    got = returned_params(expect, resp)
    model = ref.lm_from_arrays(req.arrays, torch.float32)
    optimizer = ref.PlainSGD(model.parameters(), lr=req.params["lr"])
    train_epoch = ref.notebook_answer(course_cfg, "train_epoch")  # the expected updates: the solution's own
    batches = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in windows(req)]
    train_epoch(model, batches, optimizer, req.params["clip"])
    expected = ref.lm_param_arrays(model)
    worst = max(expect.max_diff(got[n], expected[n]) for n in ref.LM_WEIGHTS)
    if worst > 1e-4:
        expect.fail("After train_epoch the weights differ from one step of SGD per window on the mean "
                    f"cross-entropy (largest difference {worst:.3g}): each window needs optimizer.zero_grad(), "
                    "loss.backward(), clipping, then optimizer.step().")


@pytest.mark.points(1)
@pytest.mark.tags("train_epoch")
def test_train_epoch_learns(plan, probe, expect):
    """train_epoch lowers the loss of a learnable sequence over a few epochs"""
    pid = expect.ids(plan, "train_epoch/learn/")[0]
    req, resp = plan[pid], probe(pid)
    got = returned_params(expect, resp)
    if all(np.array_equal(got[n], req.arrays[n].astype(np.float64)) for n in ref.LM_WEIGHTS):
        expect.fail("train_epoch did not change the model's parameters: call optimizer.step() after backward().")
    batches = windows(req)
    before = ref.perplexity(ref.lm_from_arrays(req.arrays), batches)
    after = ref.perplexity(ref.lm_from_arrays(got), batches)
    if not math.log(after) < 0.8 * math.log(before):
        expect.fail(f"After {req.params['epochs']} epochs on a repeating sequence the loss went from "
                    f"{math.log(before):.3f} to {math.log(after):.3f} nats per character; it should fall clearly.")


# --- perplexity ----------------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.tags("perplexity")
def test_perplexity_uniform(plan, probe, expect):
    """perplexity of a uniform model equals the vocabulary size"""
    pid = expect.ids(plan, "perplexity/uniform/")[0]
    vocab = plan[pid].arrays["emb"].shape[0]
    value = expect.number(probe(pid).value.get("result"), "perplexity(model, batches)")
    if not math.isclose(value, vocab, rel_tol=1e-4):
        expect.fail(f"A model that gives every one of {vocab} characters the same probability has perplexity "
                    f"{vocab}; got {value:.4g}. Perplexity is exp(mean negative log-likelihood per character).")


def perplexity_diagnosis(model, batches, value: float) -> str:
    parts = ref.window_nll(model, batches)
    per_window = [n / c for n, c in parts]
    if math.isclose(value, float(np.mean(np.exp(per_window))), rel_tol=1e-4):
        return " It averages the windows' perplexities; average the NLL over all characters, then take exp."
    if math.isclose(value, math.exp(float(np.mean(per_window))), rel_tol=1e-4):
        return " It weights every window equally; average over all target characters (windows differ in length)."
    no_carry = math.exp(sum(n for b in batches for n, _ in ref.window_nll(model, [b])) / sum(c for _, c in parts))
    if math.isclose(value, no_carry, rel_tol=1e-4):
        return " It restarts the state at every window; carry it across windows."
    return ""


@pytest.mark.points(2)
@pytest.mark.tags("perplexity")
def test_perplexity_matches_reference(plan, probe, expect):
    """perplexity equals exp of the mean NLL over all characters, the state carried across windows"""
    for pid in expect.ids(plan, "perplexity/model/"):
        req = plan[pid]
        value = expect.number(probe(pid).value.get("result"), "perplexity(model, batches)")
        model, batches = ref.lm_from_arrays(req.arrays), windows(req)
        expected = ref.perplexity(model, batches)
        if not math.isclose(value, expected, rel_tol=1e-4):
            expect.fail(f"perplexity of a grader model differs from the expected value (relative difference "
                        f"{abs(value - expected) / expected:.2g}).{perplexity_diagnosis(model, batches, value)}")


def expect_eval_no_grad(expect, resp, symbol: str, why: str) -> None:
    """Fail unless every call of the grader's model in ``resp`` ran in eval mode without gradients."""
    calls = calls_of(expect, resp)
    if not calls:
        expect.fail(f"{symbol} never called the model.")
    if any(c.get("training") is not False for c in calls):
        expect.fail(f"{symbol} should put the model in eval mode (model.eval()) so that dropout is off.")
    if any(c.get("grad_enabled") is not False for c in calls):
        expect.fail(f"{symbol} should run the model under torch.no_grad(): {why}.")


@pytest.mark.points(1)
@pytest.mark.tags("perplexity")
def test_perplexity_eval_no_grad(plan, probe, expect):
    """perplexity runs the model in eval mode, without gradients, and leaves it unchanged"""
    for pid in expect.ids(plan, "perplexity/"):
        resp = probe(pid)
        expect_eval_no_grad(expect, resp, "perplexity", "no autograd graph is needed to evaluate")
        if resp.value.get("params_changed") is not False:
            expect.fail("perplexity changed the model's parameters; it must only evaluate.")


# --- generate --------------------------------------------------------------------------------------


def samples_of(expect, plan, probe, pid) -> list[str]:
    """The generated strings of one probe, each checked: a str, the prefix kept, the right length."""
    req = plan[pid]
    prefix, length = req.params["prefix"], req.params["length"]
    samples = probe(pid).value.get("samples")
    if not isinstance(samples, list) or len(samples) != len(req.params["seeds"]):
        expect.fail("generate's samples could not be read back.")
    out = []
    for sample in samples:
        text = expect.string(sample, "generate(...)")
        if not text.startswith(prefix):
            expect.fail(f"generate(model, {prefix!r}, {length}, ...) should start with the prefix {prefix!r}.")
        if len(text) != len(prefix) + length:
            expect.fail(f"generate(model, {prefix!r}, {length}, ...) should return the prefix and {length} new "
                        f"characters ({len(prefix) + length} in all); got {len(text)}.")
        out.append(text)
    return out


def first_clear_deviation(model, req, text: str, tolerance: float) -> int | None:
    """Index of the first generated character that is not the greedy choice although it clearly
    should be (the best logit beats the second by more than ``tolerance``); None if there is none."""
    idx = {c: i for i, c in enumerate(req.params["idx2char"])}
    prefix = [idx[c] for c in req.params["prefix"]]
    greedy, margins = ref.greedy_path(model, prefix, req.params["length"])
    for k, (want, margin) in enumerate(zip(greedy, margins)):
        got = idx.get(text[len(req.params["prefix"]) + k])
        if got != want:
            return k if margin > tolerance else None
    return None


@pytest.mark.points(1)
@pytest.mark.tags("generate")
def test_generate_prefix_and_length(plan, probe, expect):
    """generate returns the prefix followed by `length` characters"""
    for pid in expect.ids(plan, "generate/"):
        samples_of(expect, plan, probe, pid)


@pytest.mark.points(1)
@pytest.mark.tags("generate")
def test_generate_vocabulary(plan, probe, expect):
    """generate only produces characters of the vocabulary"""
    for pid in expect.ids(plan, "generate/"):
        vocab = set(plan[pid].params["idx2char"])
        for text in samples_of(expect, plan, probe, pid):
            extra = sorted(set(text[len(plan[pid].params["prefix"]):]) - vocab)
            if extra:
                expect.fail(f"generate produced characters outside idx2char: {extra[:5]}; map every sampled index "
                            "through idx2char.")


@pytest.mark.points(1)
@pytest.mark.tags("generate")
def test_generate_eval_no_grad(plan, probe, expect):
    """generate runs the model in eval mode, without gradients"""
    for pid in expect.ids(plan, "generate/greedy/"):
        expect_eval_no_grad(expect, probe(pid), "generate", "sampling needs no autograd graph")


@pytest.mark.points(1)
@pytest.mark.tags("generate")
def test_generate_greedy(plan, probe, expect):
    """generate with temperature 0 is the greedy (argmax) continuation"""
    for pid in expect.ids(plan, "generate/greedy/"):
        req = plan[pid]
        (text,) = samples_of(expect, plan, probe, pid)
        k = first_clear_deviation(ref.lm_from_arrays(req.arrays), req, text, tolerance=1e-4)
        if k is not None:
            expect.fail(f"With temperature 0, generate(model, {req.params['prefix']!r}, {req.params['length']}, ...) "
                        f"should pick the most likely character at every step; new character {k + 1} is not the "
                        "argmax. Feed the prefix, then each chosen character, carrying the state.")


def sample_frequencies(text: str, req) -> np.ndarray:
    idx = {c: i for i, c in enumerate(req.params["idx2char"])}
    counts = np.bincount([idx[c] for c in text[len(req.params["prefix"]):] if c in idx], minlength=len(idx))
    return counts / max(counts.sum(), 1)


@pytest.mark.points(1)
@pytest.mark.tags("generate")
def test_generate_temperature(plan, probe, expect):
    """generate honours the temperature (low: near greedy; sampling follows softmax(logits / temperature))"""
    for pid in expect.ids(plan, "generate/low/"):
        req = plan[pid]
        (text,) = samples_of(expect, plan, probe, pid)
        if first_clear_deviation(ref.lm_from_arrays(req.arrays), req, text, tolerance=20 * LOW_TEMPERATURE) is not None:
            expect.fail(f"With temperature {LOW_TEMPERATURE}, generate should almost always pick the most likely "
                        "character; it does not: divide the logits by the temperature before the softmax.")
    spread = samples_of(expect, plan, probe, expect.ids(plan, "generate/spread/")[0])
    if len(set(spread)) == 1:
        expect.fail("With temperature 1.5 and different random seeds, generate gave the same text every time: "
                    "sample the next character (torch.multinomial) instead of taking the argmax.")
    logits = np.asarray(DIST_LOGITS)
    for pid in expect.ids(plan, "generate/dist/"):
        req = plan[pid]
        temperature = req.params["temperature"]
        (text,) = samples_of(expect, plan, probe, pid)
        freq = sample_frequencies(text, req)

        def gap(t: float, freq: np.ndarray = freq) -> float:
            p = np.exp(logits / t - np.max(logits / t))
            return 0.5 * float(np.abs(freq - p / p.sum()).sum())

        if gap(temperature) > 0.08:
            hint = ""
            if gap(1.0) < gap(temperature):
                hint = " Your samples look like temperature 1: the temperature is ignored."
            elif gap(1.0 / temperature) < gap(temperature):
                hint = " Your samples look like the logits were multiplied by the temperature; divide them."
            expect.fail(f"At temperature {temperature}, the sampled characters should follow "
                        f"softmax(logits / {temperature}); they do not.{hint}")
