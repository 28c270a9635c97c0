"""Load an assignment's grading pieces from autograder/<assignment>/ (trusted side only)."""
from __future__ import annotations

import importlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from course.config import CourseConfig
from course.errors import UserError
from course.modes import apply_modes

CHECKS_DIR = "checks"  # the trusted pytest checks of a lab
WORKER_DIR = "worker"  # the lab's op modules: staged into every sandbox, the only lab files the worker sees


@dataclass(frozen=True)
class Lab:
    """The hidden side of one assignment.

    Attributes:
        checks_dir: folder of the pytest checks (never visible to the worker).
        plan: module with ``build_plan(seed) -> list[ProbeRequest]``.
        threshold: module with ``run_threshold(session, corpus, settings, recipe, seed, timeout_s=) -> dict``.
        op_modules: worker-op files copied into each worker.
        template: the instructor's notebook with the exercise modes applied, as a dict: a given
            exercise is a read-only cell there, so the grader runs its solution, never the student's cell.
    """

    checks_dir: Path
    plan: ModuleType
    threshold: ModuleType
    op_modules: tuple[Path, ...]
    template: dict[str, Any]


class LabError(UserError):
    """The assignment's grading files are missing or broken (an instructor problem)."""


def lab_module(cfg: CourseConfig, name: str) -> ModuleType:
    """Import ``autograder/<assignment>/<name>.py`` (trusted lab code) with the repository on sys.path."""
    root = str(cfg.root)
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        return importlib.import_module(f"autograder.{cfg.assignment}.{name}")
    except ImportError as exc:
        raise LabError(f"autograder/{cfg.assignment}/{name}.py could not be imported: {exc}") from exc


def op_module_paths(cfg: CourseConfig) -> tuple[Path, ...]:
    """The lab's op modules (``autograder/<assignment>/worker/*.py``), in name order."""
    return tuple(sorted((cfg.autograder_dir / WORKER_DIR).glob("*.py")))


def load_lab(cfg: CourseConfig) -> Lab:
    """Load the assignment's plan, threshold driver, worker ops and template notebook (its split applied)."""
    checks_dir = cfg.autograder_dir / CHECKS_DIR
    if not checks_dir.is_dir():
        raise LabError(f"No hidden checks at {checks_dir}: this repository is incomplete.")
    ops = op_module_paths(cfg)
    if not ops:
        raise LabError(f"{cfg.autograder_dir / WORKER_DIR} holds no op module: the worker would have no probes to run.")
    if not cfg.source_notebook.is_file():
        raise LabError(f"The source notebook {cfg.source_notebook} is missing.")
    template = apply_modes(json.loads(cfg.source_notebook.read_text(encoding="utf-8")), cfg.exercise_modes)
    return Lab(
        checks_dir=checks_dir,
        plan=lab_module(cfg, "plan"),
        threshold=lab_module(cfg, "threshold"),
        op_modules=ops,
        template=template,
    )
