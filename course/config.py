"""Load course_config.py into a validated, read-only CourseConfig."""
from __future__ import annotations

import datetime as _dt
import importlib.util
import os
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course import modes as _modes
from course.errors import ConfigError

# Repository root: the folder holding course_config.py. COURSE_ROOT overrides it
# (used by the Gradescope bundle, which unpacks the repository elsewhere).
REPO_ROOT = Path(os.environ.get("COURSE_ROOT", Path(__file__).resolve().parent.parent))

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
# GitHub's rules for an owner (letters, digits, single hyphens) and a repository name.
STUDENT_REPO_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}/[A-Za-z0-9._-]{1,100}")
BRANCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}")


@dataclass(frozen=True)
class Limits:
    """Resource limits applied to each submission's worker, and to the downloads `course grade` unpacks."""

    check_timeout_s: float
    submission_timeout_s: float
    threshold_timeout_s: float
    memory_limit_mb: int
    max_processes: int
    max_file_size_mb: int
    max_output_bytes: int
    max_notebook_bytes: int
    max_cells: int
    worker_threads: int
    # what `course grade` unpacks from one downloaded zip (defaults for the workers' own Limits)
    max_archive_bytes: int = 2_000_000_000
    max_archive_members: int = 20_000
    max_compression_ratio: float = 200.0


@dataclass(frozen=True, order=True)
class Recipe:
    """One grader-run training recipe: Adam's learning rate, streams per batch and optimizer steps."""

    lr: float
    batch: int
    steps: int

    def label(self) -> str:
        return f"Adam lr {self.lr:g}, batch {self.batch}, {self.steps} steps"

    def as_dict(self) -> dict[str, Any]:
        return {"lr": self.lr, "batch": self.batch, "steps": self.steps}


@dataclass(frozen=True)
class ThresholdSettings:
    """The grader-run training behind the perplexity threshold check.

    The recipe itself (learning rate, batch, steps) is not a setting: ``course calibrate`` chooses
    it among the candidates and writes it to calibration.json, which grading reads.
    """

    embed: int
    hidden: int
    seq_len: int
    clip: float
    chunk: int
    heldout_streams: int
    candidate_lrs: tuple[float, ...]
    candidate_batches: tuple[int, ...]
    candidate_steps: tuple[int, ...]
    calibration_seeds: tuple[int, ...]
    margin: float
    broken_margin: float
    below_trigram: bool
    suspicious_perplexity: float

    def candidates(self) -> list[Recipe]:
        """Every candidate recipe (the grid of THRESHOLD_CANDIDATES), in a fixed order."""
        return [Recipe(lr, batch, steps) for lr in self.candidate_lrs for batch in self.candidate_batches
                for steps in self.candidate_steps]


@dataclass(frozen=True)
class CourseConfig:
    """Every course setting, validated; frozen so no code can change it."""

    path: Path
    course_id: str
    assignment: str
    notebook: str
    duedate: _dt.datetime
    timezone: str
    corpus_path: Path
    heldout_fraction: float
    seed: int
    points: Mapping[str, int]  # each exercise's weight (POINTS); what counts depends on its mode
    manual_points: int
    hidden_check_visibility: str
    threshold: ThresholdSettings
    limits: Limits
    student_repo: str = ""
    student_branch: str = "main"
    nbgrader: Mapping[str, Any] = field(default_factory=dict)
    # exercise -> "graded", "optional" or "given" (course/modes.py says what each means)
    exercise_modes: Mapping[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def source_notebook(self) -> Path:
        return self.root / "source" / self.assignment / self.notebook

    @property
    def release_notebook(self) -> Path:
        return self.root / "release" / self.assignment / self.notebook

    @property
    def student_url(self) -> str:
        """The public student repository on GitHub."""
        return f"https://github.com/{self.student_repo}"

    def student_raw_url(self, name: str) -> str:
        """Where a file at the root of the student repository's branch is downloaded from."""
        return f"https://raw.githubusercontent.com/{self.student_repo}/{self.student_branch}/{name}"

    @property
    def colab_url(self) -> str:
        """Colab's link that opens the student repository's notebook."""
        return f"https://colab.research.google.com/github/{self.student_repo}/blob/{self.student_branch}/{self.notebook}"

    @property
    def autograder_dir(self) -> Path:
        return self.root / "autograder" / self.assignment

    @property
    def calibration_path(self) -> Path:
        return self.autograder_dir / "calibration.json"

    @property
    def exercises(self) -> list[str]:
        """The notebook's exercises: the keys of POINTS but the grader-run threshold, in order."""
        return [name for name in self.points if name != _modes.THRESHOLD]

    def mode(self, name: str) -> str:
        """The mode of an exercise (or of the threshold, always graded)."""
        return _modes.mode_of(self.exercise_modes, name)

    @property
    def scored_points(self) -> dict[str, int]:
        """What each key of POINTS is worth in the score: its weight when graded, 0 when optional or given."""
        return _modes.points(self.points, self.exercise_modes)

    @property
    def autograded_points(self) -> int:
        return sum(self.scored_points.values())

    def apply_to_nbgrader(self, c: Any, root: str | os.PathLike[str] | None = None) -> None:
        """Copy the nbgrader settings onto a traitlets config object ``c``.

        Args:
            c: the config object (nbgrader_config.py's ``c``).
            root: nbgrader's course folder (``CourseDirectory.root``); None leaves nbgrader's own
                choice (the folder it runs in) alone.
        """
        c.CourseDirectory.course_id = self.course_id
        if root is not None:
            c.CourseDirectory.root = str(root)
        for dotted, value in self.nbgrader.items():
            section, name = dotted.split(".", 1)
            setattr(getattr(c, section), name, value)
        c.Exchange.timezone = self.timezone


def _require(module: types.ModuleType, name: str, kind: type | tuple[type, ...]) -> Any:
    if not hasattr(module, name):
        raise ConfigError(f"course_config.py: {name} is missing; add it (see the README).")
    value = getattr(module, name)
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        names = " or ".join(k.__name__ for k in _as_tuple(kind))
        raise ConfigError(f"course_config.py: {name} must be {names}, got {value!r}.")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _count(module: types.ModuleType, name: str) -> int:
    """A positive int setting."""
    value = _require(module, name, int)
    if value <= 0:
        raise ConfigError(f"course_config.py: {name} must be positive, got {value!r}.")
    return value


def _amount(module: types.ModuleType, name: str) -> float:
    """A positive number setting (an int is accepted), as a float."""
    value = float(_require(module, name, (int, float)))
    if value <= 0:
        raise ConfigError(f"course_config.py: {name} must be positive, got {value!r}.")
    return value


def _numbers(module: types.ModuleType, name: str, key: str, integers: bool) -> tuple:
    """``name[key]``: a non-empty tuple of distinct positive ints (or numbers, as floats), sorted."""
    values = _require(module, name, dict).get(key)
    kinds = (int,) if integers else (int, float)
    ok = isinstance(values, (tuple, list)) and values and all(
        isinstance(v, kinds) and not isinstance(v, bool) and v > 0 for v in values)
    if not ok or len(set(values)) != len(values):
        raise ConfigError(f"course_config.py: {name}[{key!r}] must be a non-empty tuple of distinct positive "
                          f"{'ints' if integers else 'numbers'}, got {values!r}.")
    return tuple(sorted(v if integers else float(v) for v in values))


def _threshold_settings(m: types.ModuleType, seeds: tuple[int, ...]) -> ThresholdSettings:
    name = "THRESHOLD_CANDIDATES"
    candidates = _require(m, name, dict)
    if set(candidates) != {"lr", "batch", "steps"}:
        raise ConfigError(f"course_config.py: {name} must have exactly the keys 'lr', 'batch' and 'steps', "
                          f"got {sorted(candidates)}.")
    chunk = _count(m, "THRESHOLD_CHUNK")
    steps = _numbers(m, name, "steps", True)
    if any(s % chunk for s in steps):
        raise ConfigError(f"course_config.py: every candidate step count must be a multiple of THRESHOLD_CHUNK "
                          f"({chunk}), so that a shorter run is the start of a longer one; got {steps}.")
    margins = {key: _amount(m, key) for key in ("CALIBRATION_MARGIN", "BROKEN_MARGIN")}
    for key, value in margins.items():
        if value < 1.0:
            raise ConfigError(f"course_config.py: {key} must be at least 1, got {value!r}.")
    return ThresholdSettings(
        embed=_count(m, "THRESHOLD_EMBED"),
        hidden=_count(m, "THRESHOLD_HIDDEN"),
        seq_len=_count(m, "THRESHOLD_SEQ_LEN"),
        clip=_amount(m, "THRESHOLD_CLIP"),
        chunk=chunk,
        heldout_streams=_count(m, "THRESHOLD_HELDOUT_STREAMS"),
        candidate_lrs=_numbers(m, name, "lr", False),
        candidate_batches=_numbers(m, name, "batch", True),
        candidate_steps=steps,
        calibration_seeds=seeds,
        margin=margins["CALIBRATION_MARGIN"],
        broken_margin=margins["BROKEN_MARGIN"],
        below_trigram=_require(m, "THRESHOLD_BELOW_TRIGRAM", bool),
        suspicious_perplexity=_amount(m, "SUSPICIOUS_PERPLEXITY"),
    )


def load_config(path: str | os.PathLike[str] | None = None) -> CourseConfig:
    """Read and validate a course_config.py.

    Args:
        path: the file; default ``$COURSE_CONFIG`` or ``<repo>/course_config.py``.

    Returns:
        A frozen CourseConfig. Raises ConfigError with an actionable message.
    """
    path = Path(path or os.environ.get("COURSE_CONFIG") or REPO_ROOT / "course_config.py").resolve()
    if not path.is_file():
        raise ConfigError(f"No course configuration at {path}: create it or pass --config.")
    spec = importlib.util.spec_from_file_location("_course_config", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a syntax error in the instructor's file
        raise ConfigError(f"{path} could not be read: {type(exc).__name__}: {exc}") from exc

    m = module
    number = (int, float)
    try:
        duedate = _dt.datetime.fromisoformat(_require(m, "DUEDATE", str))
    except ValueError as exc:
        raise ConfigError(f"course_config.py: DUEDATE must be ISO 8601 ({exc}).") from exc
    if duedate.tzinfo is None:
        raise ConfigError("course_config.py: DUEDATE needs a UTC offset, e.g. 2026-12-18T23:59:00+01:00.")

    corpus = _require(m, "CORPUS_PATH", (str, type(None)))
    if corpus is None or not corpus.strip():
        raise ConfigError("course_config.py: CORPUS_PATH must name a UTF-8 text file (the default corpus is "
                          "'corpus/pydoc_topics.txt'; pydoc_data differs between Python releases).")
    corpus_path = Path(corpus)
    if not corpus_path.is_absolute():
        corpus_path = path.parent / corpus_path

    student_repo = _require(m, "STUDENT_REPO", str)
    if not STUDENT_REPO_NAME.fullmatch(student_repo):
        raise ConfigError(f"course_config.py: STUDENT_REPO must be a GitHub repository as 'owner/name', "
                          f"got {student_repo!r}.")
    student_branch = _require(m, "STUDENT_BRANCH", str)
    if not BRANCH_NAME.fullmatch(student_branch) or ".." in student_branch:
        raise ConfigError(f"course_config.py: STUDENT_BRANCH must be a git branch name such as 'main', "
                          f"got {student_branch!r}.")

    heldout = float(_require(m, "HELDOUT_FRACTION", number))
    if not 0.0 < heldout < 0.5:
        raise ConfigError(f"course_config.py: HELDOUT_FRACTION must lie in (0, 0.5), got {heldout}.")

    points = dict(_require(m, "POINTS", dict))
    for key, value in points.items():
        if not isinstance(key, str) or not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"course_config.py: POINTS[{key!r}] must be a non-negative int, got {value!r}.")
    if _modes.THRESHOLD not in points:
        raise ConfigError(f"course_config.py: POINTS has no {_modes.THRESHOLD!r} entry: add {_modes.THRESHOLD!r}: N, "
                          "the points of the grader-run training (the release states them, the grader awards them).")

    modes = _modes.validate_modes(getattr(m, "EXERCISES", {}), [k for k in points if k != _modes.THRESHOLD])

    visibility = _require(m, "HIDDEN_CHECK_VISIBILITY", str)
    if visibility not in VISIBILITIES:
        raise ConfigError(
            f"course_config.py: HIDDEN_CHECK_VISIBILITY must be one of {VISIBILITIES}, got {visibility!r}.")

    seeds = tuple(_require(m, "CALIBRATION_SEEDS", (tuple, list)))
    if not seeds or not all(isinstance(s, int) for s in seeds):
        raise ConfigError("course_config.py: CALIBRATION_SEEDS must be a non-empty tuple of ints.")

    threshold = _threshold_settings(m, seeds)
    limits = Limits(
        check_timeout_s=_amount(m, "CHECK_TIMEOUT_S"),
        submission_timeout_s=_amount(m, "SUBMISSION_TIMEOUT_S"),
        threshold_timeout_s=_amount(m, "THRESHOLD_TIMEOUT_S"),
        memory_limit_mb=_count(m, "MEMORY_LIMIT_MB"),
        max_processes=_count(m, "MAX_PROCESSES"),
        max_file_size_mb=_count(m, "MAX_FILE_SIZE_MB"),
        max_output_bytes=_count(m, "MAX_OUTPUT_BYTES"),
        max_notebook_bytes=_count(m, "MAX_NOTEBOOK_BYTES"),
        max_cells=_count(m, "MAX_CELLS"),
        worker_threads=_count(m, "WORKER_THREADS"),
        max_archive_bytes=_count(m, "MAX_ARCHIVE_BYTES"),
        max_archive_members=_count(m, "MAX_ARCHIVE_MEMBERS"),
        max_compression_ratio=_amount(m, "MAX_COMPRESSION_RATIO"),
    )
    nbgrader = dict(_require(m, "NBGRADER", dict))
    for key in nbgrader:
        if not isinstance(key, str) or key.count(".") != 1:
            raise ConfigError(f"course_config.py: NBGRADER keys look like 'Class.trait', got {key!r}.")

    return CourseConfig(
        path=path,
        course_id=_require(m, "COURSE_ID", str),
        assignment=_require(m, "ASSIGNMENT", str),
        notebook=_require(m, "NOTEBOOK", str),
        duedate=duedate,
        timezone=_require(m, "TIMEZONE", str),
        corpus_path=corpus_path,
        student_repo=student_repo,
        student_branch=student_branch,
        heldout_fraction=heldout,
        seed=_require(m, "SEED", int),
        points=types.MappingProxyType(points),
        manual_points=_require(m, "MANUAL_POINTS", int),
        hidden_check_visibility=visibility,
        threshold=threshold,
        limits=limits,
        nbgrader=types.MappingProxyType(nbgrader),
        exercise_modes=types.MappingProxyType(modes),
    )
