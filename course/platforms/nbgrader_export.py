"""`course export`: write the autograded scores of a grading folder into nbgrader's gradebook."""
# nbgrader keeps one Grade row per (submitted notebook, grade cell). The points the grader
# gave exercise X (its tests whose first tag is X) become the auto_score of the notebook's
# visible test cell test_X, whose nbgrader points equal what X is worth in the score: POINTS[X]
# when graded, 0 when optional (homework: the gradebook shows it, worth nothing); a given
# exercise has no grade cell (its test is a read-only demo) and nothing is written for it.
# The notebook is recorded with the exercise split applied, as `course release` generates it.
# The perplexity-threshold check (POINTS["threshold"]) has no cell in the notebook: its points
# go to a grade cell test_threshold that this module adds to the gradebook's record of the
# notebook, so that nbgrader's totals (formgrader, `nbgrader export`) equal the course's. Written answers keep
# what formgrader holds: this module never writes a manual_score.
from __future__ import annotations

import csv
import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbgrader.api import Grade, Gradebook, MissingEntry, SubmittedNotebook
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    LockCells,
    SaveCells,
)
from nbgrader.utils import parse_utc
from sqlalchemy.exc import SAWarning
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from course.config import CourseConfig, load_config
from course.errors import UserError
from course.grader.results import SUBMITTED_COPY, atomic_write
from course.modes import apply_modes, has_checks
from course.platforms.lms import NBGRADER_TIMESTAMP  # nbgrader's record of when a submission was made
from course.student.notebook import TEST_PREFIX  # visible test cells: grade_id test_<exercise>

CONFIG_FILE = "nbgrader_config.py"


class ExportError(RuntimeError):
    """The grading folder or the gradebook cannot be used; the message says what to do."""


@dataclass(frozen=True)
class Graded:
    """One student's autograded result, read from its results.json and its gradebook.csv row.

    Attributes:
        student_id: the student's id (the LMS's), nbgrader's student id.
        status: graded, rejected or error.
        points: exercise -> points earned.
        timestamp: when it was submitted (ISO 8601), or "".
        folder: the result folder (holds the notebook as graded, when `course grade` kept one).
        first_name, last_name, email: from the gradebook row ("" when unknown).
        lms: where the submission came from (files, moodle, canvas, gradescope, nbgrader).
    """

    student_id: str
    status: str
    points: dict[str, float]
    timestamp: str
    folder: Path | None = None
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms: str = ""


def exercise_points(results: dict[str, Any], exercises: list[str]) -> dict[str, float]:
    """Points earned per exercise: the sum of the scores of tests whose first tag is that exercise."""
    earned = {name: 0.0 for name in exercises}
    for test in results.get("tests", []):
        tags = test.get("tags") or []
        if tags and tags[0] in earned:
            earned[tags[0]] += float(test.get("score") or 0.0)
    return {name: round(value, 6) for name, value in earned.items()}


def checked(cfg: CourseConfig) -> list[str]:
    """The keys of POINTS with a grade cell: every one but the given exercises."""
    return [name for name in cfg.points if has_checks(cfg.mode(name))]


def read_grading_folder(folder: Path, cfg: CourseConfig) -> list[Graded]:
    """Every submission's result under a `course grade --out` folder.

    Raises:
        ExportError: the folder holds no results.json.
    """
    rows: dict[str, dict[str, str]] = {}
    book = folder / "gradebook.csv"
    if book.is_file():
        with book.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):  # keyed by result folder; older gradebooks only have student_id
                rows[row.get("submission") or row.get("student_id", "")] = row
    graded = []
    for path in sorted(folder.glob("*/results.json")):
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ExportError(f"{path} is not readable JSON ({exc}); grade that submission again.") from None
        extra = results.get("extra_data", {})
        student = str(extra.get("student_id") or path.parent.name)
        row = rows.get(path.parent.name) or rows.get(student) or {}
        graded.append(Graded(
            student, str(extra.get("status", "graded")), exercise_points(results, checked(cfg)),
            row.get("timestamp") or str(extra.get("timestamp") or ""), path.parent,
            row.get("first_name", ""), row.get("last_name", ""), row.get("email", ""),
            row.get("lms") or str(extra.get("lms") or ""),
        ))
    if not graded:
        raise ExportError(f"No results.json under {folder}: pass the folder `course grade --out` wrote.")
    return graded


# --- nbgrader's side ----------------------------------------------------------------


def standalone_config(cfg: CourseConfig) -> str:
    """An nbgrader_config.py for a course folder: the course's nbgrader settings as literals, its root the
    folder the file is in. It imports nothing, so any Jupyter running nbgrader can load it."""
    config = Config()
    cfg.apply_to_nbgrader(config)
    lines = [
        f'"""nbgrader configuration of this course folder, written by `course export` from {cfg.path}."""',
        "import os",
        "",
        "c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)",
        "c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))  # this folder, wherever it is",
    ]
    for section, traits in sorted(config.items()):
        for name, value in sorted(traits.items()):
            plain = dict(value) if isinstance(value, dict) else value
            lines.append(f"c.{section}.{name} = {plain!r}")
    return "\n".join(lines) + "\n"


def prepare_course_dir(course_dir: Path, cfg: CourseConfig) -> list[str]:
    """Make ``course_dir`` usable by formgrader: an nbgrader_config.py and the source notebook when absent.

    Returns:
        What was written, for the user.
    """
    made = []
    config = course_dir / CONFIG_FILE
    if not config.exists():
        atomic_write(config, standalone_config(cfg))
        made.append(str(config))
    source = course_dir / "source" / cfg.assignment / cfg.notebook
    if not source.exists() and course_dir.resolve() != cfg.root.resolve():
        source.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cfg.source_notebook, source)  # formgrader lists the assignments of source/
        made.append(str(source))
    return made


def course_directory(course_dir: Path, cfg: CourseConfig) -> CourseDirectory:
    """nbgrader's CourseDirectory for ``course_dir``, configured by its nbgrader_config.py when it has one."""
    config = Config()
    if (course_dir / CONFIG_FILE).is_file():
        try:
            config = PyFileConfigLoader(CONFIG_FILE, path=str(course_dir)).load_config()
        except Exception as exc:
            raise ExportError(f"{course_dir / CONFIG_FILE} could not be loaded: {exc}") from None
    coursedir = CourseDirectory(config=config)
    coursedir.root = str(course_dir.resolve())
    if not coursedir.course_id:
        coursedir.course_id = cfg.course_id
    return coursedir


def record_assignment(db_url: str, course_id: str, cfg: CourseConfig) -> str:
    """Make sure the assignment and its notebook are in the gradebook, as `nbgrader generate_assignment` records them.

    The source notebook goes through nbgrader's own preprocessors (LockCells,
    ClearSolutions, ClearOutput, CheckCellMetadata, ComputeChecksums, SaveCells),
    so its grade, solution and source cells are stored exactly as nbgrader stores
    them. An assignment already in the gradebook is left as it is.

    Returns:
        The notebook's name in the gradebook (the file stem).
    """
    name = Path(cfg.notebook).stem
    with Gradebook(db_url, course_id) as gb:
        try:
            gb.find_assignment(cfg.assignment)
        except MissingEntry:
            gb.add_assignment(cfg.assignment, duedate=cfg.duedate.isoformat())
        try:
            gb.find_notebook(name, cfg.assignment)
            return name
        except MissingEntry:
            pass
    config = Config()
    cfg.apply_to_nbgrader(config)
    nb = nbformat.from_dict(apply_modes(nbformat.read(str(cfg.source_notebook), as_version=4), cfg.exercise_modes))
    resources: dict[str, Any] = {"nbgrader": {"db_url": db_url, "assignment": cfg.assignment, "notebook": name}}
    for step in (LockCells, ClearSolutions, ClearOutput, CheckCellMetadata, ComputeChecksums, SaveCells):
        nb, resources = step(config=config).preprocess(nb, resources)
    return name


def ensure_grade_cells(gb: Gradebook, notebook: str, cfg: CourseConfig) -> None:
    """A grade cell ``test_<exercise>`` for every checked exercise of POINTS, each worth what it counts.

    Raises:
        ExportError: a test cell's nbgrader points differ from what course_config.py makes it worth.
    """
    for exercise in checked(cfg):
        points = cfg.scored_points[exercise]
        try:
            cell = gb.find_grade_cell(TEST_PREFIX + exercise, notebook, cfg.assignment)
        except MissingEntry:
            gb.add_grade_cell(TEST_PREFIX + exercise, notebook, cfg.assignment, max_score=float(points),
                              cell_type="code")
            continue
        if float(cell.max_score) != float(points):
            raise ExportError(
                f"the gradebook's cell {TEST_PREFIX}{exercise} is worth {cell.max_score:g} points but course_config.py "
                f"makes {exercise} worth {points} ({cfg.mode(exercise)}): make the notebook's points, POINTS and "
                f"EXERCISES agree, then run `course release` and "
                f"`nbgrader generate_assignment {cfg.assignment} --force`."
            )


def write_grades(gb: Gradebook, notebook: str, cfg: CourseConfig, graded: Graded) -> None:
    """Store one student's autograded points, names and submission time; manual grades are left as they are.

    Names and email fill only what the gradebook lacks (formgrader's or the instructor's own win).
    """
    known = {"first_name": graded.first_name, "last_name": graded.last_name, "email": graded.email}
    if graded.lms in ("moodle", "canvas", "gradescope"):
        known["lms_user_id"] = graded.student_id
    try:
        student = gb.find_student(graded.student_id)
    except MissingEntry:
        gb.add_student(graded.student_id, **{k: v for k, v in known.items() if v})
    else:
        for key, value in known.items():
            if value and not getattr(student, key):
                setattr(student, key, value)
        gb.db.commit()
    try:
        submission = gb.find_submission(cfg.assignment, graded.student_id)
    except MissingEntry:
        with warnings.catch_warnings():  # nbgrader's add_submission trips a harmless SQLAlchemy autoflush warning
            warnings.simplefilter("ignore", SAWarning)
            submission = gb.add_submission(cfg.assignment, graded.student_id,
                                           **({"timestamp": graded.timestamp} if graded.timestamp else {}))
    else:
        if graded.timestamp and not _same_time(submission.timestamp, graded.timestamp):  # a newer submission
            gb.update_or_create_submission(cfg.assignment, graded.student_id, timestamp=graded.timestamp)
    nb_row: SubmittedNotebook = gb.find_submission_notebook(notebook, cfg.assignment, graded.student_id)
    have = {grade.cell_id for grade in nb_row.grades}
    for cell in nb_row.notebook.grade_cells:  # cells added to the gradebook after this submission
        if cell.id not in have:
            gb.db.add(Grade(cell_id=cell.id, notebook=nb_row))
    gb.db.commit()
    for exercise, earned in graded.points.items():
        grade = gb.find_grade(TEST_PREFIX + exercise, notebook, cfg.assignment, graded.student_id)
        grade.auto_score = earned
        # nbgrader's own rule (SaveAutoGrades): a cell a person already graded stays flagged for review.
        grade.needs_manual_grade = grade.manual_score is not None
    gb.db.commit()


def _stamp(folder: Path) -> str | None:
    path = folder / NBGRADER_TIMESTAMP
    return path.read_text(encoding="utf-8", errors="replace").strip() if path.is_file() else None


def _same_time(a: Any, b: Any) -> bool:
    """Whether two timestamps (strings or datetimes, None for none) name the same instant, as nbgrader compares them."""
    try:
        return parse_utc(a) == parse_utc(b)
    except (ValueError, OverflowError):
        return False


def copy_for_formgrader(coursedir: CourseDirectory, cfg: CourseConfig, graded: Graded) -> tuple[bool, str]:
    """Give formgrader the files it needs to show a submission as autograded.

    formgrader (nbgrader's NbGraderAPI) counts a submission as autograded when
    ``autograded/<student>/<assignment>/`` exists, the gradebook holds the submission, and the
    gradebook's timestamp equals the one in ``submitted/<student>/<assignment>/timestamp.txt``
    (both absent counts as equal); it shows the notebook of ``autograded/``. So a submission that
    did not come from ``submitted/`` (a flat file, an LMS download) gets a ``submitted/`` folder:
    the notebook as graded and its timestamp.txt; and ``autograded/`` gets a copy of ``submitted/``
    when it has none or an older one. nbgrader's own ``submitted/`` is never changed.

    Returns:
        (whether anything was copied, a warning or "").
    """
    submitted = Path(coursedir.format_path(coursedir.submitted_directory, graded.student_id, cfg.assignment))
    autograded = Path(coursedir.format_path(coursedir.autograded_directory, graded.student_id, cfg.assignment))
    kept = graded.folder / SUBMITTED_COPY if graded.folder is not None else None
    copied = False
    if not submitted.exists() and kept is not None and kept.is_file():
        submitted.mkdir(parents=True)
        shutil.copyfile(kept, submitted / cfg.notebook)
        if graded.timestamp:
            (submitted / NBGRADER_TIMESTAMP).write_text(graded.timestamp + "\n", encoding="utf-8")
        copied = True
    if not (submitted / cfg.notebook).is_file():
        return copied, ""
    stamp = _stamp(submitted)
    warning = ""
    if graded.timestamp and stamp is not None and not _same_time(stamp, graded.timestamp):
        warning = (f"{submitted / NBGRADER_TIMESTAMP} says {stamp} but the graded submission is from "
                   f"{graded.timestamp}: formgrader lists it as not autograded until they agree")
    current = (autograded / cfg.notebook).is_file() and _same_time(_stamp(autograded), stamp)
    if not current:  # as nbgrader's autograde does: the submitted folder, timestamp.txt included
        shutil.copytree(submitted, autograded, dirs_exist_ok=True)
        copied = True
    return copied, warning


def export_to_gradebook(folder: Path, course_dir: Path, cfg: CourseConfig) -> dict[str, Any]:
    """Write every autograded result of ``folder`` into the nbgrader gradebook of ``course_dir``.

    Returns:
        A summary: db_url, written (student ids), skipped ({student: reason}), copied (ids),
        made (files written to set up the course folder), warnings.
    """
    graded = read_grading_folder(folder, cfg)
    made = prepare_course_dir(course_dir, cfg)
    coursedir = course_directory(course_dir, cfg)
    db_url = coursedir.db_url
    notebook = record_assignment(db_url, coursedir.course_id, cfg)
    written, skipped, copied, warned = [], {}, [], []
    with Gradebook(db_url, coursedir.course_id) as gb:
        ensure_grade_cells(gb, notebook, cfg)
        for item in graded:
            if item.status == "error":
                skipped[item.student_id] = "the grader failed on this submission; grade it again first"
                continue
            write_grades(gb, notebook, cfg, item)
            written.append(item)
    for item in written:
        done, warning = copy_for_formgrader(coursedir, cfg, item)
        if done:
            copied.append(item.student_id)
        if warning:
            warned.append(warning)
    return {"db_url": db_url, "written": [g.student_id for g in written], "skipped": skipped, "copied": copied,
            "made": made, "warnings": warned}


def main_export(dir: Path, course_dir: Path | None = None) -> int:
    """`course export DIR [--course-dir C]`: autograded scores into C's gradebook.db.

    Returns:
        0 when every result was written; 1 when some were skipped (grader failures).
    """
    cfg = load_config()
    course_dir = course_dir or cfg.root
    if not dir.is_dir():
        raise UserError(f"{dir} is not a folder: pass the folder `course grade --out` wrote.")
    if not course_dir.is_dir():
        raise UserError(f"{course_dir} is not a folder: pass the nbgrader course directory with --course-dir.")
    try:
        summary = export_to_gradebook(dir, course_dir, cfg)
    except ExportError as exc:
        raise UserError(str(exc)) from None
    for path in summary["made"]:
        print(f"wrote {path} (formgrader in {course_dir} uses it)")
    print(f"wrote the autograded scores of {len(summary['written'])} submission(s) into {summary['db_url']}")
    if summary["copied"]:
        print(f"copied {len(summary['copied'])} graded notebook(s) to submitted/ and autograded/ for formgrader")
    for warning in summary["warnings"]:
        print(f"warning: {warning}")
    for student, reason in summary["skipped"].items():
        print(f"skipped {student}: {reason}")
    print("next: grade the written answers in formgrader, then `nbgrader export` writes grades.csv")
    return 1 if summary["skipped"] else 0
