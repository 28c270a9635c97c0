"""`course grade` on every LMS's download as it is downloaded, then `course export` into a formgrader course folder."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lms_downloads import FIXTURES, copy_download, zip_download
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from nbgrader.utils import parse_utc
from traitlets.config.loader import PyFileConfigLoader

from course.config import load_config
from course.grader.grade import submission_seed
from course.grader.submission import Submission

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("lms_downloads")]

REPO = Path(__file__).resolve().parents[2]
CFG = load_config()
# result folder -> (student id, name, lms, late, timestamp, status, notebook graded): what each download says
EXPECTED = {
    # Moodle zip ("Download submissions in folders") and an unzipped flat download with a later Ana
    "Ana_Garcia_12345": ("12345", "Ana García", "moodle", "", "2026-12-18T22:40:00+01:00", "graded", "untouched"),
    "Bob_Smith_12346": ("12346", "Bob Smith", "moodle", "", "2026-12-18T10:30:00+01:00", "graded", "partial"),
    "Carla_Diaz_Ruiz_12347": ("12347", "Carla Díaz Ruiz", "moodle", "", "2026-12-18T23:58:00+01:00", "graded",
                              "untouched"),
    "Dmitri_Ivanov_12348": ("12348", "Dmitri Ivanov", "moodle", "", "2026-12-16T12:00:00+01:00", "rejected", None),
    "Erik_Odegard_12349": ("12349", "Erik Ødegård", "moodle", "", "2026-12-18T18:00:00+01:00", "graded", "partial"),
    # Canvas zip, names from the roster
    "garciaana_5001": ("5001", "Ana García", "canvas", "no", "2026-12-18T20:00:00+01:00", "graded", "partial"),
    "smithbob_5002": ("5002", "Bob Smith", "canvas", "yes", "2026-12-19T09:30:00+01:00", "graded", "partial"),
    "diazruizcarla_5003": ("5003", "Carla Díaz Ruiz", "canvas", "no", "2026-12-18T12:00:00+01:00", "rejected", None),
    # Gradescope export folder
    "Ana_Garcia_A0001": ("A0001", "Ana García", "gradescope", "", "2026-12-18T22:14:05.318263+01:00", "graded",
                         "partial"),
    "Bob_Smith_A0002": ("A0002", "Bob Smith", "gradescope", "", "2026-12-19T09:02:11+01:00", "graded", "untouched"),
    # nbgrader's submitted/
    "ana": ("ana", "", "nbgrader", "", "2026-12-17T10:15:42.123456+01:00", "graded", "partial"),
    "bob": ("bob", "", "nbgrader", "", "2026-12-19T11:00:00+01:00", "graded", "untouched"),
    # a flat file
    "zoe": ("zoe", "", "files", "", "2026-12-18T15:45:30+01:00", "graded", "partial"),
}


def run(args: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess:
    """The `course` command as an instructor runs it (the venv's bin/ first on PATH, as `make` sets it)."""
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    return subprocess.run([sys.executable, "-m", "course", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=1500)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    """Every fixture download graded in one `course grade` call, with the Canvas roster."""
    base = tmp_path_factory.mktemp("lms")
    downloads = [
        zip_download("moodle", base / "moodle.zip"),
        copy_download("moodle-flat", base / "moodle-flat"),
        zip_download("canvas", base / "canvas.zip"),
        copy_download("gradescope-export", base / "assignment_777_export"),
        copy_download("nbgrader", base / "nbgrader") / "submitted",
        copy_download("loose", base / "loose") / "zoe.ipynb",
    ]
    out = base / "graded"
    done = run(["grade", *map(str, downloads), "--out", str(out), "--jobs", "2", "--no-threshold",
                "--roster", str(FIXTURES / "canvas-roster.csv")])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (out / "console.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    return out


def gradebook(out: Path) -> dict[str, dict[str, str]]:
    with (out / "gradebook.csv").open(newline="", encoding="utf-8") as fh:
        return {row["submission"]: row for row in csv.DictReader(fh)}


def test_one_row_per_student_with_the_lms_identity(graded):
    rows = gradebook(graded)
    got = {key: (r["student_id"], r["name"], r["lms"], r["late"], r["timestamp"], r["status"])
           for key, r in rows.items()}
    assert got == {key: want[:6] for key, want in EXPECTED.items()}
    assert len({(r["lms"], r["student_id"]) for r in rows.values()}) == len(rows)
    assert (rows["Carla_Diaz_Ruiz_12347"]["first_name"], rows["Carla_Diaz_Ruiz_12347"]["last_name"]) == (
        "Carla", "Díaz Ruiz")
    assert rows["smithbob_5002"]["email"] == "bob.smith@estudiantat.upc.edu"  # from the roster
    assert rows["Ana_Garcia_A0001"]["email"] == "ana.garcia@estudiantat.upc.edu"  # from Gradescope's metadata
    assert "Díaz".encode() in (graded / "gradebook.csv").read_bytes()  # UTF-8 on disk


def test_scores_belong_to_the_notebook_each_student_sent(graded):
    rows = gradebook(graded)
    partial = {float(rows[k]["score"]) for k, want in EXPECTED.items() if want[6] == "partial"}
    others = {float(rows[k]["score"]) for k, want in EXPECTED.items() if want[6] != "partial"}
    assert len(partial) == 1 and partial.pop() > 0 and others == {0.0}
    # Canvas's resubmission (lab_rnn-1.ipynb) was graded, not the first attempt
    smith = json.loads((graded / "smithbob_5002" / "results.json").read_text(encoding="utf-8"))
    assert smith["score"] > 0 and smith["extra_data"]["student_id"] == "5002"


def test_students_without_a_notebook_are_told_so(graded):
    feedback = (graded / "Dmitri_Ivanov_12348" / "feedback.md").read_text(encoding="utf-8")
    assert feedback.startswith("# Feedback for Dmitri Ivanov") and "answers.pdf" in feedback
    canvas = json.loads((graded / "diazruizcarla_5003" / "results.json").read_text(encoding="utf-8"))
    assert "lab_rnn.py" in canvas["output"] and canvas["extra_data"]["status"] == "rejected"
    assert (graded / "Carla_Diaz_Ruiz_12347" / "feedback.md").read_text(encoding="utf-8").startswith(
        "# Feedback for Carla Díaz Ruiz")


def test_earlier_submissions_are_listed_and_not_graded(graded):
    with (graded / "submissions.csv").open(newline="", encoding="utf-8") as fh:
        listed = list(csv.DictReader(fh))
    superseded = {(r["student_id"], r["origin"].rsplit("/", 1)[-1].rsplit(":", 1)[-1]) for r in listed
                  if r["graded"].startswith("no: superseded")}
    assert superseded == {("12345", "lab_rnn.ipynb"), ("12346", "scratch.ipynb"),
                          ("5002", "smithbob_LATE_5002_900002_lab_rnn.ipynb")}
    assert sorted(p.name for p in graded.iterdir() if p.is_dir()) == sorted(EXPECTED)
    log = (graded / "intake.log").read_text(encoding="utf-8")
    assert "roster: 5004 (Dana Roe) has no submission" in log
    assert "student id 12345 (Ana García) is not in the roster" in log
    assert "is not graded; graded instead" in (graded / "console.log").read_text(encoding="utf-8")


def test_each_student_gets_their_own_probe_seed(graded):
    seeds = {}
    for key in EXPECTED:
        extra = json.loads((graded / key / "results.json").read_text(encoding="utf-8"))["extra_data"]
        assert extra["student_id"] == EXPECTED[key][0] and extra["submission_id"] == key
        seeds[key] = submission_seed(CFG, Submission(key, Path(key), extra["student_id"]))
    assert len(set(seeds.values())) == len(seeds)


def formgrader_api(course_dir: Path) -> NbGraderAPI:
    """nbgrader's API configured as formgrader configures it: the course folder's nbgrader_config.py."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir, config=config)


def test_formgrader_shows_every_submission_autograded_with_its_time(graded, tmp_path):
    course_dir = tmp_path / "formgrader-course"
    course_dir.mkdir()  # an empty folder, as a JupyterHub formgrader course starts
    done = run(["export", str(graded), "--course-dir", str(course_dir)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nbgrader_config.py" in done.stdout
    assert not (REPO / "gradebook.db").exists()
    api = formgrader_api(course_dir)
    assert Path(api.coursedir.root) == course_dir
    rows = gradebook(graded)
    by_student = {s["student"]: s for s in api.get_submissions(CFG.assignment)}
    assert set(by_student) == {want[0] for want in EXPECTED.values()}
    for key, want in EXPECTED.items():
        shown = by_student[want[0]]
        assert shown["autograded"] is True and shown["submitted"] is True, (key, shown)
        assert parse_utc(shown["timestamp"]) == parse_utc(want[4]), key
        assert shown["score"] == float(rows[key]["score"]), key
    student_view = api.get_student_submissions("12347")
    assert [s["autograded"] for s in student_view] == [True]
    notebook = os.path.splitext(CFG.notebook)[0]
    listed = {s["student"] for s in api.get_notebook_submissions(CFG.assignment, notebook)}
    assert listed == {want[0] for want in EXPECTED.values() if want[6]}  # each notebook, there to grade by hand
    student = api.get_student("12347")
    assert (student["first_name"], student["last_name"]) == ("Carla", "Díaz Ruiz")
