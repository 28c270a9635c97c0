"""Find the submissions under the paths an instructor passes to `course grade`: one per student."""
from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from course.platforms import lms

NBGRADER_SUBMITTED = lms.NBGRADER_SUBMITTED  # nbgrader's folder: submitted/<student>/<assignment>/<nb>.ipynb
_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")
# Ids that end like a batch-level output file (gradebook.csv, report.html, plots) get "_" for the dot.
_OUTPUT_SUFFIX = re.compile(r"\.(csv|html|png|json|md|txt)$", re.IGNORECASE)


@dataclass(frozen=True)
class Submission:
    """One student's submission to grade.

    Attributes:
        id: folder name for its results: file-system safe and unique (accents transliterated).
        path: the submitted file.
        student_id: the student's id in the LMS (Moodle's participant id, Canvas's user id,
            Gradescope's SID, nbgrader's student folder); for plain files the same as id.
        timestamp: when it was submitted, ISO 8601 with offset: the LMS's time, else the file's.
        name: the student's name, UTF-8 intact ("" when the download does not say).
        email: the student's email when known.
        lms: where it came from: files, moodle, canvas, gradescope or nbgrader.
        late: the LMS's late flag (None when the LMS does not say).
        attempt: 1, or the resubmission number the LMS gives.
        problem: why there is nothing to grade (the student sent no notebook); graded as rejected.
        origin: where the file came from, for people (``moodle.zip:Ana García_..._/lab_rnn.ipynb``).
        superseded: earlier submissions of the same student, listed in the log and not graded.
    """

    id: str
    path: Path
    student_id: str
    timestamp: str = ""
    name: str = ""
    email: str = ""
    lms: str = lms.FILES
    late: bool | None = None
    attempt: int = 1
    problem: str = ""
    origin: str = ""
    superseded: tuple[Submission, ...] = ()


def safe_id(text: str) -> str:
    """A result folder name for ``text``: one safe path component, accents transliterated."""
    safe = _SAFE_ID.sub("_", lms.strip_accents(text)).strip("._") or "submission"
    return _OUTPUT_SUFFIX.sub(lambda m: "_" + m.group(1), safe)


def _rank(item: lms.Found, unit_times: dict[str, float], notebook: str) -> tuple:
    """Which of a student's files is graded: the latest submission (its time, then its attempt); within
    one submission the file named like the lab's notebook, then the newest file."""
    return (unit_times.get(item.unit, float("-inf")), item.attempt, item.filename == notebook,
            item.file_time or float("-inf"), item.origin)


def _no_notebook(files: list[lms.Found], notebook: str) -> str:
    listed = []
    for item in files[:8]:
        listed.append(f"{item.filename} ({item.note})" if item.note else item.filename)
    unpacked = [f for f in files if f.notebook and f.note]
    if unpacked:
        return (f"Your notebook could not be taken from the download: {unpacked[0].filename}: {unpacked[0].note}. "
                f"Submit your {notebook or 'notebook'} again.")
    return (f"No notebook (.ipynb) was found in your submission ({', '.join(listed)}); "
            f"submit your {notebook or 'notebook'} itself.")


def _stamp(item: lms.Found, unit_time: float | None, tz) -> str:
    """When it was submitted: the LMS's own time (to the microsecond it gives), else its submission's newest
    file (Moodle's "last modified"), else the file's own time."""
    if item.unit_time is not None:
        return lms.iso_time(item.unit_time, tz, exact=True)
    when = unit_time if unit_time is not None else item.file_time
    return lms.iso_time(when, tz) if when is not None else ""


def _temporary_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="course-downloads-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def discover(paths: list[Path], assignment: str, *, notebook: str = "", timezone: str = "UTC",
             limits: lms.ArchiveLimits | None = None, unpack_dir: Path | None = None,
             log: Callable[[str], None] | None = None) -> list[Submission]:
    """One submission per student under the given files, folders and LMS downloads.

    Recognises Moodle's, Canvas's and Gradescope's downloads (zipped or unzipped) and nbgrader's
    submitted/ layout (see course.platforms.lms); anything else is a plain notebook named by
    its stem. A student with several submissions gets the latest graded (its time, then its
    attempt); the others are kept in ``superseded`` and not graded. A student whose
    submission holds no notebook gets a submission with a ``problem`` (graded as rejected).

    Args:
        paths: .ipynb files, folders, or .zip downloads.
        assignment: the assignment name, to recognise nbgrader's submitted/ layout.
        notebook: the lab's notebook file name; it wins over other notebooks of one submission.
        timezone: the course's zone, for timestamps (zip times are local times in it).
        limits: what one zip may unpack to (default: ArchiveLimits()).
        unpack_dir: where zips are unpacked (it must outlive grading); default a temporary
            folder removed when the process exits.
        log: receives one line per thing left out (dropped zip members, superseded submissions).

    Returns:
        Submissions sorted by id; ids are unique (a clash gets the parent folder's name) and never
        name a batch-level output (``gradebook.csv`` becomes ``gradebook_csv``). Symbolic links
        are kept as links: ``read_notebook`` refuses them.
    Raises:
        UserError: a path does not exist, or a download cannot be used as a whole.
    """
    say = log or (lambda line: None)
    tz = lms.course_zone(timezone)
    folder = unpack_dir
    if folder is None:  # only zips are written to it
        zipped = any(Path(p).is_file() and lms.is_archive(Path(p)) for p in paths)
        folder = _temporary_folder() if zipped else Path(tempfile.gettempdir())
    found = lms.scan_downloads([Path(p) for p in paths], assignment, folder, limits or lms.ArchiveLimits(), tz, say)

    plain: list[lms.Found] = []
    by_student: dict[tuple[str, str], list[lms.Found]] = {}
    for item in found:
        if item.lms == lms.FILES:
            plain.append(item)
        else:
            by_student.setdefault((item.lms, item.student_id), []).append(item)

    seen: set[str] = set()

    def unique(base: str, parent: str) -> str:
        sub_id = base
        if sub_id in seen:
            sub_id = safe_id(f"{parent}__{base}")
        n = 2
        while sub_id in seen:
            sub_id, n = f"{base}-{n}", n + 1
        seen.add(sub_id)
        return sub_id

    subs: list[Submission] = []
    for item in plain:
        if item.path is None:  # a loose notebook of a zip that was not unpacked
            say(f"{item.origin} is not graded: {item.note}")
    for item in dict((Path(os.path.abspath(f.path)), f) for f in plain if f.path is not None).values():
        path = Path(os.path.abspath(item.path))  # type: ignore[arg-type]  # not resolve(): a link stays a link
        sub_id = unique(safe_id(path.stem), path.parent.name)
        subs.append(Submission(sub_id, path, sub_id, _stamp(item, item.file_time, tz), origin=item.origin))

    for (kind, student), files in sorted(by_student.items()):
        unit_times: dict[str, float] = {}
        for item in files:
            when = item.unit_time if item.unit_time is not None else (item.file_time if item.notebook else None)
            if when is not None:
                unit_times[item.unit] = max(unit_times.get(item.unit, when), when)
        notebooks = [f for f in files if f.notebook and f.path is not None]
        ranked = sorted(notebooks, key=lambda f: _rank(f, unit_times, notebook), reverse=True)
        first = files[0]
        base = safe_id(first.id_hint or student)
        if not ranked:
            sub_id = unique(base, kind)
            problem = _no_notebook(files, notebook)
            path = first.path or Path(first.origin)
            subs.append(Submission(sub_id, Path(os.path.abspath(path)), student, _stamp(first, unit_times.get(
                first.unit), tz), first.name, first.email, kind, first.late, first.attempt, problem, first.origin))
            continue
        chosen, earlier = ranked[0], ranked[1:]
        sub_id = unique(base, kind)
        older = tuple(
            Submission(sub_id, Path(os.path.abspath(e.path)), student, _stamp(e, unit_times.get(e.unit), tz),  # type: ignore[arg-type]
                       e.name, e.email, kind, e.late, e.attempt, origin=e.origin)
            for e in earlier
        )
        for e in older:
            say(f"{kind} student {student}: {e.origin} is not graded; graded instead: {chosen.origin}")
        subs.append(Submission(sub_id, Path(os.path.abspath(chosen.path)), student,  # type: ignore[arg-type]
                               _stamp(chosen, unit_times.get(chosen.unit), tz), chosen.name, chosen.email, kind,
                               chosen.late, chosen.attempt, origin=chosen.origin, superseded=older))
    return sorted(subs, key=lambda s: s.id)


def with_roster(subs: list[Submission], roster: dict[str, lms.RosterEntry],
                log: Callable[[str], None]) -> list[Submission]:
    """Names, emails and late flags filled from a roster, keyed by the LMS's student id.

    The roster's name wins (an LMS may squash it, as Canvas does); a name that disagrees with
    the download's is logged, as are submissions whose id is not in the roster and roster
    students who submitted nothing.

    Returns:
        The submissions, in the same order.
    """
    out = []
    for sub in subs:
        entry = roster.get(sub.student_id)
        if entry is None:
            log(f"{sub.id}: student id {sub.student_id} ({sub.name or 'no name'}) is not in the roster")
            out.append(sub)
            continue
        if entry.name and sub.name and not lms.same_person(entry.name, sub.name):
            log(f"{sub.id}: the download names student {sub.student_id} {sub.name!r}, the roster {entry.name!r}")
        late = sub.late if sub.late is not None else entry.late
        out.append(replace(sub, name=entry.name or sub.name, email=entry.email or sub.email, late=late))
    found = {s.student_id for s in subs}
    for student, entry in sorted(roster.items()):
        if student not in found:
            log(f"roster: {student} ({entry.name or 'no name'}) has no submission")
    return out


def anonymous_id(path: Path) -> str:
    """A student id for a file that came without one: stable for the same bytes, different for others."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError:
        digest = "unreadable"
    return f"anonymous-{digest}"
