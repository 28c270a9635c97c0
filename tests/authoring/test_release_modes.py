"""A release built with a given/graded/optional split of its own, and a submission graded under it."""
from __future__ import annotations

import ast
import io
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml
from rich.console import Console

from course.authoring.release import main_release
from course.config import load_config
from course.grader.batch import run_grade
from course.modes import GIVEN, GIVEN_NOTE, OPTIONAL, OPTIONAL_NOTE
from course.platforms import classroom
from course.student import notebook as nbc
from course.student.contract import Contract

REPO = Path(__file__).resolve().parents[2]
SPLIT = {"MyRNN": "given", "make_batches": "given", "encode": "optional", "generate": "optional"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A copy of the repository whose course_config.py sets SPLIT, released there; its configuration."""
    root = tmp_path_factory.mktemp("split") / "repo"
    for name in ("course", "source", "release", "autograder", "corpus"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    for name in ("nbgrader_config.py", "pyproject.toml", "requirements.lock"):
        shutil.copy(REPO / name, root / name)
    text = (REPO / "course_config.py").read_text(encoding="utf-8")
    text, count = re.subn(r"^EXERCISES = \{.*?^\}$", f"EXERCISES = {SPLIT!r}", text, count=1, flags=re.M | re.S)
    assert count == 1
    (root / "course_config.py").write_text(text, encoding="utf-8")
    cfg = load_config(root / "course_config.py")
    assert main_release(config=cfg) == 0
    return cfg


@pytest.fixture(scope="module")
def release(course) -> dict:
    return json.loads(course.release_notebook.read_text(encoding="utf-8"))


def by_id(nb: dict, gid: str) -> dict:
    return next(c for c in nb["cells"] if nbc.grade_id(c) == gid)


def solution_sources(cfg) -> dict[str, str]:
    nb = json.loads(cfg.source_notebook.read_text(encoding="utf-8"))
    return {nbc.grade_id(c): nbc.cell_source(c) for c in nb["cells"] if nbc.is_answer_cell(c)}


def test_given_exercises_are_worked_code_with_an_ungraded_demo(course, release):
    solution = solution_sources(course)
    for name in ("MyRNN", "make_batches"):
        cell = by_id(release, name)
        assert nbc.nbgrader_meta(cell) | {"checksum": None, "cell_type": None} == {
            "grade": False, "solution": False, "locked": True, "grade_id": name, "schema_version": 3,
            "checksum": None, "cell_type": None}
        kept = [line for line in solution[name].splitlines() if "SOLUTION" not in line]
        assert nbc.cell_source(cell).splitlines() == kept, "the solution stays, its markers go"
        test = by_id(release, f"test_{name}")
        meta = nbc.nbgrader_meta(test)
        assert not meta["grade"] and not meta["solution"] and meta["locked"] and "points" not in meta
        assert nbc.SKIP_TAG in nbc.tags(test) and "visible tests passed" in nbc.cell_source(test)
        assert "HIDDEN" not in nbc.cell_source(test)
    text = "\n".join(nbc.cell_source(c) for c in release["cells"] if c["cell_type"] == "markdown")
    assert f"### Worked code: `MyRNN`\n\n{GIVEN_NOTE}" in text


def test_optional_and_graded_exercises_are_stubs_with_their_points(course, release):
    for name in course.exercises:
        if course.mode(name) == GIVEN:
            continue
        answer, test = by_id(release, name), by_id(release, f"test_{name}")
        assert nbc.is_answer_cell(answer) and "raise NotImplementedError()" in nbc.cell_source(answer), name
        assert nbc.is_test_cell(test) and "HIDDEN" not in nbc.cell_source(test), name
        assert nbc.nbgrader_meta(test)["points"] == (0 if name in ("encode", "generate") else course.points[name])
    text = "\n".join(nbc.cell_source(c) for c in release["cells"] if c["cell_type"] == "markdown")
    numbered = re.findall(r"^### Exercise (\d+)(?: \(homework\))?: `(\w+)`", text, re.M)
    assert [name for _, name in numbered] == [n for n in course.exercises if course.mode(n) != GIVEN]
    assert [int(n) for n, _ in numbered] == list(range(1, len(numbered) + 1))
    number = [name for _, name in numbered].index("encode") + 1
    assert f"### Exercise {number} (homework): `encode`\n\n{OPTIONAL_NOTE}" in text
    assert "**Homework (optional, not counted in the session's score):** `encode`, `generate`." in text
    assert "**Worked code (given: read it and run it, not graded):** `MyRNN`, `make_batches`." in text


def test_the_self_check_and_classroom_follow_the_split(course, release):
    cell = nbc.cell_source(release["cells"][-1])
    embedded = re.search(r"^SELFCHECK_CONTRACT = Contract\.from_json\((.*)\)$", cell, re.M)
    contract = Contract.from_json(ast.literal_eval(embedded.group(1)))
    asked = [n for n in course.exercises if course.mode(n) != GIVEN]
    assert list(contract.exercises) == asked and contract.optional == ("encode", "generate")
    workflow = yaml.safe_load((course.release_notebook.parent / classroom.WORKFLOW).read_text())
    (job,) = workflow["jobs"].values()
    scores = {s["with"]["command"].split()[-1]: s["with"]["max-score"] for s in job["steps"]
              if "max-score" in s.get("with", {})}
    assert scores == {n: 0 if course.mode(n) == OPTIONAL else course.points[n] for n in asked}
    assert main_release(check=True, config=course) == 0


def test_a_submission_graded_under_the_split(course, release, tmp_path):
    """Given cells run the release's code whatever the student did; homework is reported for 0; graded counts."""
    solution = solution_sources(course)
    nb = json.loads(json.dumps(release))
    for cell in nb["cells"]:
        gid = nbc.grade_id(cell)
        if nbc.is_answer_cell(cell) and gid != "encode":  # encode, homework, left as released
            cell["source"] = solution[gid]
    by_id(nb, "MyRNN")["source"] = "raise RuntimeError('I broke the worked code')\n"  # the template's runs instead
    generate = by_id(nb, "generate")
    generate["source"] = nbc.cell_source(generate).replace("F.softmax(last / temperature, dim=-1)",
                                                           "F.softmax(last, dim=-1)")
    folder = tmp_path / "submissions"
    folder.mkdir()
    nbformat.write(nbformat.from_dict(nb), str(folder / "student.ipynb"))
    out = tmp_path / "out"
    quiet = Console(file=io.StringIO(), width=120)
    assert run_grade([folder], out, threshold=False, console=quiet, config=course) == 0
    results = json.loads((out / "student" / "results.json").read_text())
    by_exercise: dict[str, list[dict]] = {}
    for test in results["tests"]:
        by_exercise.setdefault(test["tags"][0], []).append(test)
    assert "MyRNN" not in by_exercise and "make_batches" not in by_exercise
    assert "I broke the worked code" not in results["output"]
    for name in ("encode", "generate"):
        assert all(t["max_score"] == 0 and t["extra_data"]["mode"] == OPTIONAL for t in by_exercise[name])
    assert any(t["status"] == "failed" for t in by_exercise["encode"])
    assert any("temperature" in t["output"] for t in by_exercise["generate"] if t["status"] == "failed")
    lost = {name for name, tests in by_exercise.items() if any(t["score"] < t["max_score"] for t in tests)}
    assert lost == {"threshold"}, "the threshold stage did not run; every graded exercise keeps its points"
    assert results["extra_data"]["max_autograded"] == course.autograded_points
    assert results["score"] == course.autograded_points - course.points["threshold"]
    feedback = (out / "student" / "feedback.md").read_text()
    assert "| `generate` | homework, not counted |" in feedback
