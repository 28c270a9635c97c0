"""The perplexity threshold: train the student's CharLSTM in the worker, score the held-out text here."""
# The vocabulary is the training split's sorted characters; held-out characters absent from it
# are dropped from the held-out text before scoring (the calibration and the trigram baseline use
# the same rule). The held-out text is cut into THRESHOLD_HELDOUT_STREAMS streams that share no
# character; the trusted side sends one column of characters per call and scores the returned
# logits itself, so that a target never reaches the worker before the step that predicts it.
# Split, encode_split and column_nll are plain numpy code that `course release` also copies into
# the release notebook's estimate cell, beside the worker's ThresholdRun.
from __future__ import annotations

import ast
import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from course.config import Recipe, ThresholdSettings
from course.grader.probes import ProbeRequest, Response

SYMBOLS = ("CharLSTM", "train_epoch")  # what the grader-run training calls (and the answer cells it runs)
DEFAULT_TRAIN_TIMEOUT_S = 420.0
STEP_TIMEOUT_S = 20.0
NUMBER_TYPES = ("builtins.float", "builtins.int", "numpy.float64", "numpy.float32")  # a loss on the curve


@dataclass(frozen=True)
class Split:
    """A corpus encoded for the threshold: training indices and held-out streams."""

    vocab: list[str]
    train: np.ndarray  # [n_train] int64
    streams: np.ndarray  # [streams, m] int64: inputs are columns 0..m-2, targets columns 1..m-1


def encode_split(train_text: str, heldout_text: str, streams: int) -> Split:
    """Encode train and held-out text with the training vocabulary and cut the held-out streams.

    Args:
        train_text: the training split.
        heldout_text: the held-out split; characters outside the training vocabulary are dropped.
        streams: number of held-out streams.

    Returns:
        A Split; each stream holds m = len(heldout) // streams consecutive characters.
    """
    vocab = sorted(set(train_text))
    index = {c: i for i, c in enumerate(vocab)}
    train = np.fromiter((index[c] for c in train_text), dtype=np.int64, count=len(train_text))
    held = np.array([index[c] for c in heldout_text if c in index], dtype=np.int64)
    m = len(held) // streams
    if m < 2:
        raise ValueError(f"The held-out text is too short for {streams} streams.")
    return Split(vocab, train, held[: streams * m].reshape(streams, m))


def column_nll(logits: np.ndarray, targets: np.ndarray) -> float:
    """Summed negative log-likelihood (nats) of one held-out column.

    Args:
        logits: [streams, vocab] float64, the model's scores for the next character.
        targets: [streams] int64, the characters that came next.

    Returns:
        The sum over the streams of -log softmax(logits)[target].
    """
    top = logits.max(axis=1, keepdims=True)
    logsumexp = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return float((logsumexp - logits[np.arange(len(targets)), targets]).sum())


def score_logits(resp: Response, streams: int, vocab: int) -> np.ndarray:
    """The validated logits [streams, vocab] of one held-out step, as float64."""
    logits = resp.arrays.get("logits")
    if not isinstance(logits, np.ndarray) or logits.dtype != np.float32 or logits.shape != (streams, vocab):
        got = f"{logits.dtype} {list(logits.shape)}" if isinstance(logits, np.ndarray) else "nothing"
        raise ValueError(f"CharLSTM's logits for one step should be float32 [{streams}, {vocab}]; got {got}.")
    if not np.isfinite(logits).all():
        raise ValueError("CharLSTM's logits contain NaN or infinity on the held-out text.")
    return logits.astype(np.float64)


def train_request(split: Split, settings: ThresholdSettings, lr: float, batch: int, steps: int, seed: int,
                  timeout_s: float, resume: bool = False) -> ProbeRequest:
    """The worker request that trains (or, with ``resume``, goes on training) until ``steps`` windows."""
    params = {"vocab_size": len(split.vocab), "embed": settings.embed, "hidden": settings.hidden, "batch": batch,
              "seq_len": settings.seq_len, "lr": lr, "steps": steps, "seed": seed, "clip": settings.clip,
              "chunk": settings.chunk, "resume": resume}
    arrays = {} if resume else {"train": split.train}
    return ProbeRequest("threshold/train", "threshold_train", params, arrays, timeout_s)


def training_curve(value: dict[str, Any]) -> dict[str, list] | None:
    """{steps, loss} from the training reply: one point per train_epoch call that returned a number.

    The values come from student code; course.grader.training_plot validates them again before drawing.
    A non-finite number becomes None (the picture marks it); a call that returned no number is left out.
    """
    steps, results = value.get("curve_steps"), value.get("results")
    if not isinstance(steps, list) or not isinstance(results, list) or len(steps) != len(results):
        return None
    curve: dict[str, list] = {"steps": [], "loss": []}
    for step, described in zip(steps, results):
        if type(step) is not int or not isinstance(described, dict) or described.get("type") not in NUMBER_TYPES:
            continue
        loss = described.get("value")
        curve["steps"].append(step)
        curve["loss"].append(float(loss) if type(loss) in (int, float) and math.isfinite(loss) else None)
    return curve if curve["steps"] else None


class HeldoutFailed(ValueError):
    """The held-out evaluation failed; ``status`` says whose outcome it is (the code's ``error``, or the
    worker's ``timeout`` or ``crash``, which a machine under load may cause and no cache may keep)."""

    def __init__(self, message: str, status: str = "error"):
        super().__init__(message)
        self.status = status


def heldout_nll(session, split: Split, step_timeout_s: float = STEP_TIMEOUT_S) -> tuple[float, int]:
    """Feed the held-out streams one column per call; (summed NLL in nats, number of targets).

    Raises:
        HeldoutFailed: a step failed or returned unusable logits (message for the student).
    """
    streams, m = split.streams.shape
    start = session.call(ProbeRequest("threshold/heldout_start", "heldout_start"), step_timeout_s)
    if not start.ok:
        raise HeldoutFailed(start.message or f"the held-out evaluation could not start ({start.status})",
                            start.status)
    total = 0.0
    for t in range(m - 1):
        resp = session.call(ProbeRequest(f"threshold/heldout/{t}", "heldout_step", {},
                                         {"x": np.ascontiguousarray(split.streams[:, t])}), step_timeout_s)
        if not resp.ok:
            raise HeldoutFailed(f"held-out step {t}: {resp.message or resp.status}", resp.status)
        total += column_nll(score_logits(resp, streams, len(split.vocab)), split.streams[:, t + 1])
    return total, streams * (m - 1)


def _empty(recipe: Recipe) -> dict[str, Any]:
    return {"status": "error", "perplexity": None, "bpc": None, "steps_taken": None, "train_seconds": None,
            "heldout_seconds": None, "message": "", "suspicious": False, "training_curve": None,
            "recipe": recipe.as_dict()}


def run_checkpoints(session, split: Split, settings: ThresholdSettings, lr: float, batch: int,
                    steps: Sequence[int], seed: int, *, timeout_s: float | None = None,
                    step_timeout_s: float = STEP_TIMEOUT_S) -> list[dict[str, Any]]:
    """One training run, measured after each of ``steps`` windows: exactly what ``run_threshold`` gives for each.

    The run trains to the first count, is scored, goes on training to the next count, and so
    on (the worker's ThresholdRun makes a run to N windows the start of any longer run). After
    the first result that is not ``ok`` the run stops: the later counts get a copy of it.

    Args:
        session: ``call(request, timeout_s) -> Response`` (a worker session, or InProcessSession).
        split: the encoded corpus (``encode_split``).
        settings: the course's ThresholdSettings (model sizes, clip, chunk).
        lr, batch: the recipe's learning rate and streams per batch.
        steps: the step counts, increasing.
        seed: torch seed of the model's initialisation.
        timeout_s: wall-time limit of each training call (default 420 s).
        step_timeout_s: wall-time limit of each held-out step.

    Returns:
        One result per step count (see ``run_threshold``).
    """
    results: list[dict[str, Any]] = []
    train_seconds = 0.0
    for k, count in enumerate(steps):
        recipe = Recipe(lr, batch, count)
        if results and results[-1]["status"] != "ok":
            results.append({**results[-1], "recipe": recipe.as_dict(),
                            "message": results[-1]["message"] + f" (the run stopped at {steps[k - 1]} steps)"})
            continue
        result = _empty(recipe)
        results.append(result)
        started = time.monotonic()
        limit = timeout_s or DEFAULT_TRAIN_TIMEOUT_S
        resp = session.call(train_request(split, settings, lr, batch, count, seed, limit, resume=k > 0), limit)
        train_seconds += time.monotonic() - started
        result["train_seconds"] = round(train_seconds, 2)
        if not resp.ok:
            why = resp.message or resp.status
            result.update(status=resp.status, message=f"Training your CharLSTM with your train_epoch failed: {why}")
            continue
        taken = resp.value.get("steps_taken")
        result["steps_taken"] = taken if type(taken) is int else None
        result["training_curve"] = training_curve(resp.value)
        started = time.monotonic()
        try:
            total, targets = heldout_nll(session, split, step_timeout_s)
        except ValueError as exc:  # HeldoutFailed, or score_logits refusing the logits (the code's outcome)
            result.update(status=getattr(exc, "status", "error"),
                          message=f"Measuring the held-out perplexity failed: {exc}")
            continue
        finally:
            result["heldout_seconds"] = round(time.monotonic() - started, 2)
        nll = total / targets
        result.update(perplexity=math.exp(nll), bpc=nll / math.log(2), status="ok",
                      suspicious=math.exp(nll) < settings.suspicious_perplexity)
        if result["steps_taken"] != count:
            result.update(status="error", message=(
                f"train_epoch made {result['steps_taken']} optimizer steps for {count} windows; it must make "
                "exactly one step per window with the optimizer it is given."))
    return results


def run_threshold(session, corpus, settings: ThresholdSettings, recipe: Recipe, seed: int, *,
                  timeout_s: float | None = None, step_timeout_s: float = STEP_TIMEOUT_S) -> dict[str, Any]:
    """Train the student's CharLSTM with their train_epoch for ``recipe.steps`` windows; measure it.

    Args:
        session: ``call(request, timeout_s) -> Response`` (the worker that ran the student's cells).
        corpus: a course.corpus.Corpus (train / held-out split).
        settings: course.config.ThresholdSettings (model sizes, clip, chunk, held-out streams).
        recipe: the calibrated recipe (learning rate, batch, steps; from calibration.json).
        seed: torch seed for the model's initialisation.
        timeout_s: wall-time limit of the training call (default 420 s).
        step_timeout_s: wall-time limit of each held-out step.

    Returns:
        {status, perplexity, bpc, steps_taken, train_seconds, heldout_seconds, message, suspicious,
        training_curve, recipe}; status is ``ok`` when a perplexity was measured and the training made
        one optimizer step per window. training_curve is {steps, loss} (see ``training_curve``) or None.
    """
    split = encode_split(corpus.train, corpus.heldout, settings.heldout_streams)
    return run_checkpoints(session, split, settings, recipe.lr, recipe.batch, [recipe.steps], seed,
                           timeout_s=timeout_s, step_timeout_s=step_timeout_s)[0]


# --- the release notebook's threshold section (course release) -------------------------------------------

INFO_CELL_ID, ESTIMATE_CELL_ID = "threshold-info", "threshold-estimate"
SECTION_BEFORE = "md-end"  # the notebook's submission cell: the section goes just before it
HERE = Path(__file__).resolve().parent
# The grader's own code that the estimate cell runs: (file, names), copied verbatim.
ESTIMATE_CODE = (("worker/ops.py", ("grader_windows", "chunk_end", "ThresholdRun")),
                 ("threshold.py", ("Split", "encode_split", "column_nll")))


def training_seed(course_seed: int) -> int:
    """The torch seed of the grader-run training: derived from the course seed, which stays private."""
    return int.from_bytes(hashlib.sha256(f"{course_seed}:threshold".encode()).digest()[:4], "big")


def grader_code() -> str:
    """The sources of ESTIMATE_CODE, in order, each as it stands in its file."""
    parts = []
    for name, wanted in ESTIMATE_CODE:
        source = (HERE / name).read_text(encoding="utf-8")
        found = {node.name: ast.get_source_segment(source, node, padded=False) for node in ast.parse(source).body
                 if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        decorated = {node.name: "".join(f"@{ast.get_source_segment(source, d)}\n" for d in node.decorator_list)
                     for node in ast.parse(source).body if isinstance(node, ast.ClassDef)}
        for symbol in wanted:
            if symbol not in found:
                raise LookupError(f"autograder/lab_rnn/{name} defines no {symbol}: update ESTIMATE_CODE")
            parts.append(decorated.get(symbol, "") + found[symbol])
    return "\n\n\n".join(parts)


def estimate_cell(record: dict[str, Any], settings: ThresholdSettings, course_seed: int) -> str:
    """The optional cell that runs the grader-run training on the student's CharLSTM and train_epoch.

    Args:
        record: calibration.json (its recipe and threshold).
        settings: the course's ThresholdSettings.
        course_seed: the course seed (only the training seed derived from it is written).

    Returns:
        The cell's source: constants, the grader's own functions (``grader_code``), and a driver.
    """
    recipe, t = record["recipe"], settings
    return f'''# Optional: the grader-run training on YOUR CharLSTM and train_epoch, for an estimate before you submit.
# The functions below are the grader's own code (copied by `course release`); the recipe and the threshold
# come from the course's calibration. It trains on the CPU, like the grader.
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

RECIPE = {json.dumps(recipe)}
SETTINGS = {json.dumps({"embed": t.embed, "hidden": t.hidden, "seq_len": t.seq_len, "clip": t.clip, "chunk": t.chunk})}
HELDOUT_STREAMS = {t.heldout_streams}
TRAINING_SEED = {training_seed(course_seed)}
THRESHOLD = {record["threshold"]}


{grader_code()}


def estimate_heldout_perplexity(char_lstm, train_epoch, train_text, heldout_text):
    """The grader's held-out perplexity of char_lstm trained by train_epoch (and the optimizer steps it made)."""
    split = encode_split(train_text, heldout_text, HELDOUT_STREAMS)
    run = ThresholdRun(char_lstm, train_epoch, torch.from_numpy(split.train), len(split.vocab), batch=RECIPE["batch"],
                       lr=RECIPE["lr"], seed=TRAINING_SEED, **SETTINGS)
    run.train_to(RECIPE["steps"])
    run.start_heldout()
    streams, m = split.streams.shape
    total = 0.0
    for t in range(m - 1):
        logits = run.heldout_step(torch.from_numpy(split.streams[:, t].copy()))  # [streams, vocab]
        total += column_nll(logits.astype(np.float64), split.streams[:, t + 1])
    return math.exp(total / (streams * (m - 1))), run.optimizer_steps


started = time.time()
estimate, optimizer_steps = estimate_heldout_perplexity(CharLSTM, train_epoch, train_text, heldout_text)
verdict = "reaches" if estimate <= THRESHOLD else "does NOT reach"
print(f"Held-out perplexity {{estimate:.3f}} after {{RECIPE['steps']}} windows ({{time.time() - started:.0f}} s): "
      f"it {{verdict}} the threshold {{THRESHOLD:.3f}}.")
if optimizer_steps != RECIPE["steps"]:
    print(f"train_epoch made {{optimizer_steps}} optimizer steps for {{RECIPE['steps']}} windows: the grader needs "
          "exactly one per window, and gives no threshold points otherwise.")
'''


def _names(record: dict[str, Any], family: str, notes: dict[str, str]) -> str:
    return "; ".join(notes.get(n, n) for n in record.get("families", {}).get(family, []))


def info_markdown(record: dict[str, Any], settings: ThresholdSettings, points: int, notes: dict[str, str]) -> str:
    """The markdown cell that says what the grader trains, with which recipe, and the threshold.

    Args:
        record: calibration.json.
        settings: the course's ThresholdSettings.
        points: the threshold check's points.
        notes: variant name -> what differs (the catalogue's notes).
    """
    r, t, band = record["recipe"], settings, record.get("band") or {}
    margins, trigram = record.get("margins") or {}, record.get("trigram_perplexity")
    closest = margins.get("broken") and record["threshold"] * margins["broken"]
    learn = [c for c in record.get("cannot_catch", []) if c.get("variant")]
    lines = [
        f"## What the grader trains ({points} points)",
        "",
        "Besides the hidden checks of each exercise, the grader trains **your `CharLSTM` with your `train_epoch`** "
        "and measures it on the held-out text:",
        "",
        f"* **Recipe**: `CharLSTM(vocab_size, embed_size={t.embed}, hidden_size={t.hidden})` (your defaults for the "
        f"other arguments), Adam with learning rate {r['lr']:g}, windows of {r['batch']} streams x {t.seq_len} "
        f"characters of the training text, your `train_epoch` called on chunks of {t.chunk} windows with "
        f"`clip={t.clip:g}`, until **{r['steps']} windows** (so {r['steps']} optimizer steps), on the CPU.",
        f"* **Measure**: the held-out text cut into {t.heldout_streams} streams and fed one character at a time, "
        "your model's state carried along; perplexity = exp(mean negative log-likelihood per character).",
        f"* **Threshold**: a held-out perplexity of at most **{record['threshold']:.3f}** earns the {points} points; "
        "`train_epoch` must make exactly one optimizer step per window.",
        "",
        "How it was set (`course calibrate`): correct pairs of `CharLSTM` and `train_epoch` "
        f"({_names(record, 'correct', notes)}) reached {band.get('perplexity_low', 0):.2f} to "
        f"{band.get('perplexity_high', 0):.2f} over {len(record.get('calibration_seeds', []))} seeds; the threshold "
        f"is the worst of them x {(margins.get('required') or {}).get('correct', t.margin):g}. Broken pairs "
        f"({_names(record, 'broken', notes)}) "
        + (f"all stayed above {closest:.2f} or failed. " if closest else "all failed. ")
        + (f"Some bugs still train a good model ({'; '.join(notes.get(c['variant'], c['variant']) for c in learn)}): "
           "the threshold cannot be relied on to see them; the hidden checks of `train_epoch` do. " if learn else "")
        + (f"For scale, a trigram model (two characters of context) reaches {trigram:.2f} on the same text." if trigram
           else ""),
        "",
        "The next cell is optional (the grader skips it): it runs this same training, with the grader's own code, "
        "on your `CharLSTM` and `train_epoch`, after the corpus cell has run. "
        f"It takes about {record.get('cost', {}).get('train_cpu_s', 0) + 2:.0f} s of CPU time on the grader's machine.",
    ]
    return "\n".join(lines)


def contract_text(record: dict[str, Any], settings: ThresholdSettings, points: int) -> str:
    """One sentence for the self-check's report: what the grader trains, and where the estimate is."""
    r = record["recipe"]
    return (f"The grader also trains your CharLSTM with your train_epoch (Adam lr {r['lr']:g}, batch {r['batch']}, "
            f"{r['steps']} steps) and gives {points} points for a held-out perplexity of at most "
            f"{record['threshold']:.3f}. This self-check does not run that training: the optional cell "
            f"'{ESTIMATE_CELL_ID}' near the end of the notebook gives an estimate.")
