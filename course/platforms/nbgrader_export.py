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
from typing import TYPE_CHECKING, Any

from course.config import CourseConfig, load_config
from course.modes import apply_modes, has_checks

if TYPE_CHECKING:
    from nbgrader.api import Gradebook
    from nbgrader.coursedir import CourseDirectory

TEST_PREFIX = "test_"  # visible test cells: grade_id test_<exercise>


class ExportError(RuntimeError):
    """The grading folder or the gradebook cannot be used; the message says what to do."""


@dataclass(frozen=True)
class Graded:
    """One submission's autograded result, read from its results.json."""

    student_id: str
    status: str
    points: dict[str, float]  # exercise -> points earned
    timestamp: str


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
    stamps: dict[str, str] = {}
    book = folder / "gradebook.csv"
    if book.is_file():
        with book.open(newline="", encoding="utf-8") as fh:
            stamps = {row["student_id"]: row.get("timestamp", "") for row in csv.DictReader(fh)}
    graded = []
    for path in sorted(folder.glob("*/results.json")):
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ExportError(f"{path} is not readable JSON ({exc}); grade that submission again.") from None
        extra = results.get("extra_data", {})
        student = str(extra.get("student_id") or path.parent.name)
        graded.append(Graded(student, str(extra.get("status", "graded")), exercise_points(results, checked(cfg)),
                             stamps.get(student, "")))
    if not graded:
        raise ExportError(f"No results.json under {folder}: pass the folder `course grade --out` wrote.")
    return graded


# --- nbgrader's side ----------------------------------------------------------------


def course_directory(course_dir: Path, cfg: CourseConfig) -> CourseDirectory:
    """nbgrader's CourseDirectory for ``course_dir``, configured by its nbgrader_config.py when it has one."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    if (course_dir / "nbgrader_config.py").is_file():
        try:
            config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
        except Exception as exc:
            raise ExportError(f"{course_dir / 'nbgrader_config.py'} could not be loaded: {exc}") from None
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
    import nbformat
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearOutput,
        ClearSolutions,
        ComputeChecksums,
        LockCells,
        SaveCells,
    )
    from traitlets.config import Config

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
    from nbgrader.api import MissingEntry

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
    """Store one student's autograded points; manual grades are left as they are."""
    from nbgrader.api import Grade, MissingEntry, SubmittedNotebook
    from sqlalchemy.exc import SAWarning

    gb.update_or_create_student(graded.student_id)
    try:
        submission = gb.find_submission(cfg.assignment, graded.student_id)
    except MissingEntry:
        with warnings.catch_warnings():  # nbgrader's add_submission trips a harmless SQLAlchemy autoflush warning
            warnings.simplefilter("ignore", SAWarning)
            submission = gb.add_submission(cfg.assignment, graded.student_id,
                                           **({"timestamp": graded.timestamp} if graded.timestamp else {}))
    else:
        if graded.timestamp and submission.timestamp is None:
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


def copy_for_formgrader(coursedir: CourseDirectory, cfg: CourseConfig, student_id: str) -> bool:
    """Copy submitted/<student>/<assignment>/ to autograded/ when nbgrader has no autograded copy yet.

    formgrader shows the autograded copy while the written answers are graded.

    Returns:
        True when a copy was made.
    """
    submitted = Path(coursedir.format_path(coursedir.submitted_directory, student_id, cfg.assignment))
    autograded = Path(coursedir.format_path(coursedir.autograded_directory, student_id, cfg.assignment))
    if not (submitted / cfg.notebook).is_file() or (autograded / cfg.notebook).exists():
        return False
    shutil.copytree(submitted, autograded, dirs_exist_ok=True)
    return True


def export_to_gradebook(folder: Path, course_dir: Path, cfg: CourseConfig) -> dict[str, Any]:
    """Write every autograded result of ``folder`` into the nbgrader gradebook of ``course_dir``.

    Returns:
        A summary: db_url, written (student ids), skipped ({student: reason}), copied (ids).
    """
    from nbgrader.api import Gradebook

    graded = read_grading_folder(folder, cfg)
    coursedir = course_directory(course_dir, cfg)
    db_url = coursedir.db_url
    notebook = record_assignment(db_url, coursedir.course_id, cfg)
    written, skipped, copied = [], {}, []
    with Gradebook(db_url, coursedir.course_id) as gb:
        ensure_grade_cells(gb, notebook, cfg)
        for item in graded:
            if item.status == "error":
                skipped[item.student_id] = "the grader failed on this submission; grade it again first"
                continue
            write_grades(gb, notebook, cfg, item)
            written.append(item.student_id)
    for student in written:
        if copy_for_formgrader(coursedir, cfg, student):
            copied.append(student)
    return {"db_url": db_url, "written": written, "skipped": skipped, "copied": copied}


def main_export(dir: Path, course_dir: Path | None = None) -> int:
    """`course export DIR [--course-dir C]`: autograded scores into C's gradebook.db.

    Returns:
        0 when every result was written; 1 when some were skipped (grader failures).
    """
    from course.errors import UserError

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
    print(f"wrote the autograded scores of {len(summary['written'])} submission(s) into {summary['db_url']}")
    if summary["copied"]:
        print(f"copied {len(summary['copied'])} submitted notebook(s) to autograded/ for formgrader")
    for student, reason in summary["skipped"].items():
        print(f"skipped {student}: {reason}")
    print("next: grade the written answers in formgrader, then `nbgrader export` writes grades.csv")
    return 1 if summary["skipped"] else 0
