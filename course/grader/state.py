"""What grading one submission carries from step to step, and what a batch shares."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course.config import CourseConfig
from course.corpus import Corpus
from course.grader.assemble import Assembly
from course.grader.lab import Lab
from course.grader.probes import ProbeRequest, Response
from course.grader.submission import Submission


@dataclass
class Options:
    """How a batch is graded.

    Attributes:
        threshold: run the grader-side training (the most expensive step).
        checks: pytest -k expression selecting checks (None: all; used by tests only).
        isolation: the sandbox level to use (None: the strongest available).
        cache: reuse grader-run trainings stored under OUT/.cache/threshold/ (and store new ones).
    """

    threshold: bool = True
    checks: str | None = None
    isolation: Any = None
    cache: bool = True


@dataclass
class Context:
    """Everything shared by the submissions of one batch (read-only while grading)."""

    cfg: CourseConfig
    lab: Lab
    corpus: Corpus
    options: Options
    isolation_name: str
    out_dir: Path
    calibration: Any = None  # course.grader.calibration.Calibration when the threshold stage runs
    course_digest: str = ""  # sha256 of what every result of the batch depends on (grade.course_digest)

    @property
    def cache_dir(self) -> Path:
        """Where finished grader-run trainings are kept between gradings of this output folder."""
        return self.out_dir / ".cache" / "threshold"


@dataclass
class State:
    """One submission moving through GRADING_STEPS."""

    sub: Submission
    ctx: Context
    work: Path
    started: float = field(default_factory=time.monotonic)
    notebook: dict[str, Any] | None = None
    rejected: str | None = None  # why the file is not gradable (score 0)
    assembly: Assembly | None = None
    session: Any = None
    threshold_session: Any = None  # the grader-run training's own worker, while it runs
    cell_reports: list[Any] = field(default_factory=list)  # course.grader.session.CellReport, one per cell run
    plan: list[ProbeRequest] = field(default_factory=list)
    responses: dict[str, Response] = field(default_factory=dict)
    threshold: dict[str, Any] | None = None
    output: str = ""
    checks: list[dict[str, Any]] = field(default_factory=list)
    internal_error: str | None = None
    fingerprint: str = ""
    result: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per part of grading (results.json)
    timed_out: dict[str, float] = field(default_factory=dict)  # exercise -> the probe timeout it ran past

    @property
    def deadline(self) -> float:
        return self.started + self.ctx.cfg.limits.submission_timeout_s

    def remaining(self) -> float:
        return self.deadline - time.monotonic()
