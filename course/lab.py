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

WORKER_OPS = "worker_ops.py"  # copied into the sandbox: the only autograder file the worker sees


@dataclass(frozen=True)
class Lab:
    """The hidden side of one assignment.

    Attributes:
        checks_dir: folder of the pytest checks (never visible to the worker).
        plan: module with ``build_plan(seed) -> list[ProbeRequest]``.
        threshold: module with ``run_threshold(session, corpus, settings, seed) -> dict``.
        op_modules: worker-op files copied into each worker.
        template: the instructor's notebook, as a dict.
    """

    checks_dir: Path
    plan: ModuleType
    threshold: ModuleType
    op_modules: tuple[Path, ...]
    template: dict[str, Any]


class LabError(RuntimeError):
    """The assignment's grading files are missing or broken (an instructor problem)."""


def _import(cfg: CourseConfig, name: str) -> ModuleType:
    root = str(cfg.root)
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        return importlib.import_module(f"autograder.{cfg.assignment}.{name}")
    except ImportError as exc:
        raise LabError(f"autograder/{cfg.assignment}/{name}.py could not be imported: {exc}") from exc


def load_lab(cfg: CourseConfig) -> Lab:
    """Load the assignment's plan, threshold driver, worker ops and template notebook."""
    checks_dir = cfg.autograder_dir
    if not checks_dir.is_dir():
        raise LabError(f"No hidden checks at {checks_dir}: this repository is incomplete.")
    ops = checks_dir / WORKER_OPS
    if not ops.is_file():
        raise LabError(f"{ops} is missing: the worker would have no probes to run.")
    if not cfg.source_notebook.is_file():
        raise LabError(f"The source notebook {cfg.source_notebook} is missing.")
    template = json.loads(cfg.source_notebook.read_text(encoding="utf-8"))
    return Lab(
        checks_dir=checks_dir,
        plan=_import(cfg, "plan"),
        threshold=_import(cfg, "threshold"),
        op_modules=(ops,),
        template=template,
    )
