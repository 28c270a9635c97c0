"""The hidden checks as a classifier: right answers keep every point, each mistake loses points in its own exercise.

Every variant (correct, alternatives, unimplemented stubs, one mutant at a time) runs the
whole probe plan in-process through the wire format; the hidden checks then judge each
variant's saved data with the course plugin, in one trusted subprocess (pytest.main per
variant, so that torch is imported once).
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from autograder.lab_rnn.plan import build_plan
from course.config import load_config
from course.grader.inprocess import InProcessSession
from course.grader.probes import save_plan, save_responses

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_variants", REPO / "tests" / "files" / "checks" / "implementations.py")
variants_module = sys.modules["check_variants"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(variants_module)
ALTERNATIVES, CORRECT, MUTANTS, SETUP = (variants_module.ALTERNATIVES, variants_module.CORRECT,
                                         variants_module.MUTANTS, variants_module.SETUP)
CHECKS = REPO / "autograder" / "lab_rnn" / "checks"
OPS = sorted((REPO / "autograder" / "lab_rnn" / "worker").glob("*.py"))
SEED = 20260101
THRESHOLD_NAME = "Your CharLSTM, trained by your train_epoch, reaches the held-out perplexity threshold"
THRESHOLD_OK = {"status": "ok", "perplexity": 4.7, "bpc": 2.23, "steps_taken": 500, "train_seconds": 1.0,
                "message": "", "suspicious": False}
STUBS = {e: f"def {e}(*args, **kwargs):\n    raise NotImplementedError()\n" for e in CORRECT}

# Runs the checks once per data folder in one process: argv = ini, then (data, report) pairs.
RUNNER = """
import sys, pytest
checks, ini = sys.argv[1], sys.argv[2]
for data, report in zip(sys.argv[3::2], sys.argv[4::2]):
    pytest.main([checks, "-c", ini, "--rootdir", checks, "-p", "course.grader.plugin", "-p", "no:cacheprovider",
                 "--grading-data", data, "--grading-report", report, "-q", "--no-header"])
"""

pytestmark = pytest.mark.xdist_group("hidden_checks")


def namespace(sources: dict[str, str]) -> dict:
    """A student namespace: the notebook's imports, then each answer cell."""
    ns: dict = {"__name__": "__main__"}
    exec(SETUP, ns)
    for source in sources.values():
        exec(source, ns)
    return ns


def write_data(directory: Path, sources: dict[str, str], plan, threshold: dict | None) -> Path:
    """Run the plan on the sources in-process; save what the plugin reads."""
    session = InProcessSession(namespace(sources), OPS)
    responses = {req.id: session.call(req) for req in plan}
    data = directory / "data"
    data.mkdir(parents=True)
    save_plan(data, plan)
    save_responses(data, responses)
    (data / "sources.json").write_text(json.dumps(sources))
    if threshold is not None:
        (data / "threshold.json").write_text(json.dumps(threshold))
    calibration = directory / "calibration.json"
    calibration.write_text(json.dumps({"threshold": 5.0, "rule": "worst reference seed x 1.10"}))
    (data / "context.json").write_text(json.dumps({"config_path": str(REPO / "course_config.py"),
                                                   "calibration_path": str(calibration)}))
    return data


def run_checks(folders: list[Path], directory: Path) -> list[list[dict]]:
    """The plugin's report for each data folder."""
    ini = directory / "pytest.ini"
    ini.write_text("[pytest]\n")
    reports = [folder.parent / "report.json" for folder in folders]
    args = [a for pair in zip(folders, reports) for a in map(str, pair)]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(CHECKS), str(ini), *args], cwd=directory, env=env,
                          capture_output=True, text=True, timeout=900)
    assert all(r.exists() for r in reports), proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads(r.read_text()) for r in reports]


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, list[dict]]:
    """Report of the checks for every variant, by name."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("variants")
    plan = build_plan(SEED)
    variants = {"correct": (CORRECT, None), "alternatives": ({**CORRECT, **ALTERNATIVES}, THRESHOLD_OK),
                "stubs": (STUBS, None)}
    variants.update({name: ({**CORRECT, m.exercise: m.source}, None) for name, m in MUTANTS.items()})
    folders = [write_data(root / name, sources, plan, threshold) for name, (sources, threshold) in variants.items()]
    return dict(zip(variants, run_checks(folders, root)))


def lost(report: list[dict]) -> dict[str, float]:
    """Points lost per exercise (the first tag)."""
    out: dict[str, float] = {}
    for check in report:
        if not check["passed"]:
            out[check["tags"][0]] = out.get(check["tags"][0], 0.0) + check["points"]
    return out


def test_correct_answers_get_every_point(reports):
    report = reports["correct"]
    assert {c["name"]: c["message"] for c in report if not c["passed"]} == {
        THRESHOLD_NAME: "The grader-run training was not run for this submission, so this check could not pass."}
    assert sum(c["points"] for c in report) == load_config().autograded_points


def test_alternative_answers_get_every_point(reports):
    assert {c["name"]: c["message"] for c in reports["alternatives"] if not c["passed"]} == {}


def test_unimplemented_answers_score_zero(reports):
    report = reports["stubs"]
    assert [c["name"] for c in report if c["passed"]] == []
    assert all("NotImplementedError" in c["message"] for c in report if c["tags"][0] != "threshold")


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_loses_points_in_its_exercise_only(name, reports):
    mutant = MUTANTS[name]
    report = reports[name]
    losses = lost(report)
    assert losses.pop("threshold") == 17
    assert set(losses) == {mutant.exercise}, losses
    messages = [c["message"] for c in report if not c["passed"] and c["tags"][0] == mutant.exercise]
    assert any(mutant.feedback in m for m in messages), messages


def test_every_exercise_has_a_mutant():
    assert {m.exercise for m in MUTANTS.values()} == set(load_config().points) - {"threshold"}
