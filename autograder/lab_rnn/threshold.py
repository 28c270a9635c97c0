"""The perplexity threshold: train the student's CharLSTM in the worker, score the held-out text here.

The vocabulary is the training split's sorted characters; held-out characters absent from
it are dropped from the held-out text before scoring (the reference, the calibration and
the trigram baseline use the same rule). The held-out text is cut into ``batch`` streams
that share no character; the trusted side sends one column of characters per call and
scores the returned logits itself, so a target never reaches the worker before the step
that predicts it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from course.grader.probes import ProbeRequest, Response

CLIP = 1.0
DEFAULT_TRAIN_TIMEOUT_S = 420.0
STEP_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Split:
    """A corpus encoded for the threshold: training indices and held-out streams."""

    vocab: list[str]
    train: np.ndarray  # [n_train] int64
    streams: np.ndarray  # [batch, m] int64: inputs are columns 0..m-2, targets columns 1..m-1


def encode_split(train_text: str, heldout_text: str, batch: int) -> Split:
    """Encode train and held-out text with the training vocabulary and cut the held-out streams.

    Args:
        train_text: the training split.
        heldout_text: the held-out split; characters outside the training vocabulary are dropped.
        batch: number of held-out streams.

    Returns:
        A Split; each stream holds m = len(heldout) // batch consecutive characters.
    """
    vocab = sorted(set(train_text))
    index = {c: i for i, c in enumerate(vocab)}
    train = np.fromiter((index[c] for c in train_text), dtype=np.int64, count=len(train_text))
    held = np.array([index[c] for c in heldout_text if c in index], dtype=np.int64)
    m = len(held) // batch
    if m < 2:
        raise ValueError(f"The held-out text is too short for {batch} streams.")
    return Split(vocab, train, held[: batch * m].reshape(batch, m))


def train_request(split: Split, settings, seed: int, timeout_s: float) -> ProbeRequest:
    params = {"vocab_size": len(split.vocab), "embed": settings.embed, "hidden": settings.hidden,
              "batch": settings.batch, "seq_len": settings.seq_len, "lr": settings.lr, "steps": settings.steps,
              "seed": seed, "clip": CLIP}
    return ProbeRequest("threshold/train", "threshold_train", params, {"train": split.train}, timeout_s)


def score_logits(resp: Response, batch: int, vocab: int) -> np.ndarray:
    """The validated logits [batch, vocab] of one held-out step, as float64."""
    logits = resp.arrays.get("logits")
    if not isinstance(logits, np.ndarray) or logits.dtype != np.float32 or logits.shape != (batch, vocab):
        got = f"{logits.dtype} {list(logits.shape)}" if isinstance(logits, np.ndarray) else "nothing"
        raise ValueError(f"CharLSTM's logits for one step should be float32 [{batch}, {vocab}]; got {got}.")
    if not np.isfinite(logits).all():
        raise ValueError("CharLSTM's logits contain NaN or infinity on the held-out text.")
    return logits.astype(np.float64)


def heldout_nll(session, split: Split, step_timeout_s: float = STEP_TIMEOUT_S) -> tuple[float, int]:
    """Feed the held-out streams one column per call; (summed NLL in nats, number of targets).

    Raises:
        ValueError: a step failed or returned unusable logits (message for the student).
    """
    batch, m = split.streams.shape
    start = session.call(ProbeRequest("threshold/heldout_start", "heldout_start"), step_timeout_s)
    if not start.ok:
        raise ValueError(start.message or f"the held-out evaluation could not start ({start.status})")
    rows = np.arange(batch)
    total = 0.0
    for t in range(m - 1):
        resp = session.call(ProbeRequest(f"threshold/heldout/{t}", "heldout_step", {},
                                         {"x": np.ascontiguousarray(split.streams[:, t])}), step_timeout_s)
        if not resp.ok:
            raise ValueError(f"held-out step {t}: {resp.message or resp.status}")
        logits = score_logits(resp, batch, len(split.vocab))
        top = logits.max(axis=1, keepdims=True)
        logsumexp = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        total += float((logsumexp - logits[rows, split.streams[:, t + 1]]).sum())
    return total, batch * (m - 1)


def run_threshold(session, corpus, settings, seed: int, *, timeout_s: float | None = None,
                  step_timeout_s: float = STEP_TIMEOUT_S) -> dict[str, Any]:
    """Train the student's CharLSTM with their train_epoch for ``settings.steps`` windows; measure it.

    Args:
        session: ``call(request, timeout_s) -> Response`` (the submission's worker).
        corpus: a course.corpus.Corpus (train / held-out split).
        settings: course.config.ThresholdSettings.
        seed: torch seed for the model's initialisation.
        timeout_s: wall-time limit of the training call (default 420 s).
        step_timeout_s: wall-time limit of each held-out step.

    Returns:
        {status, perplexity, bpc, steps_taken, train_seconds, message, suspicious}; status is
        ``ok`` when a perplexity was measured and the training made one step per window.
    """
    result: dict[str, Any] = {"status": "error", "perplexity": None, "bpc": None, "steps_taken": None,
                              "train_seconds": None, "message": "", "suspicious": False}
    split = encode_split(corpus.train, corpus.heldout, settings.batch)
    started = time.monotonic()
    resp = session.call(train_request(split, settings, seed, timeout_s or DEFAULT_TRAIN_TIMEOUT_S),
                        timeout_s or DEFAULT_TRAIN_TIMEOUT_S)
    result["train_seconds"] = round(time.monotonic() - started, 2)
    if not resp.ok:
        why = resp.message or resp.status
        result.update(status=resp.status, message=f"Training your CharLSTM with your train_epoch failed: {why}")
        return result
    steps = resp.value.get("steps_taken")
    result["steps_taken"] = steps if isinstance(steps, int) and not isinstance(steps, bool) else None
    try:
        total, count = heldout_nll(session, split, step_timeout_s)
    except ValueError as exc:
        result["message"] = f"Measuring the held-out perplexity failed: {exc}"
        return result
    nll = total / count
    result.update(perplexity=math.exp(nll), bpc=nll / math.log(2), status="ok",
                  suspicious=math.exp(nll) < settings.suspicious_perplexity)
    if result["steps_taken"] != settings.steps:
        result.update(status="error", message=(
            f"train_epoch made {result['steps_taken']} optimizer steps for {settings.steps} windows; it must make "
            "exactly one step per window with the optimizer it is given."))
    return result
