"""Derive the lab's contract (exercises, signatures, written answers, limits) from the source notebook."""
from __future__ import annotations

import ast
import json
from typing import Any

from course import modes
from course.config import CourseConfig
from course.errors import UserError
from course.grader.lab import lab_module
from course.student import notebook as nbc
from course.student.contract import Contract, Limits, Signature


class ContractError(UserError, ValueError):
    """An answer cell of the source notebook does not define its exercise as the contract needs (fix the cell)."""


def signature_of(grade_id: str, source: str) -> Signature:
    """The parameters of the function ``grade_id`` (or of the class's ``__init__`` and public methods).

    Args:
        grade_id: the exercise symbol, defined at the top level of ``source``.
        source: the solution cell.

    Returns:
        ``"a, b=1"`` for a function, ``{"__init__": "self, ...", "forward": "self, x"}`` for a class.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ContractError(f"the answer cell {grade_id!r} of the source notebook does not parse: {exc}") from None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == grade_id:
            return ast.unparse(node.args)
        if isinstance(node, ast.ClassDef) and node.name == grade_id:
            methods = {m.name: ast.unparse(m.args) for m in node.body if isinstance(m, ast.FunctionDef)
                       and (m.name == "__init__" or not m.name.startswith("_"))}
            if not methods:
                raise ContractError(f"the class {grade_id!r} of the source notebook defines no method to check")
            return methods
    raise ContractError(f"the answer cell {grade_id!r} of the source notebook does not define {grade_id!r} "
                        "at its top level")


def build_contract(cfg: CourseConfig, source: dict[str, Any] | None = None) -> Contract:
    """The contract of the configured lab, read from its source notebook and course_config.py.

    Args:
        cfg: the course configuration (its EXERCISES say which exercises are asked for, which are homework).
        source: the source notebook as a dict, its split applied or not (default: read from ``cfg.source_notebook``).

    Returns:
        The Contract: the graded and optional exercises with their signatures, the optional ones
        also in ``optional``; the written answers; the limits.
    """
    nb = source if source is not None else json.loads(cfg.source_notebook.read_text(encoding="utf-8"))
    cells = nb["cells"]
    # A given exercise is not asked for (its cell is worked code); an optional one is, as homework.
    exercises = {gid: signature_of(gid, nbc.cell_source(c)) for c in cells if nbc.is_answer_cell(c)
                 and (gid := nbc.grade_id(c)) and modes.asks_for(cfg.mode(gid))}
    optional = tuple(gid for gid in exercises if cfg.mode(gid) == modes.OPTIONAL)
    written = tuple(gid for c in cells if nbc.is_written_answer(c) and (gid := nbc.grade_id(c)))
    limits = Limits(
        cell_timeout_s=cfg.limits.check_timeout_s,
        total_timeout_s=cfg.limits.submission_timeout_s,
        memory_mb=cfg.limits.memory_limit_mb,
        max_notebook_bytes=cfg.limits.max_notebook_bytes,
        max_cells=cfg.limits.max_cells,
        max_answer_chars=nbc.MAX_ANSWER_CELL_CHARS,
    )
    return Contract(notebook=cfg.notebook, exercises=exercises, written=written, limits=limits, optional=optional,
                    threshold=threshold_summary(cfg))


def threshold_summary(cfg: CourseConfig) -> dict[str, Any]:
    """What the self-check says about the grader-run training: {text, recipe, threshold, cell}; {} uncalibrated."""
    try:
        record = json.loads(cfg.calibration_path.read_text(encoding="utf-8"))
        recipe, threshold = dict(record["recipe"]), float(record["threshold"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    lab = lab_module(cfg, "threshold")
    return {"text": lab.contract_text(record, cfg.threshold, cfg.points.get("threshold", 0)), "recipe": recipe,
            "threshold": threshold, "cell": lab.ESTIMATE_CELL_ID}
