"""`course calibrate`: run the reference solution through the threshold pipeline and write calibration.json.

The threshold is the worst reference seed's held-out perplexity times CALIBRATION_MARGIN.
It must stay below the held-out perplexity of an interpolated trigram model (Jelinek-Mercer,
with its weights chosen on the held-out text itself, the most favourable setting for the
trigram) so that a model that remembers two characters or fewer cannot pass.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from course.authoring.solution import solution_namespace
from course.config import CourseConfig, load_config
from course.corpus import Corpus, load_course_corpus
from course.grader.calibration import CalibrationError, calibration_key
from course.grader.inprocess import InProcessSession
from course.grader.lab import lab_module, op_module_paths

LAMBDA_STEP = 0.05  # grid of the trigram's interpolation weights


def _counts(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys, counts = np.unique(codes, return_counts=True)
    return keys, counts.astype(np.float64)


def _lookup(keys: np.ndarray, counts: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """counts[key] for each code (0 where the key was never seen)."""
    pos = np.clip(np.searchsorted(keys, codes), 0, max(len(keys) - 1, 0))
    return np.where(keys[pos] == codes, counts[pos], 0.0) if len(keys) else np.zeros(len(codes))


def trigram_perplexity(train: np.ndarray, streams: np.ndarray, vocab: int) -> tuple[float, tuple[float, float, float]]:
    """Held-out perplexity of an interpolated trigram model on the threshold's targets.

    p(c | a, b) = l3 p3 + l2 p2 + l1 p1, with p3 and p2 maximum-likelihood estimates (an unseen
    context falls back to the lower order) and p1 add-one smoothed; the weights are the best
    on the held-out text over a grid of step LAMBDA_STEP.

    Args:
        train: training indices [n] int64.
        streams: held-out streams [batch, m]; the targets are columns 1..m-1, each with its
            two preceding characters of the held-out text as context.
        vocab: vocabulary size.

    Returns:
        (perplexity, (l3, l2, l1)).
    """
    V = np.int64(vocab)
    a, b, c = train[:-2], train[1:-1], train[2:]
    k3, n3 = _counts((a * V + b) * V + c)
    k3c, n3c = _counts(a * V + b)  # trigram contexts
    k2, n2 = _counts(train[:-1] * V + train[1:])
    k2c, n2c = _counts(train[:-1])
    k1, n1 = _counts(train)

    batch, m = streams.shape
    full = np.concatenate([train[-2:], streams.ravel()])  # the held-out text, after the training tail
    targets = (np.arange(batch)[:, None] * m + np.arange(1, m)[None, :]).ravel()  # flat positions scored
    ta, tb, tc = full[targets], full[targets + 1], full[targets + 2]
    p1 = (_lookup(k1, n1, tc) + 1.0) / (len(train) + vocab)
    ctx2 = _lookup(k2c, n2c, tb)
    p2 = np.where(ctx2 > 0, _lookup(k2, n2, tb * V + tc) / np.maximum(ctx2, 1), p1)
    ctx3 = _lookup(k3c, n3c, ta * V + tb)
    p3 = np.where(ctx3 > 0, _lookup(k3, n3, (ta * V + tb) * V + tc) / np.maximum(ctx3, 1), p2)

    best = (math.inf, (0.0, 0.0, 1.0))
    steps = int(round(1 / LAMBDA_STEP))
    for i, j in itertools.product(range(steps + 1), repeat=2):
        l3, l2 = i * LAMBDA_STEP, j * LAMBDA_STEP
        l1 = 1.0 - l3 - l2
        if l1 < LAMBDA_STEP - 1e-9:
            continue
        ppl = math.exp(-np.mean(np.log(l3 * p3 + l2 * p2 + l1 * p1)))
        best = min(best, (ppl, (round(l3, 2), round(l2, 2), round(l1, 2))))
    return best


def reference_namespace(cfg: CourseConfig) -> dict[str, Any]:
    """The source notebook's CharLSTM and train_epoch (its solution cells), as a student namespace."""
    return solution_namespace(cfg, ["CharLSTM", "train_epoch"])


def run_calibration(cfg: CourseConfig, corpus: Corpus, seeds: tuple[int, ...], steps: int,
                    say: Callable[[str], None] = print) -> dict[str, Any]:
    """Train and measure the reference once per seed; returns the calibration record.

    Raises:
        CalibrationError: a reference run failed, or the threshold is not below the trigram's perplexity.
    """
    torch.set_num_threads(1)
    threshold_mod = lab_module(cfg, "threshold")
    settings = dataclasses.replace(cfg.threshold, steps=steps)
    runs = {}
    for seed in seeds:
        session = InProcessSession(reference_namespace(cfg), list(op_module_paths(cfg)))
        started = time.monotonic()
        result = threshold_mod.run_threshold(session, corpus, settings, seed)
        if result["status"] != "ok":
            raise CalibrationError(f"the reference solution failed with seed {seed}: {result['message']}")
        runs[str(seed)] = {"perplexity": round(result["perplexity"], 4), "bpc": round(result["bpc"], 4),
                           "seconds": round(time.monotonic() - started, 1)}
        say(f"  seed {seed}: held-out perplexity {result['perplexity']:.3f} ({runs[str(seed)]['seconds']:.0f} s)")

    split = threshold_mod.encode_split(corpus.train, corpus.heldout, settings.batch)
    trigram, lambdas = trigram_perplexity(split.train, split.streams, len(split.vocab))
    worst_seed = max(runs, key=lambda s: runs[s]["perplexity"])
    worst = runs[worst_seed]["perplexity"]
    threshold = round(worst * cfg.threshold.margin, 4)
    record = {
        **calibration_key(cfg, corpus, steps),
        "corpus": corpus.name,
        "vocab_size": len(split.vocab),
        "seeds": list(seeds),
        "runs": runs,
        "margin": cfg.threshold.margin,
        "threshold": threshold,
        "rule": f"worst reference seed ({worst:.3f}, seed {worst_seed}) x margin {cfg.threshold.margin:g}",
        "trigram_perplexity": round(trigram, 4),
        "trigram": {"lambdas": list(lambdas),
                    "rule": ("interpolated trigram (Jelinek-Mercer), add-one unigram, weights chosen on the "
                             "held-out text")},
        "heldout_rule": ("held-out characters absent from the training vocabulary are dropped; the held-out text is "
                         f"cut into {settings.batch} streams, each scored from its second character on"),
    }
    if threshold >= trigram:
        raise CalibrationError(
            f"the threshold {threshold:.3f} is not below the trigram model's perplexity {trigram:.3f}: a model "
            "that remembers two characters would pass. Train longer (THRESHOLD_STEPS), lower CALIBRATION_MARGIN "
            "or check the reference solution.")
    return record


def main_calibrate(seeds: tuple[int, ...] | None = None, steps: int | None = None, out: Path | None = None) -> int:
    """Calibrate the perplexity threshold and write calibration.json.

    Args:
        seeds: reference seeds (default CALIBRATION_SEEDS).
        steps: training steps (default THRESHOLD_STEPS; grading refuses a calibration made for other steps).
        out: where to write (default autograder/<assignment>/calibration.json).

    Returns:
        0 when written; 1 when the reference failed or the threshold would not beat a trigram model.
    """
    cfg = load_config()
    corpus = load_course_corpus(cfg)
    seeds = tuple(seeds or cfg.threshold.calibration_seeds)
    steps = steps or cfg.threshold.steps
    out = Path(out or cfg.calibration_path)
    print(corpus.describe())
    print(f"calibrating: {len(seeds)} seeds x {steps} steps (embed {cfg.threshold.embed}, hidden "
          f"{cfg.threshold.hidden}, batch {cfg.threshold.batch}, seq_len {cfg.threshold.seq_len}), one thread")
    try:
        record = run_calibration(cfg, corpus, seeds, steps)
    except CalibrationError as exc:
        print(f"course calibrate: refused: {exc}", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"threshold {record['threshold']:.3f} ({record['rule']}); trigram {record['trigram_perplexity']:.3f}")
    print(f"wrote {out}")
    return 0
