"""The threshold calibration as grading reads it: what it was made for, the recipe it chose, and the check."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import torch

from course.config import CourseConfig, Recipe
from course.corpus import Corpus
from course.errors import UserError
from course.grader.assemble import assemble
from course.grader.lab import lab_module
from course.grader.threshold_cache import needed_cells

# Settings a calibration is only valid for (besides the corpus, the torch version, the candidates and the families).
SETTINGS = ("embed", "hidden", "seq_len", "clip", "chunk", "heldout_streams", "calibration_seeds", "margin",
            "broken_margin", "below_trigram")
FORMAT = 2


class CalibrationError(UserError):
    """calibration.json is missing or was made for another corpus, torch version, setting or family."""


@dataclass(frozen=True)
class Calibration:
    """A calibration grading can use.

    Attributes:
        record: the calibration.json dict.
        recipe: the grader's training recipe it chose.
        threshold: the held-out perplexity a submission must reach.
    """

    record: dict[str, Any]
    recipe: Recipe
    threshold: float


def family_cells(cfg: CourseConfig, variant) -> list[tuple[str, str]]:
    """The cells the grader-run training executes for one family variant, chosen as for a submission.

    Args:
        cfg: the course configuration.
        variant: a Variant of the lab's catalogue (``autograder/<assignment>/variants.py``).

    Returns:
        (cell id, source) of the setup cell and the answer cells the training needs, in order.
    """
    catalogue = lab_module(cfg, "variants")
    template = json.loads(cfg.source_notebook.read_text(encoding="utf-8"))
    cells = assemble(template, catalogue.variant_notebook(variant, cfg, template)).cells
    return needed_cells(cells, lab_module(cfg, "threshold").SYMBOLS)


def family_digest(cfg: CourseConfig) -> str:
    """sha256 of the calibration families: each variant's name, family and the sources its training runs."""
    h = hashlib.sha256()
    for variant in sorted(lab_module(cfg, "variants").FAMILY, key=lambda v: v.name):
        h.update(json.dumps([variant.name, variant.family, family_cells(cfg, variant)]).encode())
    return h.hexdigest()


def calibration_key(cfg: CourseConfig, corpus: Corpus) -> dict[str, Any]:
    """What a calibration is valid for: the corpus and its split, torch, settings, candidates and families.

    Returns:
        A JSON-plain dict; calibration.json holds the same keys with the same values.
    """
    settings = dataclasses.asdict(cfg.threshold)
    t = cfg.threshold
    key = {"format": FORMAT, "corpus_sha256": corpus.sha256, "heldout_fraction": cfg.heldout_fraction,
           "torch_version": torch.__version__,
           **{name: settings[name] for name in SETTINGS},
           "candidates": {"lr": list(t.candidate_lrs), "batch": list(t.candidate_batches),
                          "steps": list(t.candidate_steps)},
           "families_sha256": family_digest(cfg)}
    return json.loads(json.dumps(key))


def load_calibration(cfg: CourseConfig, corpus: Corpus) -> Calibration:
    """The calibration grading uses, checked against this corpus, torch version, settings and families.

    Raises:
        CalibrationError: it is missing, unreadable, or made for something else (the message says what).
    """
    path = cfg.calibration_path
    if not path.is_file():
        raise CalibrationError(f"No threshold calibration at {path}: run `course calibrate` "
                               "(about half an hour with --jobs 2).")
    try:
        record = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"{path} is not valid JSON ({exc}): run `course calibrate`.") from None
    if not isinstance(record, dict) or not isinstance(record.get("threshold"), (int, float)):
        raise CalibrationError(f"{path} holds no threshold: run `course calibrate`.")
    expected = calibration_key(cfg, corpus)
    diffs = [f"{k} {json.dumps(record.get(k))[:24]} vs now {json.dumps(v)[:24]}"
             for k, v in expected.items() if record.get(k) != v]
    if diffs:
        raise CalibrationError(f"{path} was made for another setting ({'; '.join(diffs)}): run `course calibrate`.")
    raw = record.get("recipe")
    try:
        recipe = Recipe(float(raw["lr"]), int(raw["batch"]), int(raw["steps"]))
    except (TypeError, KeyError, ValueError):
        raise CalibrationError(f"{path} holds no recipe: run `course calibrate`.") from None
    if recipe not in cfg.threshold.candidates():
        raise CalibrationError(f"{path} chose {recipe.label()}, which is not a candidate of THRESHOLD_CANDIDATES: "
                               "run `course calibrate`.")
    return Calibration(record, recipe, float(record["threshold"]))
