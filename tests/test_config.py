"""course_config.py is read into a frozen CourseConfig; every bad value is refused with a message that names it."""
from __future__ import annotations

import dataclasses
import re

import pytest

from course.config import load_config
from course.errors import ConfigError, UserError

REPO_CONFIG = load_config().path


def write_config(tmp_path, **changes: str):
    """The repository's course_config.py with some assignments replaced (NAME -> new right-hand side)."""
    text = REPO_CONFIG.read_text(encoding="utf-8")
    for name, value in changes.items():
        text, count = re.subn(rf"^{name} = .*$", f"{name} = {value}", text, count=1, flags=re.M)
        assert count == 1, name
    path = tmp_path / "course_config.py"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_repository_configuration_loads_frozen():
    cfg = load_config()
    graded = [name for name in cfg.points if cfg.mode(name) == "graded"]
    assert cfg.autograded_points == sum(cfg.points[name] for name in graded) and cfg.threshold.candidates()
    assert set(cfg.exercise_modes) == set(cfg.exercises) == set(cfg.points) - {"threshold"}
    assert cfg.mode("threshold") == "graded"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.points["MyRNN"] = 99  # type: ignore[index]


@pytest.mark.parametrize("name, value, phrase", [
    ("THRESHOLD_CHUNK", "0", "THRESHOLD_CHUNK must be positive, got 0"),
    ("THRESHOLD_CHUNK", "2.5", "THRESHOLD_CHUNK must be int, got 2.5"),
    ("THRESHOLD_CHUNK", "30", "every candidate step count must be a multiple of THRESHOLD_CHUNK (30)"),
    ("THRESHOLD_CANDIDATES", "{'lr': (1e-2,), 'batch': (16,)}", "must have exactly the keys 'lr', 'batch' and 'steps'"),
    ("THRESHOLD_CANDIDATES", "{'lr': (), 'batch': (16,), 'steps': (100,)}",
     "THRESHOLD_CANDIDATES['lr'] must be a non-empty tuple of distinct positive numbers"),
    ("THRESHOLD_CANDIDATES", "{'lr': (1e-2,), 'batch': (16.5,), 'steps': (100,)}",
     "THRESHOLD_CANDIDATES['batch'] must be a non-empty tuple of distinct positive ints"),
    ("BROKEN_MARGIN", "0.9", "BROKEN_MARGIN must be at least 1"),
    ("THRESHOLD_BELOW_TRIGRAM", "1", "THRESHOLD_BELOW_TRIGRAM must be bool"),
    ("MEMORY_LIMIT_MB", "True", "MEMORY_LIMIT_MB must be int, got True"),
    ("CHECK_TIMEOUT_S", "-1", "CHECK_TIMEOUT_S must be positive, got -1.0"),
    ("CALIBRATION_MARGIN", "'wide'", "CALIBRATION_MARGIN must be int or float, got 'wide'"),
    ("DUEDATE", "'2026-12-18T23:59:00'", "DUEDATE needs a UTC offset"),
    ("HELDOUT_FRACTION", "0.7", "HELDOUT_FRACTION must lie in (0, 0.5)"),
    ("HIDDEN_CHECK_VISIBILITY", "'sometimes'", "HIDDEN_CHECK_VISIBILITY must be one of"),
    ("CALIBRATION_SEEDS", "()", "CALIBRATION_SEEDS must be a non-empty tuple of ints"),
    ("CORPUS_PATH", "None", "CORPUS_PATH must name a UTF-8 text file"),
    ("STUDENT_REPO", "'lab-rnn'", "STUDENT_REPO must be a GitHub repository as 'owner/name', got 'lab-rnn'"),
    ("STUDENT_REPO", "'https://github.com/a/b'", "STUDENT_REPO must be a GitHub repository as 'owner/name'"),
    ("STUDENT_REPO", "'-bad/name'", "STUDENT_REPO must be a GitHub repository"),
    ("STUDENT_BRANCH", "'main branch'", "STUDENT_BRANCH must be a git branch name"),
    ("STUDENT_BRANCH", "'a..b'", "STUDENT_BRANCH must be a git branch name"),
])
def test_bad_values_are_refused_by_name(tmp_path, name, value, phrase):
    with pytest.raises(ConfigError, match=re.escape(phrase)):
        load_config(write_config(tmp_path, **{name: value}))


def test_the_student_repository_gives_every_public_link():
    cfg = load_config()
    owner_name, branch = cfg.student_repo, cfg.student_branch
    assert cfg.colab_url == f"https://colab.research.google.com/github/{owner_name}/blob/{branch}/{cfg.notebook}"
    assert cfg.student_raw_url("a.txt") == f"https://raw.githubusercontent.com/{owner_name}/{branch}/a.txt"
    assert cfg.corpus_path.is_file() and cfg.corpus_path.is_relative_to(cfg.root)


@pytest.mark.parametrize("value, phrase", [
    ("{'MyRNN': 'homework'}", "EXERCISES['MyRNN'] must be one of graded, optional, given, got 'homework'"),
    ("{'MyGRU': 'given'}", "EXERCISES names 'MyGRU', which is not an exercise of POINTS"),
    ("{'threshold': 'optional'}", "EXERCISES cannot set the threshold's mode"),
    ("['MyRNN']", "EXERCISES must be a dict exercise -> mode"),
])
def test_bad_exercise_modes_are_refused(tmp_path, value, phrase):
    text = REPO_CONFIG.read_text(encoding="utf-8")
    text, count = re.subn(r"^EXERCISES = \{.*?^\}$", f"EXERCISES = {value}", text, count=1, flags=re.M | re.S)
    assert count == 1
    path = tmp_path / "course_config.py"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(phrase)):
        load_config(path)


def test_exercises_left_out_of_the_split_are_graded_and_only_graded_points_count(tmp_path):
    text = re.sub(r"^EXERCISES = \{.*?^\}$", "EXERCISES = {'decode': 'given', 'encode': 'optional'}",
                  REPO_CONFIG.read_text(encoding="utf-8"), count=1, flags=re.M | re.S)
    path = tmp_path / "course_config.py"
    path.write_text(text, encoding="utf-8")
    cfg = load_config(path)
    assert cfg.mode("decode") == "given" and cfg.mode("encode") == "optional" and cfg.mode("MyRNN") == "graded"
    assert cfg.scored_points["decode"] == cfg.scored_points["encode"] == 0
    assert cfg.autograded_points == sum(cfg.points.values()) - cfg.points["decode"] - cfg.points["encode"]
    path.write_text(re.sub(r"^EXERCISES = .*$", "", text, flags=re.M), encoding="utf-8")
    assert set(load_config(path).exercise_modes.values()) == {"graded"}  # no EXERCISES: every exercise graded


def test_a_missing_setting_and_a_broken_file_are_user_errors(tmp_path):
    text = REPO_CONFIG.read_text(encoding="utf-8")
    path = tmp_path / "course_config.py"
    path.write_text(re.sub(r"^SEED = .*$", "", text, flags=re.M), encoding="utf-8")
    with pytest.raises(ConfigError, match="SEED is missing"):
        load_config(path)
    path.write_text("POINTS = {\n", encoding="utf-8")
    with pytest.raises(UserError, match="could not be read: SyntaxError"):
        load_config(path)
    with pytest.raises(UserError, match="No course configuration at"):
        load_config(tmp_path / "nowhere.py")


def test_points_must_give_the_threshold_its_points(tmp_path):
    text = REPO_CONFIG.read_text(encoding="utf-8")
    text, count = re.subn(r'^    "threshold": .*\n', "", text, count=1, flags=re.M)
    assert count == 1
    path = tmp_path / "course_config.py"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape("POINTS has no 'threshold' entry: add 'threshold': N")):
        load_config(path)
