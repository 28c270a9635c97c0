"""The lab's contract with a student notebook: exercises, signatures, written answers and limits.

It is derived from the source notebook and course_config.py by ``course release``
(``course.authoring.contract``) and travels as JSON with the self-check and the Classroom
runner, so that nothing here is typed twice. Standard library only.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# A function's parameters as written in its def line, or a class's {method: parameters}.
Signature = str | dict[str, str]


@dataclass(frozen=True)
class Limits:
    """The grader's limits, as a self-check applies them.

    Attributes:
        cell_timeout_s: wall time one cell may run (the grader's CHECK_TIMEOUT_S).
        total_timeout_s: wall time for the whole notebook (SUBMISSION_TIMEOUT_S).
        memory_mb: memory of the process running the cells (MEMORY_LIMIT_MB).
        max_notebook_bytes: larger files are rejected unread.
        max_cells: notebooks with more cells are rejected.
        max_answer_chars: a longer answer cell is not run.
    """

    cell_timeout_s: float
    total_timeout_s: float
    memory_mb: int
    max_notebook_bytes: int
    max_cells: int
    max_answer_chars: int


@dataclass(frozen=True)
class Contract:
    """What the grader expects of a submitted notebook.

    Attributes:
        notebook: the notebook's file name.
        exercises: grade_id -> Signature of every answer cell, in notebook order.
        written: grade_ids of the written answers (graded by hand).
        limits: the grader's limits.
        optional: exercises that are checked but carry no points (homework).
        threshold: what the grader-run training does, for the student: {"text": ...} or {}.
    """

    notebook: str
    exercises: dict[str, Signature]
    written: tuple[str, ...]
    limits: Limits
    optional: tuple[str, ...] = ()
    threshold: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Contract:
        return cls(
            notebook=data["notebook"],
            exercises=dict(data["exercises"]),
            written=tuple(data["written"]),
            limits=Limits(**data["limits"]),
            optional=tuple(data.get("optional", ())),
            threshold=dict(data.get("threshold") or {}),
        )

    @classmethod
    def from_json(cls, text: str) -> Contract:
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: str | Path) -> Contract:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))
