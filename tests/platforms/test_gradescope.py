"""The Gradescope bundle: its layout, its failure paths, and end to end in a fresh venv (slow)."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from course.config import VISIBILITIES, load_config
from course.platforms import gradescope
from course.platforms.gradescope import BUNDLE_REPO, BundleError, build_bundle, pick_notebook, pinned_requirements

REPO = Path(__file__).resolve().parents[2]

# --- Gradescope's results.json, as its autograder specification documents it ---------

TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
            "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
             "visibility", "extra_data"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}
STATUSES = {"passed", "failed"}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def schema_problems(results) -> list[str]:
    """What makes ``results`` an invalid Gradescope results.json (empty when it is valid)."""
    if not isinstance(results, dict):
        return ["results.json is not a JSON object"]
    bad = [f"unknown top-level key {k!r}" for k in sorted(set(results) - TOP_KEYS)]
    tests = results.get("tests", [])
    if not isinstance(tests, list):
        return bad + ["tests is not a list"]
    if "score" not in results and not all(isinstance(t, dict) and "score" in t for t in tests):
        bad.append("score is required when a test has no score")
    if "score" in results and not _number(results["score"]):
        bad.append("score is not a number")
    if "execution_time" in results and not (_number(results["execution_time"]) and results["execution_time"] >= 0):
        bad.append("execution_time is not a non-negative number")
    for key in ("output_format", "test_output_format", "test_name_format"):
        if key in results and results[key] not in FORMATS:
            bad.append(f"{key} {results[key]!r} is not one of {sorted(FORMATS)}")
    for key in ("visibility", "stdout_visibility"):
        if key in results and results[key] not in VISIBILITIES:
            bad.append(f"{key} {results[key]!r} is not one of {VISIBILITIES}")
    if "output" in results and not isinstance(results["output"], str):
        bad.append("output is not a string")
    if "extra_data" in results and not isinstance(results["extra_data"], dict):
        bad.append("extra_data is not an object")
    for i, test in enumerate(tests):
        where = f"tests[{i}]"
        if not isinstance(test, dict):
            bad.append(f"{where} is not an object")
            continue
        bad += [f"{where}: unknown key {k!r}" for k in sorted(set(test) - TEST_KEYS)]
        for key in ("name", "output", "number"):
            if key in test and not isinstance(test[key], str):
                bad.append(f"{where}.{key} is not a string")
        for key in ("score", "max_score"):
            if key in test and not _number(test[key]):
                bad.append(f"{where}.{key} is not a number")
        if test.get("status", "passed") not in STATUSES:
            bad.append(f"{where}.status {test['status']!r} is not one of {sorted(STATUSES)}")
        if test.get("visibility", "visible") not in VISIBILITIES:
            bad.append(f"{where}.visibility {test['visibility']!r} is not one of {VISIBILITIES}")
        if "output_format" in test and test["output_format"] not in FORMATS:
            bad.append(f"{where}.output_format is not one of {sorted(FORMATS)}")
        tags = test.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            bad.append(f"{where}.tags is not a list of strings")
    return bad


def assert_gradescope_results(results) -> None:
    problems = schema_problems(results)
    assert not problems, "\n".join(problems)


def test_schema_check_catches_mistakes():
    good = {"score": 1.0, "tests": [{"name": "a", "score": 1.0, "max_score": 1.0, "status": "passed",
                                     "visibility": "after_due_date", "tags": ["MyRNN"], "output": "ok"}]}
    assert schema_problems(good) == []
    assert schema_problems({**good, "visibility": "later"})
    assert schema_problems({**good, "score": "1"})
    assert schema_problems({**good, "tests": [{**good["tests"][0], "status": "error"}]})
    assert schema_problems({**good, "tests": [{**good["tests"][0], "tags": "MyRNN"}]})
    assert schema_problems({"tests": [{"name": "no score"}]})


# --- the bundle ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    build_bundle(out, load_config(), check=False)
    return out


def test_bundle_layout(bundle):
    cfg = load_config()
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in zf.infolist()}
        requirements = zf.read("requirements.txt").decode().split()
    for script in ("setup.sh", "run_autograder"):
        assert script in names and modes[script] & stat.S_IXUSR, f"{script} must be an executable at the zip's root"
    assert requirements == pinned_requirements(REPO / "pyproject.toml")
    assert all("==" in r for r in requirements)
    shipped = {n[len(BUNDLE_REPO) + 1:] for n in names if n.startswith(BUNDLE_REPO + "/")}
    course_files = {p.relative_to(REPO).as_posix() for p in (REPO / "course").rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    assert course_files <= shipped
    assert {"course_config.py", "pyproject.toml", f"source/{cfg.assignment}/{cfg.notebook}"} <= shipped
    checks = {p.relative_to(REPO).as_posix() for p in cfg.autograder_dir.rglob("*.py")}
    assert checks and checks <= shipped
    for name in shipped:
        top = name.split("/")[0]
        assert top in {"course", "autograder", "source", "course_config.py", "pyproject.toml"}, name
        assert "__pycache__" not in name and not name.endswith(".pyc")


def test_bundle_is_reproducible(bundle, tmp_path):
    again = tmp_path / "again.zip"
    build_bundle(again, load_config(), check=False)
    assert again.read_bytes() == bundle.read_bytes()


def test_scripts_are_valid_bash(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as zf:
        for script in ("setup.sh", "run_autograder"):
            path = tmp_path / script
            path.write_bytes(zf.read(script))
            subprocess.run(["bash", "-n", str(path)], check=True)


def test_pins_must_be_exact(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["torch==2.13.0", "numpy>=2"]\n')
    with pytest.raises(BundleError, match="numpy>=2"):
        pinned_requirements(pyproject)


def test_corpus_outside_repository_is_refused(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("x" * 20_000)
    text = (REPO / "course_config.py").read_text().replace("CORPUS_PATH = None", f"CORPUS_PATH = {str(corpus)!r}")
    (repo / "course_config.py").write_text(text)
    with pytest.raises(BundleError, match="outside the repository"):
        gradescope.bundle_files(load_config(repo / "course_config.py"))


def test_bundle_refuses_a_lab_without_calibration(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "source", repo / "source")
    shutil.copytree(REPO / "autograder", repo / "autograder", ignore=shutil.ignore_patterns("calibration.json"))
    shutil.copyfile(REPO / "course_config.py", repo / "course_config.py")
    with pytest.raises(BundleError, match="calibrat"):
        gradescope.check_gradable(load_config(repo / "course_config.py"))


# --- choosing the submitted notebook --------------------------------------------------


def test_pick_notebook(tmp_path):
    sub = tmp_path / "submission"
    (sub / ".github" / "classroom").mkdir(parents=True)
    (sub / ".github" / "classroom" / "lab_rnn.ipynb").write_text("{}")  # a GitHub upload's pristine copy
    expected = "No notebook was found in your submission: upload your lab_rnn.ipynb."
    assert pick_notebook(sub, "lab_rnn.ipynb") == (None, expected)
    (sub / "mine.ipynb").write_text("{}")
    assert pick_notebook(sub, "lab_rnn.ipynb") == (sub / "mine.ipynb", "")
    (sub / "other.ipynb").write_text("{}")
    path, message = pick_notebook(sub, "lab_rnn.ipynb")
    assert path is None and "mine.ipynb" in message and "other.ipynb" in message
    (sub / "lab_rnn.ipynb").write_text("{}")
    assert pick_notebook(sub, "lab_rnn.ipynb") == (sub / "lab_rnn.ipynb", "")


# --- failure paths: a results.json whatever happens -------------------------------------


def test_no_notebook_gives_results_saying_so(tmp_path):
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "answers.pdf").write_bytes(b"%PDF")
    assert gradescope.run_autograder(tmp_path) == 0
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert_gradescope_results(results)
    assert results["score"] == 0 and "No notebook" in results["output"]


def test_grader_failure_gives_results_saying_so(tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(gradescope, "run_grade", broken)
    (tmp_path / "submission").mkdir()
    nbformat.write(nbformat.v4.new_notebook(), str(tmp_path / "submission" / "lab_rnn.ipynb"))
    assert gradescope.run_autograder(tmp_path) == 1
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert_gradescope_results(results)
    assert results["output"] == gradescope.GRADER_FAILED and results["extra_data"]["status"] == "error"
    assert "disk on fire" in capsys.readouterr().out  # the instructor-only stdout has the cause


def test_run_autograder_without_its_venv_still_writes_results(bundle, tmp_path):
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as zf:
        zf.extract("run_autograder", root / "source")
    script = root / "source" / "run_autograder"
    script.chmod(0o755)
    (root / "results").mkdir(parents=True)
    (root / "results" / "results.json").write_text('{"score": 100}')  # stale: must not survive
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), COURSE_VENV=str(tmp_path / "no-venv"))
    proc = subprocess.run([str(script)], cwd=root, env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    results = json.loads((root / "results" / "results.json").read_text())
    assert_gradescope_results(results)
    assert results["score"] == 0 and results["output"] == gradescope.GRADER_FAILED


# --- end to end: unzip, setup.sh into a fresh venv, run_autograder on three notebooks ---------


def _mutant(source: Path, dest: Path) -> None:
    """The solution with one realistic mistake in a given, a graded and a homework exercise of the split."""
    nb = nbformat.read(str(source), as_version=4)
    edits = {
        "to_batch_first": ("return x.transpose(0, 1)", "return x.reshape(x.shape[1], x.shape[0], x.shape[2])"),
        "MyRNN": ("self.U(h) + self.b)", "self.U(h))"),
        "lstm_cell": ("i, f, g, o = gates.chunk", "i, f, o, g = gates.chunk"),
    }
    for cell in nb.cells:
        edit = edits.get(cell.metadata.get("nbgrader", {}).get("grade_id"))
        if edit:
            assert edit[0] in cell.source
            cell.source = cell.source.replace(*edit)
    nbformat.write(nb, str(dest))


def _grade(root: Path, notebook: Path, env: dict[str, str]) -> dict:
    submission = root / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    submission.mkdir()
    shutil.copyfile(notebook, submission / "lab_rnn.ipynb")
    proc = subprocess.run([str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((root / "results" / "results.json").read_text())
    assert_gradescope_results(results)
    return results


@pytest.mark.slow
def test_bundle_end_to_end(tmp_path):
    cfg = load_config()
    out = tmp_path / "autograder.zip"
    subprocess.run([sys.executable, "-m", "course", "gradescope", "--out", str(out)], check=True, cwd=REPO)
    root = tmp_path / "autograder"
    with zipfile.ZipFile(out) as zf:  # unzip keeps the modes Gradescope relies on
        for info in zf.infolist():
            target = Path(zf.extract(info, root / "source"))
            target.chmod(info.external_attr >> 16 & 0o777)
    shutil.copyfile(root / "source" / "run_autograder", root / "run_autograder")  # what Gradescope does
    (root / "run_autograder").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON", "COURSE_"))}
    env.update(AUTOGRADER_ROOT=str(root), COURSE_TORCH_INDEX="")  # this machine's pip config has torch's wheel
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(REPO)))
    setup = subprocess.run(["bash", "setup.sh"], cwd=root / "source", env=env, capture_output=True, text=True,
                           timeout=1500)
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    venv_python = root / "venv" / "bin" / "python"
    assert venv_python.exists(), "setup.sh must create the venv under AUTOGRADER_ROOT"
    freeze = subprocess.run([str(venv_python), "-m", "pip", "freeze"], capture_output=True, text=True,
                            check=True).stdout
    installed = {line.split("==")[0].lower(): line.split("==")[1] for line in freeze.splitlines() if "==" in line}
    for pin in pinned_requirements(REPO / "pyproject.toml"):
        name, version = pin.split("==")
        got = installed.get(name.lower(), "")
        assert got.split("+")[0] == version, f"{pin} not installed: {got}"

    hidden_markers = "".join(p.read_text() for p in cfg.autograder_dir.rglob("*.py"))
    expected_visibility = cfg.hidden_check_visibility if "mark.visibility" not in hidden_markers else None

    solution = _grade(root, cfg.source_notebook, env)
    assert solution["score"] == cfg.autograded_points, [t["name"] for t in solution["tests"] if t["status"] != "passed"]
    assert all(t["status"] == "passed" for t in solution["tests"])
    assert sum(t["max_score"] for t in solution["tests"]) == cfg.autograded_points
    if expected_visibility:
        assert {t["visibility"] for t in solution["tests"]} == {expected_visibility}

    release = _grade(root, cfg.release_notebook, env)
    assert release["score"] == 0 and release["tests"], "the untouched release scores 0 on every autograded test"
    assert all(t["status"] == "failed" for t in release["tests"])

    mutant_nb = tmp_path / "mutant.ipynb"
    _mutant(cfg.source_notebook, mutant_nb)
    mutant = _grade(root, mutant_nb, env)
    # The split: the given exercise runs the release's code (no check of it), the graded mistake costs points,
    # the homework mistake is reported for none.
    assert (cfg.mode("to_batch_first"), cfg.mode("MyRNN"), cfg.mode("lstm_cell")) == ("given", "graded", "optional")
    failed = {t["tags"][0] for t in mutant["tests"] if t["status"] == "failed"}
    assert failed == {"MyRNN", "lstm_cell"}
    assert not any(t["tags"][0] == "to_batch_first" for t in mutant["tests"])
    homework = [t for t in mutant["tests"] if t["tags"][0] == "lstm_cell"]
    assert all(t["max_score"] == 0 and t["extra_data"]["mode"] == "optional" for t in homework)
    assert mutant["score"] == cfg.autograded_points - sum(
        t["max_score"] for t in mutant["tests"] if t["status"] == "failed") < cfg.autograded_points
