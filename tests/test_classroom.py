"""GitHub Classroom workflow of the student template, its visible-test runner, and the instructor CI."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from course import classroom
from course.config import load_config
from course.gradescope import pinned_requirements

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cfg():
    return load_config()


@pytest.fixture(scope="module")
def student_repo(tmp_path_factory, cfg) -> Path:
    """A student template repository: the release notebook plus the generated Classroom files."""
    dest = tmp_path_factory.mktemp("student")
    (dest / cfg.notebook).write_bytes(cfg.release_notebook.read_bytes())
    classroom.write_student_workflow(dest, cfg=cfg)
    return dest


@pytest.fixture(scope="module")
def workflow(student_repo) -> dict:
    return yaml.safe_load((student_repo / classroom.WORKFLOW).read_text())


def _visible_cells(nb) -> list[dict]:
    return [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata["nbgrader"].get("solution")]


def test_student_workflow_structure(workflow, cfg):
    assert set(workflow["on"]) >= {"push", "repository_dispatch"}
    assert workflow["permissions"]["checks"] == "write"
    (job,) = workflow["jobs"].values()
    assert "github-classroom[bot]" in job["if"]
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    assert steps[1]["uses"].startswith("actions/setup-python@") and steps[1]["with"]["python-version"] == "3.11"
    install = steps[2]["run"]
    pins = [p for p in pinned_requirements(REPO / "pyproject.toml") if p.split("==")[0] in classroom.NOTEBOOK_PACKAGES]
    assert all(pin in install.split() for pin in pins) and "torch==" in install
    assert steps[3]["run"].startswith(f"python -m course.classroom run {cfg.notebook}")
    graders = [s for s in steps if s.get("uses", "").startswith("classroom-resources/autograding-command-grader@")]
    reporter = steps[-1]
    assert reporter["uses"].startswith("classroom-resources/autograding-grading-reporter@")
    ids = [g["id"] for g in graders]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[a-z_][a-z0-9_]*", i) for i in ids)
    assert reporter["with"]["runners"].split(",") == ids
    assert reporter["env"] == {f"{i.upper()}_RESULTS": f"${{{{steps.{i}.outputs.result}}}}" for i in ids}
    for grader in graders:
        args = grader["with"]
        exercise = args["command"].split()[-1]
        assert args["command"] == f"python -m course.classroom verdict {classroom.RESULTS_FILE} {exercise}"
        assert grader["id"] == classroom.step_id(exercise)
        assert isinstance(args["max-score"], (int, float)) and args["max-score"] > 0
    assert job["env"]["PYTHONPATH"].endswith(classroom.RUNNER_DIR)


def test_points_add_up_to_the_visible_test_cells(workflow, cfg):
    release = nbformat.read(str(cfg.release_notebook), as_version=4)
    cells = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in _visible_cells(release)}
    (job,) = workflow["jobs"].values()
    graders = {s["with"]["command"].split()[-1]: s["with"]["max-score"] for s in job["steps"] if "max-score" in s.get("with", {})}
    assert graders == {gid[len("test_"):]: points for gid, points in cells.items()}
    # Every autograded exercise has its visible test, worth its points; the grader-run threshold has none.
    assert graders == {k: v for k, v in cfg.points.items() if k != "threshold"}
    assert sum(graders.values()) == cfg.autograded_points - cfg.points["threshold"]


def test_hidden_checks_never_reach_the_student_repository(student_repo, cfg):
    shipped = {p: p.read_text(encoding="utf-8") for p in (student_repo / ".github").rglob("*") if p.is_file()}
    code = {p for p in shipped if p.suffix == ".py"}
    for path in code:  # the runner is public tooling, copied verbatim: nothing else rides along
        original = REPO / "course" / path.name
        assert path.name == "__init__.py" or shipped[path] == original.read_text(encoding="utf-8"), path
    data = "\n".join(text for p, text in shipped.items() if p not in code)
    for forbidden in ("BEGIN HIDDEN TESTS", "autograder/", "calibration.json", "course_config", "worker_ops"):
        assert forbidden not in data, forbidden
    text = "\n".join(shipped.values())
    hidden_lines = set()
    for cell in nbformat.read(str(cfg.source_notebook), as_version=4).cells:
        region = re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S)
        hidden_lines |= {line.strip() for r in region for line in r.splitlines() if len(line.strip()) > 25}
    for path in cfg.autograder_dir.glob("*.py"):
        hidden_lines |= {line.strip() for line in path.read_text().splitlines() if len(line.strip()) > 40}
    leaked = {line for line in hidden_lines if line in text}
    # Lines the release itself shows (shared with a visible test) are public anyway.
    public = cfg.release_notebook.read_text(encoding="utf-8")
    assert {line for line in leaked if json.dumps(line)[1:-1] not in public} == set()
    workflow_text = (student_repo / classroom.WORKFLOW).read_text()
    assert "hidden" not in workflow_text.lower().replace("the hidden checks,", "")


def test_source_notebook_is_refused(cfg):
    with pytest.raises(classroom.ClassroomError, match="hidden-test region"):
        classroom.visible_tests(json.loads(cfg.source_notebook.read_text()))


def _answers(nb) -> dict[str, str]:
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}


def _run_in_student_repo(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """The runner as the workflow calls it: only the vendored copy on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(repo / classroom.RUNNER_DIR)
    return subprocess.run([sys.executable, "-m", "course.classroom", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.xdist_group("classroom")
def test_runner_scores_visible_tests_from_the_vendored_copy(tmp_path, cfg):
    repo = tmp_path / "student"
    repo.mkdir()
    classroom.write_student_workflow(repo, cfg=cfg)
    probe = subprocess.run([sys.executable, "-c", "import course.classroom as c; print(c.__file__)"], cwd=repo,
                           env={**os.environ, "PYTHONPATH": str(repo / classroom.RUNNER_DIR)},
                           capture_output=True, text=True, check=True)
    assert Path(probe.stdout.strip()).is_relative_to(repo / classroom.RUNNER_DIR)

    nb = nbformat.read(str(cfg.release_notebook), as_version=4)
    solution = _answers(nbformat.read(str(cfg.source_notebook), as_version=4))
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in solution:
            cell.source = solution[gid]
        if gid == "to_batch_first":  # a realistic mistake
            cell.source = "def to_batch_first(x):\n    return x.reshape(x.shape[1], x.shape[0], x.shape[2])\n"
        if gid == "MyRNN":  # not done, but the student emptied its visible test: that must not help
            cell.source = "class MyRNN(nn.Module):\n    def __init__(self, input_size, hidden_size):\n" \
                          "        super().__init__()\n    def forward(self, x, h0=None):\n" \
                          "        raise NotImplementedError()\n"
        if gid == "test_MyRNN":
            cell.source = "print('MyRNN: visible tests passed')"
    nbformat.write(nb, str(repo / cfg.notebook))
    run = _run_in_student_repo(repo, "run", cfg.notebook, "--out", classroom.RESULTS_FILE)
    assert run.returncode == 0, run.stdout + run.stderr
    verdicts = {}
    for exercise in cfg.points:
        if exercise == "threshold":
            continue
        proc = _run_in_student_repo(repo, "verdict", classroom.RESULTS_FILE, exercise)
        assert proc.stderr == "", proc.stderr  # the command grader fails any test that writes to stderr
        verdicts[exercise] = proc.returncode
    assert {e for e, code in verdicts.items() if code != 0} == {"MyRNN", "to_batch_first"}
    results = json.loads((repo / classroom.RESULTS_FILE).read_text())
    assert "reshape" in results["exercises"]["to_batch_first"]["message"]


@pytest.mark.xdist_group("classroom")
def test_untouched_release_scores_nothing(student_repo, cfg):
    run = _run_in_student_repo(student_repo, "run", cfg.notebook, "--out", "untouched.json")
    assert run.returncode == 0, run.stderr
    results = json.loads((student_repo / "untouched.json").read_text())
    assert results["exercises"] and not any(e["passed"] for e in results["exercises"].values())
    assert {e["status"] for e in results["exercises"].values()} == {"not done yet"}


def test_verdict_without_results(tmp_path, capsys):
    assert classroom.verdict(tmp_path / "missing.json", "MyRNN") == 1
    out = capsys.readouterr()
    assert "did not run" in out.out and out.err == ""


def test_committed_student_files_are_up_to_date(cfg):
    """When the release folder carries the Classroom files, they match a fresh generation."""
    dest = cfg.release_notebook.parent
    if not (dest / classroom.WORKFLOW).exists():
        pytest.skip("release/ does not carry the Classroom workflow")
    assert classroom.stale_student_files(dest, cfg=cfg) == []


# --- the instructor repository's CI ---------------------------------------------------------


def test_ci_workflow():
    ci = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    assert {"push", "pull_request"} <= set(ci["on"])
    (job,) = ci["jobs"].values()
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert str(python["with"]["python-version"]) == "3.11"
    runs = [s.get("run", "") for s in steps]
    bwrap = next(i for i, r in enumerate(runs) if re.search(r"apt-get install .*bubblewrap", r))
    tests = next(i for i, r in enumerate(runs) if r.strip() == "make test")
    check = next(i for i, r in enumerate(runs) if "course release --check" in r or r.strip() == "make release-check")
    assert bwrap < tests
    if runs[check].strip() == "make release-check":
        makefile = (REPO / "Makefile").read_text()
        assert re.search(r"^release-check:.*\n\t.*-m course release --check", makefile, re.M)
    assert check > bwrap
