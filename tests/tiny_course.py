"""A course folder for tests: the repository's lab with a tiny grader-run training, a small corpus and settings."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from course.config import CourseConfig, Recipe
from course.corpus import default_corpus_text, load_course_corpus
from course.grader.calibration import calibration_key

REPO = Path(__file__).resolve().parent.parent
LAB_FILES = ("__init__.py", "worker", "checks", "plan.py", "reference.py", "threshold.py", "variants.py")
TINY = {"THRESHOLD_EMBED": 8, "THRESHOLD_HIDDEN": 16, "THRESHOLD_SEQ_LEN": 20, "THRESHOLD_HELDOUT_STREAMS": 8,
        "THRESHOLD_CANDIDATES": {"lr": (1e-2,), "batch": (8, 16), "steps": (25, 50)}, "CALIBRATION_SEEDS": (0,)}


def make_course(folder: Path, **settings: Any) -> Path:
    """course_config.py (the repository's, with TINY and ``settings`` assigned), corpus.txt, the lab's files.

    Args:
        folder: an empty folder.
        settings: NAME=value assignments that replace the repository's (values written with repr).

    Returns:
        The path of the course_config.py written.
    """
    text = (REPO / "course_config.py").read_text()
    for name, value in {**TINY, "CORPUS_PATH": "corpus.txt", **settings}.items():
        text, count = re.subn(rf"^{name} = .*$", f"{name} = {value!r}", text, flags=re.M)
        assert count == 1, name
    (folder / "course_config.py").write_text(text)
    (folder / "corpus.txt").write_text(default_corpus_text()[:24_000], encoding="utf-8")
    lab = folder / "autograder" / "lab_rnn"
    lab.mkdir(parents=True)
    for name in LAB_FILES:
        (lab / name).symlink_to(REPO / "autograder" / "lab_rnn" / name)
    (folder / "source" / "lab_rnn").mkdir(parents=True)
    (folder / "source" / "lab_rnn" / "lab_rnn.ipynb").symlink_to(REPO / "source" / "lab_rnn" / "lab_rnn.ipynb")
    return folder / "course_config.py"


def write_calibration(cfg: CourseConfig, recipe: Recipe, threshold: float | None, **changes: Any) -> None:
    """A calibration.json that grading accepts for ``cfg`` (made by hand, not by training), with ``changes``."""
    record = {**calibration_key(cfg, load_course_corpus(cfg)), "threshold": threshold, "recipe": recipe.as_dict(),
              "rule": "written by a test", **changes}
    cfg.calibration_path.write_text(json.dumps(record))
