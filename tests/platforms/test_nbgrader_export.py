"""`course export`: autograded scores into a real nbgrader gradebook, then `nbgrader export`."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from nbgrader.utils import parse_utc
from traitlets.config.loader import PyFileConfigLoader

from course.cli import main as course_main
from course.config import load_config
from course.modes import GIVEN, OPTIONAL, apply_modes
from course.platforms.nbgrader_export import ExportError, exercise_points, export_to_gradebook

REPO = Path(__file__).resolve().parents[2]
STUDENTS = {"alice": "2026-12-17 10:00:00.000000 UTC", "bob": "2026-12-18 09:30:00.000000 UTC"}


@pytest.fixture(scope="module")
def cfg():
    return load_config()


def results_json(cfg, student: str, lost: dict[str, float], status: str = "graded") -> dict:
    """A results.json as `course grade` writes it: two checks per checked exercise, tagged with the exercise first.

    A given exercise has no check; an optional one's checks are worth 0.
    """
    tests = []
    for exercise, points in cfg.scored_points.items():
        if cfg.mode(exercise) == GIVEN:
            continue
        for half in (points / 2, points - points / 2):
            missing = min(lost.get(exercise, 0.0), half)
            lost[exercise] = lost.get(exercise, 0.0) - missing
            tests.append({"name": f"{exercise} check", "score": half - missing, "max_score": half,
                          "status": "failed" if missing else "passed", "output": "",
                          "visibility": "after_due_date", "tags": [exercise, "CharLSTM"]})
    return {"score": sum(t["score"] for t in tests), "execution_time": 1.0, "output": "", "tests": tests,
            "extra_data": {"student_id": student, "submission_id": student, "status": status}}


def nbgrader(course_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the nbgrader command in ``course_dir`` (alembic needs the venv's bin/ on PATH)."""
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[var] = str(course_dir.parent / "jupyter" / var.lower())
    proc = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *args], cwd=course_dir, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


@pytest.fixture
def course_dir(tmp_path, cfg) -> Path:
    """An nbgrader course directory with two submissions in nbgrader's submitted/ layout."""
    root = tmp_path / "course"
    (root / "source" / cfg.assignment).mkdir(parents=True)
    # nbgrader's source is the split notebook, as `course release` stages it for nbgrader.
    split = nbformat.from_dict(apply_modes(nbformat.read(str(cfg.source_notebook), as_version=4), cfg.exercise_modes))
    nbformat.write(split, str(root / "source" / cfg.assignment / cfg.notebook))
    (root / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.course_id = {cfg.course_id!r}\n"
        f"c.ClearSolutions.code_stub = {dict(cfg.nbgrader['ClearSolutions.code_stub'])!r}\n"
    )
    for student, stamp in STUDENTS.items():
        folder = root / "submitted" / student / cfg.assignment
        folder.mkdir(parents=True)
        shutil.copyfile(cfg.release_notebook, folder / cfg.notebook)
        (folder / "timestamp.txt").write_text(stamp)
    return root


@pytest.fixture
def graded(tmp_path, cfg) -> Path:
    """A grading folder: alice lost 4 points of MyRNN and the threshold; bob's file was unreadable; carol hit a
    grader fault."""
    out = tmp_path / "graded"
    runs = {
        "alice": results_json(cfg, "alice", {"MyRNN": 4.0, "threshold": cfg.points["threshold"]}),
        "bob": results_json(cfg, "bob", dict(cfg.points), status="rejected"),
        "carol": results_json(cfg, "carol", {}, status="error"),
    }
    for student, results in runs.items():
        (out / student).mkdir(parents=True)
        (out / student / "results.json").write_text(json.dumps(results))
    rows = ["assignment,timestamp,student_id,score,max_score,status"]
    rows += [f"{cfg.assignment},{STUDENTS.get(s, '')},{s},{r['score']},100,{r['extra_data']['status']}"
             for s, r in runs.items()]
    (out / "gradebook.csv").write_text("\n".join(rows) + "\n")
    return out


def grades(course_dir: Path, cfg, student: str) -> dict[str, tuple]:
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", cfg.course_id) as gb:
        nb = gb.find_submission_notebook(Path(cfg.notebook).stem, cfg.assignment, student)
        return {g.name: (g.auto_score, g.manual_score, g.needs_manual_grade, g.max_score) for g in nb.grades}


def test_exercise_points_follow_the_first_tag(cfg):
    results = results_json(cfg, "x", {"rnn_output_shapes": 1.0, "threshold": 17.0})
    points = exercise_points(results, list(cfg.points))
    assert points["rnn_output_shapes"] == cfg.points["rnn_output_shapes"] - 1 and points["threshold"] == 0
    assert points["MyRNN"] == cfg.points["MyRNN"]  # the second tag (CharLSTM) earns nothing


def test_export_writes_autograded_scores_and_nbgrader_exports_them(course_dir, graded, cfg):
    summary = export_to_gradebook(graded, course_dir, cfg)
    assert sorted(summary["written"]) == ["alice", "bob"] and set(summary["skipped"]) == {"carol"}
    alice = grades(course_dir, cfg, "alice")
    assert alice["test_MyRNN"][:2] == (cfg.points["MyRNN"] - 4.0, None)
    assert alice["test_threshold"] == (0.0, None, False, float(cfg.points["threshold"]))
    assert alice["test_rnn_output_shapes"][0] == cfg.points["rnn_output_shapes"]
    # the split: a given exercise has no grade cell, a homework one is worth 0
    assert not {f"test_{e}" for e in cfg.exercises if cfg.mode(e) == GIVEN} & set(alice)
    assert {name: row[3] for name, row in alice.items() if name[5:] in cfg.exercise_modes
            and cfg.mode(name[5:]) == OPTIONAL} == {f"test_{e}": 0.0 for e in cfg.exercises if cfg.mode(e) == OPTIONAL}
    assert alice["q_detach"][0] is None and alice["q_detach"][2] is True  # written answers await a person
    assert all(score == 0.0 for name, (score, *_) in grades(course_dir, cfg, "bob").items() if name.startswith("test_"))
    # formgrader needs the notebook under autograded/; nbgrader's own copy would be kept.
    assert (course_dir / "autograded" / "alice" / cfg.assignment / cfg.notebook).is_file()

    nbgrader(course_dir, "export", "--to", "grades.csv")
    with (course_dir / "grades.csv").open(newline="") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh)}
    assert set(rows) == {"alice", "bob"}
    total = cfg.autograded_points + cfg.manual_points
    assert float(rows["alice"]["max_score"]) == total
    assert float(rows["alice"]["raw_score"]) == cfg.autograded_points - 4 - cfg.points["threshold"]
    assert float(rows["bob"]["raw_score"]) == 0.0
    assert rows["alice"]["timestamp"].startswith("2026-12-17 10:00:00")


def test_manual_grades_survive_a_new_export(course_dir, graded, cfg):
    export_to_gradebook(graded, course_dir, cfg)
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", cfg.course_id) as gb:  # what formgrader does
        name = Path(cfg.notebook).stem
        gb.find_grade("q_detach", name, cfg.assignment, "alice").manual_score = 2.5
        gb.find_grade("test_rnn_output_shapes", name, cfg.assignment, "alice").manual_score = 1.0  # overridden
        gb.db.commit()
    regraded = json.loads((graded / "alice" / "results.json").read_text())
    for test in regraded["tests"]:  # alice fixed MyRNN and resubmitted
        if test["tags"][0] == "MyRNN":
            test["score"], test["status"] = test["max_score"], "passed"
    (graded / "alice" / "results.json").write_text(json.dumps(regraded))
    export_to_gradebook(graded, course_dir, cfg)
    alice = grades(course_dir, cfg, "alice")
    assert alice["test_MyRNN"][:3] == (float(cfg.points["MyRNN"]), None, False)
    assert alice["q_detach"][1] == 2.5
    assert alice["test_rnn_output_shapes"][:3] == (float(cfg.points["rnn_output_shapes"]), 1.0, True)  # flagged
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", cfg.course_id) as gb:
        assert len(gb.students) == 2 and len(gb.find_assignment(cfg.assignment).submissions) == 2


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # raised inside nbgrader's add_submission
def test_export_into_a_gradebook_nbgrader_created(course_dir, graded, cfg, tmp_path):
    """The instructor already ran `nbgrader generate_assignment`: its records are used, and match ours."""
    nbgrader(course_dir, "generate_assignment", cfg.assignment, "--force")
    theirs = cells(course_dir, cfg)
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", cfg.course_id) as gb:  # as `nbgrader autograde` would
        gb.add_student("alice", first_name="Alice")
        gb.add_submission(cfg.assignment, "alice")
    export_to_gradebook(graded, course_dir, cfg)
    alice = grades(course_dir, cfg, "alice")
    assert alice["test_MyRNN"][0] == cfg.points["MyRNN"] - 4.0
    assert alice["test_threshold"][0] == 0.0  # a Grade row for the cell added after this submission
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", cfg.course_id) as gb:
        assert gb.find_student("alice").first_name == "Alice"

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copyfile(course_dir / "nbgrader_config.py", fresh / "nbgrader_config.py")
    export_to_gradebook(graded, fresh, cfg)  # records the assignment itself
    ours = cells(fresh, cfg)
    assert ours["grade"] == {**theirs["grade"], "test_threshold": (float(cfg.points["threshold"]), "code")}
    assert ours["solution"] == theirs["solution"] and ours["source"] == theirs["source"]


def cells(course_dir: Path, cfg) -> dict[str, dict]:
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", cfg.course_id) as gb:
        nb = gb.find_notebook(Path(cfg.notebook).stem, cfg.assignment)
        return {
            "grade": {c.name: (c.max_score, c.cell_type) for c in nb.grade_cells},
            "solution": sorted(c.name for c in nb.solution_cells),
            "source": {c.name: (c.checksum, c.locked) for c in nb.source_cells},
        }


def test_points_that_disagree_with_the_notebook_are_refused(course_dir, graded, cfg, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "source", repo / "source")
    text = (REPO / "course_config.py").read_text()
    assert '"MyRNN": 12,' in text and '"threshold": 17,' in text
    text = text.replace('"MyRNN": 12,', '"MyRNN": 13,').replace('"threshold": 17,', '"threshold": 16,')
    (repo / "course_config.py").write_text(text)
    other = load_config(repo / "course_config.py")
    with pytest.raises(ExportError, match="test_MyRNN"):
        export_to_gradebook(graded, course_dir, other)


def test_cli(course_dir, graded, tmp_path, capsys):
    assert course_main(["export", str(tmp_path / "nowhere"), "--course-dir", str(course_dir)]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert course_main(["export", str(graded), "--course-dir", str(course_dir)]) == 1  # carol was skipped
    out = capsys.readouterr().out
    assert "2 submission(s)" in out and "skipped carol" in out


# --- a course folder made for formgrader ------------------------------------------------------------


def test_the_repository_config_copied_into_a_course_folder_points_nbgrader_there(tmp_path, graded, cfg):
    """The trap: a copy used to reset nbgrader's root to the repository (gradebook.db there, grades.csv empty)."""
    course = tmp_path / "formgrader-course"
    course.mkdir()
    shutil.copyfile(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    loaded = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    assert loaded.CourseDirectory.root == str(course)
    assert loaded.CourseDirectory.course_id == cfg.course_id and loaded.Execute.timeout == 900
    repo_loaded = PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()
    assert repo_loaded.CourseDirectory.root == str(REPO)
    export_to_gradebook(graded, course, cfg)
    nbgrader(course, "export", "--to", "grades.csv")
    with (course / "grades.csv").open(newline="") as fh:
        assert sorted(row["student_id"] for row in csv.DictReader(fh)) == ["alice", "bob"]
    assert (course / "gradebook.db").is_file() and not (REPO / "gradebook.db").exists()


def flat_grading_folder(tmp_path: Path, cfg, stamps: dict[str, str]) -> Path:
    """A `course grade --out` folder for submissions that were flat files or LMS downloads (no submitted/)."""
    out = tmp_path / "graded-flat"
    lines = ["assignment,timestamp,student_id,first_name,last_name,email,score,max_score,status,name,lms,submission"]
    for folder, (student, lms) in {"zoe": ("zoe", "files"), "Carla_Diaz_Ruiz_12347": ("12347", "moodle")}.items():
        results = results_json(cfg, student, {"MyRNN": 2.0})
        results["extra_data"]["submission_id"] = folder
        (out / folder).mkdir(parents=True)
        (out / folder / "results.json").write_text(json.dumps(results))
        shutil.copyfile(cfg.release_notebook, out / folder / "submission.ipynb")  # the notebook as graded
        first, last = ("Carla", "Díaz Ruiz") if lms == "moodle" else ("", "")
        lines.append(f"{cfg.assignment},{stamps[student]},{student},{first},{last},,{results['score']},100,graded,"
                     f"{first} {last},{lms},{folder}")
    (out / "gradebook.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def test_formgrader_shows_flat_file_submissions_as_autograded(tmp_path, cfg):
    stamps = {"zoe": "2026-12-18T15:45:30+01:00", "12347": "2026-12-18T23:58:00.250000+01:00"}
    graded = flat_grading_folder(tmp_path, cfg, stamps)
    course = tmp_path / "formgrader-course"
    course.mkdir()
    summary = export_to_gradebook(graded, course, cfg)
    assert str(course / "nbgrader_config.py") in summary["made"]
    written = (course / "nbgrader_config.py").read_text(encoding="utf-8")
    assert "import course" not in written and "from course" not in written  # loads in any Jupyter with nbgrader
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()  # as formgrader loads it
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    shown = {s["student"]: s for s in api.get_submissions(cfg.assignment)}
    assert set(shown) == {"zoe", "12347"}
    for student, stamp in stamps.items():
        assert shown[student]["autograded"] is True and shown[student]["score"] == cfg.autograded_points - 2
        assert parse_utc(shown[student]["timestamp"]) == parse_utc(stamp)
        assert (course / "submitted" / student / cfg.assignment / "timestamp.txt").read_text().strip() == stamp
    assert [s["autograded"] for s in api.get_student_submissions("zoe")] == [True]
    assert api.get_student("12347")["last_name"] == "Díaz Ruiz"

    # Carla resubmits; graded again, the export brings formgrader's copy and time up to date.
    later = {**stamps, "12347": "2026-12-19T08:00:00+01:00"}
    shutil.rmtree(course / "submitted" / "12347")  # nbgrader's submitted/ is never rewritten; here it was ours
    export_to_gradebook(flat_grading_folder(tmp_path / "again", cfg, later), course, cfg)
    again = {s["student"]: s for s in api.get_submissions(cfg.assignment)}
    assert again["12347"]["autograded"] is True and parse_utc(again["12347"]["timestamp"]) == parse_utc(later["12347"])
    assert (course / "autograded" / "12347" / cfg.assignment / "timestamp.txt").read_text().strip() == later["12347"]
