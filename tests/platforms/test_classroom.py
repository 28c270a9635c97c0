"""GitHub Classroom workflow of the student template, its visible-test runner, and the instructor CI."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from course.authoring.vendor import PACKAGE
from course.config import load_config
from course.lock import canonical, read_lock
from course.modes import GIVEN, OPTIONAL
from course.platforms import classroom
from course.student import classroom as runner
from course.student.contract import Contract

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cfg():
    return load_config()


@pytest.fixture(scope="module")
def student_repo(tmp_path_factory, cfg) -> Path:
    """A student template repository: the release notebook plus the generated Classroom files."""
    dest = tmp_path_factory.mktemp("student")
    (dest / cfg.notebook).write_bytes(cfg.release_notebook.read_bytes())
    classroom.write_student_workflow(dest, cfg)
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
    install = steps[2]["run"].split()
    assert install[install.index("-c") + 1] == classroom.CONSTRAINTS
    assert set(classroom.NOTEBOOK_PACKAGES) <= set(install)
    assert steps[3]["run"].startswith(f"python {classroom.ENTRY} run {cfg.notebook}")
    graders = [s for s in steps if s.get("uses", "").startswith("classroom-resources/autograding-command-grader@")]
    reporter = steps[-1]
    # A failed run (traceback, exit 2, timeout) must still be scored: the checks and the reporter run after it,
    # though not when it never ran (the install failed) or the workflow was cancelled.
    assert steps[3]["id"] == classroom.RUN_STEP and "continue-on-error" not in steps[3]
    assert steps[4:] == graders + [reporter]
    assert {s["if"] for s in steps[4:]} == {f"!cancelled() && steps.{classroom.RUN_STEP}.outcome != 'skipped'"}
    assert all("if" not in s for s in steps[:4])
    assert reporter["uses"].startswith("classroom-resources/autograding-grading-reporter@")
    ids = [g["id"] for g in graders]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[a-z_][a-z0-9_]*", i) for i in ids)
    assert reporter["with"]["runners"].split(",") == ids
    assert reporter["env"] == {f"{i.upper()}_RESULTS": f"${{{{steps.{i}.outputs.result}}}}" for i in ids}
    for grader in graders:
        args = grader["with"]
        exercise = args["command"].split()[-1]
        assert args["command"] == f"python {classroom.ENTRY} verdict {runner.RESULTS_FILE} {exercise}"
        assert grader["id"] == classroom.step_id(exercise)
        assert isinstance(args["max-score"], (int, float))
        if cfg.mode(exercise) == OPTIONAL:  # homework: a step of its own, scored 0
            assert args["max-score"] == 0 and "homework" in grader["name"]
        else:
            assert args["max-score"] > 0 and cfg.mode(exercise) == "graded"
    assert "PYTHONPATH" not in json.dumps(workflow)  # the command grader would not pass it on


def test_the_workflow_installs_through_the_lock(student_repo):
    """constraints.txt holds the lock's own pins, for the notebook's packages and all they need."""
    lock = read_lock(REPO / "requirements.lock")
    pins = read_lock(student_repo / classroom.CONSTRAINTS)
    assert pins and all(lock[name] == pin for name, pin in pins.items())
    assert {canonical(p) for p in classroom.NOTEBOOK_PACKAGES} <= set(pins)
    assert pins["torch"].endswith("+cpu")


def test_pip_installs_nothing_the_constraints_leave_unpinned(student_repo, workflow, tmp_path):
    """The workflow's install step, resolved by pip (--dry-run, this machine's indexes): every package pinned."""
    (job,) = workflow["jobs"].values()
    install = next(s["run"] for s in job["steps"] if s.get("name", "").startswith("Install")).split()
    assert install[:4] == ["python", "-m", "pip", "install"]
    args = install[4:]
    if "--extra-index-url" in args:  # torch's CPU index; here pip's own configuration has the CPU wheel
        where = args.index("--extra-index-url")
        del args[where:where + 2]
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                           "--report", str(report), *args], cwd=student_repo, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    installs = json.loads(report.read_text())["install"]
    planned = {canonical(i["metadata"]["name"]): i["metadata"]["version"] for i in installs}
    pins = read_lock(student_repo / classroom.CONSTRAINTS)
    assert {name: pins.get(name, "").split("==")[-1] for name in planned} == planned
    assert set(planned) == set(pins)  # and nothing pinned that is not installed


def test_points_add_up_to_the_visible_test_cells(workflow, cfg):
    release = nbformat.read(str(cfg.release_notebook), as_version=4)
    cells = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in _visible_cells(release)}
    (job,) = workflow["jobs"].values()
    graders = {s["with"]["command"].split()[-1]: s["with"]["max-score"] for s in job["steps"]
               if "max-score" in s.get("with", {})}
    assert graders == {gid[len("test_"):]: points for gid, points in cells.items()}
    # Every exercise the student writes has its visible test, worth what it counts (0 for homework); a given
    # exercise has no step (its test is a read-only demo), nor has the grader-run threshold.
    assert graders == {k: cfg.scored_points[k] for k in cfg.exercises if cfg.mode(k) != GIVEN}
    assert sum(graders.values()) == cfg.autograded_points - cfg.points["threshold"]


def test_hidden_checks_never_reach_the_student_repository(student_repo, cfg):
    shipped = {p: p.read_text(encoding="utf-8") for p in (student_repo / ".github").rglob("*") if p.is_file()}
    code = {p for p in shipped if p.suffix == ".py"}
    for path in code:  # the student package, under its generated-file header, and the entry script
        if path.parent.name == PACKAGE:
            original = (REPO / "course" / "student" / path.name).read_text(encoding="utf-8")
            assert shipped[path].startswith("# Generated by `course release`") and shipped[path].endswith(original)
        else:
            assert path.name == "check.py" and shipped[path] == classroom.ENTRY_SCRIPT
    data = "\n".join(text for p, text in shipped.items() if p not in code)
    for forbidden in ("BEGIN HIDDEN TESTS", "autograder/", "calibration.json", "course_config", "worker_ops"):
        assert forbidden not in data, forbidden
    text = "\n".join(shipped.values())
    hidden_lines = set()
    for cell in nbformat.read(str(cfg.source_notebook), as_version=4).cells:
        region = re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S)
        hidden_lines |= {line.strip() for r in region for line in r.splitlines() if len(line.strip()) > 25}
    for path in cfg.autograder_dir.rglob("*.py"):
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


def command_env(home: Path) -> dict[str, str]:
    """What autograding-command-grader gives a check command: PATH and HOME, nothing else.

    PATH holds the Python the workflow set up (here: this interpreter's bin/, which has the lab's packages).
    """
    return {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]), "HOME": str(home)}


def workflow_commands(workflow: dict) -> tuple[str, dict[str, str]]:
    """(the run step's command, exercise -> its check command), as the generated workflow has them."""
    (job,) = workflow["jobs"].values()
    run = next(s["run"] for s in job["steps"] if s.get("name") == "Run the visible tests")
    checks = {s["with"]["command"].split()[-1]: s["with"]["command"] for s in job["steps"]
              if s.get("uses", "").startswith("classroom-resources/autograding-command-grader@")}
    return run, checks


def classroom_points(repo: Path, workflow: dict, home: Path) -> dict[str, float | None]:
    """Run every command of the workflow in ``repo`` with the command grader's environment: points per exercise.

    A passing homework step scores its 0 points; a failing step scores None, so that the two differ.
    """
    run, checks = workflow_commands(workflow)
    proc = subprocess.run(run, shell=True, cwd=repo, env=command_env(home), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (job,) = workflow["jobs"].values()
    max_scores = {s["with"]["command"].split()[-1]: s["with"]["max-score"] for s in job["steps"]
                  if "max-score" in s.get("with", {})}
    points = {}
    for exercise, command in checks.items():
        check = subprocess.run(command, shell=True, cwd=repo, env=command_env(home), capture_output=True, text=True,
                               timeout=60)
        assert check.stderr == "", check.stderr  # the command grader fails any test that writes to stderr
        points[exercise] = max_scores[exercise] if check.returncode == 0 else None
    return points


def test_solution_scores_every_point_and_the_untouched_release_none(tmp_path, cfg, workflow):
    expected = {k: cfg.scored_points[k] for k in cfg.exercises if cfg.mode(k) != GIVEN}
    for name, source, want in (("solution", cfg.source_notebook, expected),
                               ("release", cfg.release_notebook, dict.fromkeys(expected))):
        repo = tmp_path / name
        classroom.write_student_workflow(repo, cfg)
        (repo / cfg.notebook).write_bytes(source.read_bytes())
        assert classroom_points(repo, workflow, tmp_path / "home") == want, name


def test_runner_scores_visible_tests_one_exercise_at_a_time(tmp_path, cfg, workflow):
    repo = tmp_path / "student"
    classroom.write_student_workflow(repo, cfg)
    nb = nbformat.read(str(cfg.release_notebook), as_version=4)
    solution = _answers(nbformat.read(str(cfg.source_notebook), as_version=4))
    released = _answers(nb)  # the exercises the student writes
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in released:
            cell.source = solution[gid]
        if gid == "rnn_output_shapes":  # a realistic mistake: output always batch first
            cell.source = ("def rnn_output_shapes(batch_size, seq_len, input_size, hidden_size, num_layers=1,\n"
                           "                      bidirectional=False, batch_first=True):\n"
                           "    d = 2 if bidirectional else 1\n"
                           "    output = (batch_size, seq_len, d * hidden_size)\n"
                           "    return output, (num_layers * d, batch_size, hidden_size)\n")
        if gid == "MyRNN":  # not done, but the student emptied its visible test: that must not help
            cell.source = "class MyRNN(nn.Module):\n    def __init__(self, input_size, hidden_size):\n" \
                          "        super().__init__()\n    def forward(self, x, h0=None):\n" \
                          "        raise NotImplementedError()\n"
        if gid == "test_MyRNN":
            cell.source = "print('MyRNN: visible tests passed')"
    nbformat.write(nb, str(repo / cfg.notebook))
    points = classroom_points(repo, workflow, tmp_path / "home")
    assert {e for e, p in points.items() if p is None} == {"MyRNN", "rnn_output_shapes"}
    results = json.loads((repo / runner.RESULTS_FILE).read_text())
    assert "batch_first=False puts seq_len first" in results["exercises"]["rnn_output_shapes"]["message"]


def test_a_failed_run_scores_nothing_even_beside_a_committed_results_file(tmp_path, cfg, workflow):
    repo = tmp_path / "student"
    classroom.write_student_workflow(repo, cfg)
    (repo / cfg.notebook).write_bytes(cfg.source_notebook.read_bytes())
    run, checks = workflow_commands(workflow)
    forged = {e: {"passed": True, "points": 1, "status": "passed", "message": ""} for e in checks}
    (repo / runner.RESULTS_FILE).write_text(json.dumps({"problems": [], "exercises": forged}))
    (repo / classroom.RUNNER_DIR / runner.TESTS_FILE).unlink()  # the run step fails with exit 2
    proc = subprocess.run(run, shell=True, cwd=repo, env=command_env(tmp_path / "home"), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "the instructor must publish the release again" in proc.stderr
    assert not (repo / runner.RESULTS_FILE).exists()
    for command in checks.values():  # the checks still run (the workflow's `if`) and score nothing
        check = subprocess.run(command, shell=True, cwd=repo, env=command_env(tmp_path / "home"),
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 1 and "did not run" in check.stdout and check.stderr == ""


def test_runner_refuses_what_the_grader_refuses(tmp_path, cfg):
    """A link to another notebook, or a file over the byte cap, is refused unread, as by the grader: nothing runs."""
    repo = tmp_path / "student"
    classroom.write_student_workflow(repo, cfg)
    here = repo / classroom.RUNNER_DIR
    contract = Contract.load(here / runner.CONTRACT_FILE)
    solution = tmp_path / "elsewhere.ipynb"
    solution.write_bytes(cfg.source_notebook.read_bytes())
    (repo / cfg.notebook).symlink_to(solution)
    capped = dataclasses.replace(contract, limits=dataclasses.replace(
        contract.limits, max_notebook_bytes=solution.stat().st_size - 1))  # its compact copy would fit
    for notebook, used, said in ((repo / cfg.notebook, contract, "is a symbolic link"),
                                 (solution, capped, "Clear the outputs")):
        results = runner.run_public_checks(notebook, here / runner.TESTS_FILE, used)
        assert {e["status"] for e in results["exercises"].values()} == {"not run"}
        assert not any(e["passed"] for e in results["exercises"].values())
        assert any(said in p for p in results["problems"]), results["problems"]


def test_verdict_without_results(tmp_path, capsys):
    assert runner.verdict(tmp_path / "missing.json", "MyRNN") == 1
    out = capsys.readouterr()
    assert "did not run" in out.out and out.err == ""


def test_committed_student_files_are_up_to_date(cfg):
    """When the release folder carries the Classroom files, they match a fresh generation."""
    dest = cfg.release_notebook.parent
    if not (dest / classroom.WORKFLOW).exists():
        pytest.skip("release/ does not carry the Classroom workflow")
    assert classroom.stale_student_files(dest, cfg) == []


# --- the instructor repository's CI ---------------------------------------------------------


def test_ci_workflow():
    ci = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    assert {"push", "pull_request"} <= set(ci["on"])
    (job,) = ci["jobs"].values()
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert str(python["with"]["python-version"]) == "3.11"
    assert python["with"].get("cache-dependency-path") in (None, "requirements.lock")
    assert job["runs-on"] == "ubuntu-24.04"  # a pinned image: its AppArmor rule is what the bwrap step lifts
    assert "download.pytorch.org/whl/cpu" in job["env"]["PIP_EXTRA_INDEX_URL"]  # the lock pins torch's +cpu build
    runs = [s.get("run", "") for s in steps]
    bwrap = next(i for i, r in enumerate(runs) if re.search(r"apt-get install .*bubblewrap", r))
    install = next(i for i, r in enumerate(runs) if r.strip().startswith("make install"))
    tests = next(i for i, r in enumerate(runs) if r.strip() == "make test")
    assert install < tests
    makefile = (REPO / "Makefile").read_text()
    recipe = re.search(r"^\$\(VENV\)/\.installed:.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert re.search(r"^PIP_INSTALL := .* -c \$\(LOCK\)$", makefile, re.M) and "$(PIP_INSTALL) -e" in recipe
    check = next(i for i, r in enumerate(runs) if "course release --check" in r or r.strip() == "make release-check")
    assert bwrap < tests
    if runs[check].strip() == "make release-check":
        makefile = (REPO / "Makefile").read_text()
        assert re.search(r"^release-check:.*\n\t.*-m course release --check", makefile, re.M)
    assert check > bwrap
