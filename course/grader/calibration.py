"""The threshold calibration as grading reads it: which setting it was made for, and the check."""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import torch

from course.config import CourseConfig
from course.corpus import Corpus
from course.errors import UserError

# Settings a calibration is only valid for (besides the corpus and the torch version).
SETTINGS = ("steps", "embed", "hidden", "batch", "seq_len", "lr")


class CalibrationError(UserError):
    """calibration.json is missing or was made for another corpus, torch version or setting."""


def calibration_key(cfg: CourseConfig, corpus: Corpus, steps: int | None = None) -> dict[str, Any]:
    """What a calibration is valid for: corpus, torch version and the threshold settings."""
    settings = dataclasses.asdict(cfg.threshold)
    key = {"corpus_sha256": corpus.sha256, "torch_version": torch.__version__}
    key.update({name: settings[name] for name in SETTINGS})
    if steps is not None:
        key["steps"] = steps
    return key


def check_calibration(cfg: CourseConfig, corpus: Corpus) -> None:
    """Raise CalibrationError unless calibration.json matches this corpus, torch version and settings."""
    path = cfg.calibration_path
    if not path.is_file():
        raise CalibrationError(f"No threshold calibration at {path}: run `course calibrate` (a few minutes).")
    try:
        record = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"{path} is not valid JSON ({exc}): run `course calibrate`.") from None
    if not isinstance(record, dict) or not isinstance(record.get("threshold"), (int, float)):
        raise CalibrationError(f"{path} holds no threshold: run `course calibrate`.")
    expected = calibration_key(cfg, corpus)
    diffs = [f"{k} {str(record.get(k))[:16]} vs now {str(v)[:16]}" for k, v in expected.items() if record.get(k) != v]
    if diffs:
        raise CalibrationError(f"{path} was made for another setting ({'; '.join(diffs)}): run `course calibrate`.")
