"""run_threshold: the grader-run training call, the step-by-step held-out feeding and its scoring."""
from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from autograder.lab_rnn import threshold as th
from autograder.lab_rnn.worker import ops as worker_ops
from course.authoring.solution import solution_namespace
from course.config import Recipe, ThresholdSettings, load_config
from course.corpus import Corpus, default_corpus_text
from course.grader.inprocess import InProcessSession
from course.grader.probes import Response

OPS = Path(__file__).resolve().parents[2] / "autograder" / "lab_rnn" / "worker" / "ops.py"
SOLUTION = solution_namespace(load_config(), ["CharLSTM", "train_epoch"])  # the source notebook's answers
SETTINGS = ThresholdSettings(embed=8, hidden=16, seq_len=20, clip=1.0, chunk=2, heldout_streams=8,
                             candidate_lrs=(2e-3,), candidate_batches=(8,), candidate_steps=(4,),
                             calibration_seeds=(0,), margin=1.1, broken_margin=1.25, below_trigram=False,
                             suspicious_perplexity=2.66)
RECIPE = Recipe(lr=2e-3, batch=8, steps=3)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    text = default_corpus_text()[:24_000]
    return Corpus(name="pydoc sample", text=text, train=text[:21_000], heldout=text[21_000:], sha256="-")


class Recorder:
    """Wraps a session and keeps every request and response."""

    def __init__(self, session):
        self.session, self.log = session, []

    def call(self, request, timeout_s=None):
        resp = self.session.call(request, timeout_s)
        self.log.append((request, resp))
        return resp


class FakeWorker:
    """A worker that 'trains' instantly and answers each held-out step with logits from ``logits(t, x)``."""

    def __init__(self, logits, steps_taken: int = RECIPE.steps):
        self.logits, self.steps_taken, self.t = logits, steps_taken, 0

    def call(self, request, timeout_s=None):
        if request.op == "threshold_train":
            return Response(request.id, "ok", {"steps_taken": self.steps_taken})
        if request.op == "heldout_start":
            return Response(request.id, "ok")
        out = self.logits(self.t, request.arrays["x"])
        self.t += 1
        return Response(request.id, "ok", {}, {"logits": out})


def reference_session(**overrides) -> InProcessSession:
    torch.set_num_threads(1)
    namespace = {"CharLSTM": SOLUTION["CharLSTM"], "train_epoch": SOLUTION["train_epoch"], **overrides}
    return InProcessSession(namespace, [OPS])


def test_untrained_reference_is_near_the_vocabulary_size(corpus):
    result = th.run_threshold(reference_session(), corpus, SETTINGS, RECIPE, seed=0)
    vocab = len(set(corpus.train))
    assert result["status"] == "ok" and result["steps_taken"] == RECIPE.steps, result
    assert 0.8 * vocab < result["perplexity"] < 1.25 * vocab
    assert result["bpc"] == pytest.approx(math.log2(result["perplexity"]))
    assert result["suspicious"] is False


def test_heldout_targets_never_reach_the_worker_before_their_step(corpus):
    session = Recorder(reference_session())
    result = th.run_threshold(session, corpus, SETTINGS, RECIPE, seed=1)
    split = th.encode_split(corpus.train, corpus.heldout, SETTINGS.heldout_streams)
    (train_req, _), (start_req, _), *steps = session.log
    assert train_req.op == "threshold_train" and start_req.op == "heldout_start"
    np.testing.assert_array_equal(train_req.arrays["train"], split.train)  # the training split only
    assert len(split.train) == len(corpus.train)
    batch, m = split.streams.shape
    assert len(steps) == m - 1
    total = 0.0
    for t, (req, resp) in enumerate(steps):
        # Step t sends column t only: stream b's character t; its target, character t + 1, comes at step t + 1.
        assert req.op == "heldout_step" and list(req.arrays) == ["x"]
        np.testing.assert_array_equal(req.arrays["x"], split.streams[:, t])
        logp = torch.log_softmax(torch.from_numpy(resp.arrays["logits"]).double(), dim=-1).numpy()
        total -= logp[np.arange(batch), split.streams[:, t + 1]].sum()
    assert result["perplexity"] == pytest.approx(math.exp(total / (batch * (m - 1))), rel=1e-9)


def test_uniform_logits_score_exactly_the_vocabulary_size(corpus):
    vocab = len(set(corpus.train))
    worker = FakeWorker(lambda t, x: np.zeros((len(x), vocab), np.float32))
    result = th.run_threshold(worker, corpus, SETTINGS, RECIPE, seed=0)
    assert result["status"] == "ok"
    assert result["perplexity"] == pytest.approx(vocab, rel=1e-12)
    assert result["bpc"] == pytest.approx(math.log2(vocab), rel=1e-12)


def test_perfect_predictions_are_flagged_as_suspicious(corpus):
    split = th.encode_split(corpus.train, corpus.heldout, SETTINGS.heldout_streams)
    vocab = len(split.vocab)

    def cheat(t, x):
        logits = np.zeros((len(x), vocab), np.float32)
        logits[np.arange(len(x)), split.streams[:, t + 1]] = 30.0
        return logits

    result = th.run_threshold(FakeWorker(cheat), corpus, SETTINGS, RECIPE, seed=0)
    assert result["status"] == "ok" and result["perplexity"] < 1.001 and result["suspicious"] is True


def test_wrong_number_of_optimizer_steps_is_an_error(corpus):
    def twice(model, batches, optimizer, clip=1.0):
        SOLUTION["train_epoch"](model, batches, optimizer, clip)
        return SOLUTION["train_epoch"](model, batches, optimizer, clip)

    result = th.run_threshold(reference_session(train_epoch=twice), corpus, SETTINGS, RECIPE, seed=0)
    assert result["status"] == "error" and result["steps_taken"] == 2 * RECIPE.steps
    assert "6 optimizer steps for 3 windows" in result["message"]
    assert result["perplexity"] is not None


def test_a_failing_train_epoch_is_reported(corpus):
    def broken(model, batches, optimizer, clip=1.0):
        raise ValueError("shapes do not match")

    result = th.run_threshold(reference_session(train_epoch=broken), corpus, SETTINGS, RECIPE, seed=0)
    assert result["status"] == "error" and result["perplexity"] is None
    assert "shapes do not match" in result["message"]


@pytest.mark.parametrize("bad, phrase", [
    (lambda n, vocab: np.zeros((n, 2), np.float32), "should be float32 [8,"),
    (lambda n, vocab: np.zeros((n, vocab), np.float64), "should be float32 [8,"),
    (lambda n, vocab: np.full((n, vocab), np.nan, np.float32), "NaN"),
])
def test_unusable_logits_are_an_error(corpus, bad, phrase):
    vocab = len(set(corpus.train))
    result = th.run_threshold(FakeWorker(lambda t, x: bad(len(x), vocab)), corpus, SETTINGS, RECIPE, seed=0)
    assert result["status"] == "error" and phrase in result["message"] and result["perplexity"] is None


def test_heldout_characters_outside_the_training_vocabulary_are_dropped():
    split = th.encode_split("abcabcabc", "ab€cab€c", streams=2)
    assert split.vocab == ["a", "b", "c"]
    np.testing.assert_array_equal(split.streams, [[0, 1, 2], [0, 1, 2]])


def test_chunks_end_at_multiples_of_the_chunk_and_at_the_epochs_end():
    cuts, given = [], 0
    while given < 100:
        given = worker_ops.chunk_end(given, epoch=30, chunk=25)
        cuts.append(given)
    assert cuts == [25, 30, 50, 60, 75, 90, 100]


def test_a_shorter_run_is_exactly_the_start_of_a_longer_one(corpus):
    """Calibration scores one run at several step counts: each must equal a run straight to that count."""
    split = th.encode_split(corpus.train, corpus.heldout, SETTINGS.heldout_streams)
    one_run = th.run_checkpoints(reference_session(), split, SETTINGS, 2e-3, 8, [4, 6], seed=3)
    straight = th.run_checkpoints(reference_session(), split, SETTINGS, 2e-3, 8, [6], seed=3)
    assert [r["status"] for r in one_run] == ["ok", "ok"]
    assert one_run[1]["perplexity"] == straight[0]["perplexity"]  # bit for bit: the run was not disturbed
    assert one_run[1]["training_curve"] == straight[0]["training_curve"]
    assert one_run[0]["perplexity"] != one_run[1]["perplexity"]


def test_the_training_curve_has_one_point_per_train_epoch_call(corpus):
    recipe = Recipe(lr=2e-3, batch=8, steps=5)
    result = th.run_threshold(reference_session(), corpus, SETTINGS, recipe, seed=0)
    curve = result["training_curve"]
    assert curve["steps"] == [2, 4, 5]  # chunks of 2 windows; the run stops at 5
    assert all(isinstance(v, float) and 3.0 < v < 6.0 for v in curve["loss"])  # near ln(vocab) at the start
    assert result["recipe"] == {"lr": 2e-3, "batch": 8, "steps": 5}


def test_a_curve_keeps_numbers_only():
    value = {"curve_steps": [2, 4, 6, 8], "results": [{"type": "builtins.float", "value": 2.5},
                                                       {"type": "torch.Tensor", "shape": []},
                                                       {"type": "builtins.float", "value": "nan"},
                                                       {"type": "numpy.float64", "value": 1.5}]}
    assert th.training_curve(value) == {"steps": [2, 6, 8], "loss": [2.5, None, 1.5]}
    assert th.training_curve({"curve_steps": [1], "results": []}) is None


def test_heldout_feeding_gives_training_back_its_flags(corpus):
    """Between two trainings of one run, the held-out feeding's eval mode is undone, module by module."""
    split = th.encode_split(corpus.train, corpus.heldout, SETTINGS.heldout_streams)
    run = worker_ops.ThresholdRun(SOLUTION["CharLSTM"], SOLUTION["train_epoch"], torch.from_numpy(split.train),
                                  len(split.vocab), embed=8, hidden=16, batch=8, seq_len=20, lr=2e-3, clip=1.0,
                                  chunk=2, seed=0)
    run.model.head.eval()  # a module left in eval mode by the student's code stays so
    run.start_heldout()
    assert not any(m.training for m in run.model.modules())
    run.end_heldout()
    assert [m.training for m in run.model.modules()] == [m is not run.model.head for m in run.model.modules()]


def test_the_notebooks_estimate_cell_gives_the_graders_result(corpus):
    """The release's optional cell runs the grader's own code: on the solution it finds the grader's perplexity."""
    record = {"recipe": {"lr": 2e-3, "batch": 8, "steps": 5}, "threshold": 100.0}
    source = th.estimate_cell(record, SETTINGS, course_seed=7)
    assert th.grader_code() in source and "class ThresholdRun:" in source  # the grader's code, copied
    namespace = {"CharLSTM": SOLUTION["CharLSTM"], "train_epoch": SOLUTION["train_epoch"],
                 "train_text": corpus.train, "heldout_text": corpus.heldout}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, "<threshold-estimate>", "exec"), namespace)
    graded = th.run_threshold(reference_session(), corpus, SETTINGS, Recipe(2e-3, 8, 5), th.training_seed(7))
    assert graded["status"] == "ok" and namespace["estimate"] == graded["perplexity"]  # the same number, bit for bit
    assert namespace["optimizer_steps"] == 5
    assert f"Held-out perplexity {graded['perplexity']:.3f} after 5 windows" in printed.getvalue()
    assert "it reaches the threshold 100.000" in printed.getvalue()


def test_the_training_seed_is_derived_from_the_course_seed():
    assert th.training_seed(7) == th.training_seed(7) != th.training_seed(8)
    assert str(load_config().seed) not in th.estimate_cell({"recipe": {"lr": 1e-2, "batch": 8, "steps": 5},
                                                            "threshold": 5.0}, SETTINGS, load_config().seed)
