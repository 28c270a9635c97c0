"""The Gradescope bundle: its layout, its failure paths, and end to end in a fresh venv (slow)."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat
import pytest

from course.config import VISIBILITIES, load_config
from course.grader.grade import submission_seed
from course.lock import canonical, read_lock
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
        assert zf.read("requirements.lock") == (REPO / "requirements.lock").read_bytes()
    for script in ("setup.sh", "run_autograder"):
        assert script in names and modes[script] & stat.S_IXUSR, f"{script} must be an executable at the zip's root"
    assert requirements == pinned_requirements(REPO / "pyproject.toml")
    assert all("==" in r for r in requirements)
    shipped = {n[len(BUNDLE_REPO) + 1:] for n in names if n.startswith(BUNDLE_REPO + "/")}
    course_files = {p.relative_to(REPO).as_posix() for p in (REPO / "course").rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    assert course_files <= shipped
    corpus = cfg.corpus_path.relative_to(cfg.root).as_posix()
    assert {"course_config.py", "pyproject.toml", f"source/{cfg.assignment}/{cfg.notebook}", corpus} <= shipped
    checks = {p.relative_to(REPO).as_posix() for p in cfg.autograder_dir.rglob("*.py")}
    assert checks and checks <= shipped
    for name in shipped:
        top = name.split("/")[0]
        assert top in {"course", "autograder", "source", "corpus", "course_config.py", "pyproject.toml"}, name
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
    text = (REPO / "course_config.py").read_text()
    text = text.replace('CORPUS_PATH = "corpus/pydoc_topics.txt"', f"CORPUS_PATH = {str(corpus)!r}")
    (repo / "course_config.py").write_text(text)
    with pytest.raises(BundleError, match="outside the repository"):
        gradescope.bundle_files(load_config(repo / "course_config.py"))


def test_bundle_refuses_a_lab_without_calibration(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "source", repo / "source")
    shutil.copytree(REPO / "autograder", repo / "autograder", ignore=shutil.ignore_patterns("calibration.json"))
    shutil.copytree(REPO / "corpus", repo / "corpus")
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


def test_a_symlinked_notebook_is_rejected_never_followed(tmp_path, monkeypatch):
    """A link to the bundle's solution notebook must not be graded, nor copied, as the student's work."""
    cfg = load_config()
    root = tmp_path / "autograder"
    solution = root / "source" / BUNDLE_REPO / "source" / cfg.assignment / cfg.notebook
    solution.parent.mkdir(parents=True)
    shutil.copyfile(cfg.source_notebook, solution)
    sub = root / "submission"
    sub.mkdir()
    (sub / "work").symlink_to(solution.parent)  # a linked folder is not searched
    assert pick_notebook(sub, cfg.notebook)[0] is None
    (sub / cfg.notebook).symlink_to(solution)
    monkeypatch.setattr(gradescope, "grade_submissions", lambda *args, **kwargs: pytest.fail("a link was graded"))
    assert gradescope.run_autograder(root) == 0
    results = json.loads((root / "results" / "results.json").read_text())
    assert_gradescope_results(results)
    assert results["score"] == 0 and results["extra_data"]["status"] == "rejected"
    assert f"{cfg.notebook} is a symbolic link" in results["output"]
    with pytest.raises(OSError):
        gradescope.copy_regular_file(sub / cfg.notebook, tmp_path / "copy.ipynb")
    assert not (tmp_path / "copy.ipynb").exists()


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

    monkeypatch.setattr(gradescope, "grade_submissions", broken)
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


# --- who submitted: /autograder/submission_metadata.json ------------------------------------

# As Gradescope writes it (its autograder documentation): the submission, its assignment, its users.
METADATA = {
    "id": 123456,
    "created_at": "2026-12-19T08:30:00.123456-08:00",
    "assignment": {"due_date": "2026-12-18T23:59:00.000000+01:00", "group_size": None, "group_submission": False,
                   "id": 25828, "course_id": 1234, "late_due_date": None, "release_date": "2026-11-20T00:00:00+01:00",
                   "title": "Lab RNN", "total_points": "110.0"},
    "submission_method": "upload",
    "users": [{"email": "ana.garcia@estudiantat.upc.edu", "id": 98765, "name": "Ana García", "sid": "A0001"}],
    "previous_submissions": [{"submission_time": "2026-12-18T10:00:00.000000-08:00", "score": 0.0, "results": {}}],
}


def root_with_metadata(tmp_path: Path, metadata) -> Path:
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    shutil.copyfile(load_config().release_notebook, root / "submission" / "lab_rnn.ipynb")
    if metadata is not None:
        text = metadata if isinstance(metadata, str) else json.dumps(metadata)
        (root / gradescope.METADATA_JSON).write_text(text, encoding="utf-8")
    return root


def test_the_student_comes_from_submission_metadata(tmp_path):
    root = root_with_metadata(tmp_path, METADATA)
    sub = gradescope.gradescope_identity(root, root / "submission" / "lab_rnn.ipynb", "Europe/Madrid")
    assert (sub.id, sub.student_id, sub.name, sub.email, sub.lms) == (
        "Ana_Garcia_A0001", "A0001", "Ana García", "ana.garcia@estudiantat.upc.edu", "gradescope")
    assert sub.timestamp == "2026-12-19T17:30:00.123456+01:00" and sub.late is True and sub.attempt == 2


def test_without_a_sid_the_gradescope_user_id_is_the_student_id(tmp_path):
    users = [{"email": "bob@x.edu", "id": 98766, "name": "Bob Smith"}]
    root = root_with_metadata(tmp_path, {**METADATA, "users": users, "previous_submissions": []})
    sub = gradescope.gradescope_identity(root, root / "submission" / "lab_rnn.ipynb", "Europe/Madrid")
    assert (sub.student_id, sub.name, sub.attempt) == ("98766", "Bob Smith", 1)


@pytest.mark.parametrize("metadata, said", [
    (None, "no "), ("{not json", "not readable JSON"), ('{"users": []}', "lists no users"),
    ("[1, 2]", "lists no users"),
])
def test_missing_or_broken_metadata_gives_an_id_of_the_notebook(tmp_path, capsys, metadata, said):
    root = root_with_metadata(tmp_path, metadata)
    notebook = root / "submission" / "lab_rnn.ipynb"
    sub = gradescope.gradescope_identity(root, notebook, "Europe/Madrid")
    assert sub.student_id.startswith("anonymous-") and said in capsys.readouterr().out
    other = tmp_path / "other.ipynb"
    other.write_bytes(notebook.read_bytes().replace(b"YOUR CODE HERE", b"MY CODE HERE", 1))
    assert gradescope.gradescope_identity(root, other, "Europe/Madrid").student_id != sub.student_id


def test_run_autograder_grades_as_the_student_gradescope_names(tmp_path, capsys):
    cfg = load_config()
    root = root_with_metadata(tmp_path, METADATA)
    assert gradescope.run_autograder(root) == 0
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert_gradescope_results(results)
    extra = results["extra_data"]
    assert (extra["student_id"], extra["student_name"], extra["submission_id"]) == (
        "A0001", "Ana García", "Ana_Garcia_A0001")
    assert "Feedback for Ana García" in capsys.readouterr().out
    ana = gradescope.gradescope_identity(root, root / "submission" / "lab_rnn.ipynb", cfg.timezone)
    bob = gradescope.gradescope_identity(root_with_metadata(tmp_path / "b", {**METADATA, "users": [
        {"email": "bob@x.edu", "id": 98766, "name": "Bob Smith", "sid": "A0002"}]}),
        root / "submission" / "lab_rnn.ipynb", cfg.timezone)
    assert submission_seed(cfg, ana) != submission_seed(cfg, bob)  # no longer one seed for everyone


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


def _grade(root: Path, notebook: Path, env: dict[str, str], log: list[str] | None = None) -> dict:
    submission = root / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    submission.mkdir()
    shutil.copyfile(notebook, submission / "lab_rnn.ipynb")
    (root / gradescope.METADATA_JSON).write_text(json.dumps(METADATA), encoding="utf-8")  # as Gradescope puts it
    proc = subprocess.run([str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    if log is not None:
        log.append(proc.stdout)
    results = json.loads((root / "results" / "results.json").read_text())
    assert_gradescope_results(results)
    return results


def image_python() -> Path | None:
    """An interpreter that is not 3.11, as the images' python3 (22.04: 3.10, 24.04: 3.12)."""
    for path in ("/root/.pyenv/versions/3.12.1/bin/python3.12", "/root/.pyenv/versions/3.10.13/bin/python3.10",
                 "/usr/bin/python3.12", "/usr/bin/python3.10", "/usr/bin/python3"):
        proc = subprocess.run([path, "-c", "import sys; print(sys.version_info[:2] != (3, 11))"],
                              capture_output=True, text=True) if Path(path).is_file() else None
        if proc and proc.stdout.strip() == "True":
            return Path(path)
    return None


def stand_in_python() -> Path:
    """What stands in for uv's download of CPython 3.11: one that nobody may run, like uv's under /autograder."""
    debian = Path("/usr/bin/python3.11")  # Debian's 3.11.2 here (pyenv's 3.11.7 lies under /root, mode 700)
    return debian if debian.is_file() else Path(sys._base_executable)


def image_path(folder: Path, python3: Path) -> str:
    """A PATH like the image's: the system's commands, python3 a non-3.11 interpreter, no python3.11 anywhere.

    Nor bwrap, unshare or apt: as in Gradescope's Docker container, whose seccomp profile refuses namespaces,
    the grader runs at the rlimits level with the worker as nobody, the case the file modes protect.
    """
    folder.mkdir()
    left_out = ("python", "pip", "pydoc", "2to3", "idle", "bwrap", "unshare", "apt")
    for entry in Path("/usr/bin").iterdir():
        if not entry.name.startswith(left_out):
            (folder / entry.name).symlink_to(entry)
    (folder / "python3").symlink_to(python3)
    return str(folder)


def as_nobody_can_read(python: Path, paths: list[Path]) -> dict[str, bool]:
    """Which of ``paths`` a process running as nobody (the worker's uid) can open."""
    code = "import json, sys\ndef can(p):\n    try:\n        open(p, 'rb').close()\n        return True\n" \
           "    except OSError:\n        return False\nprint(json.dumps({p: can(p) for p in sys.argv[1:]}))"
    proc = subprocess.run([str(python), "-I", "-c", code, *map(str, paths)], user=65534, group=65534,
                          extra_groups=[], cwd="/", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def stand_in_pydoc_data():
    """The stand-in interpreter's pydoc_data, which setup.sh locks away from nobody: its modes are put back after."""
    code = "import sysconfig; print(sysconfig.get_paths()['stdlib'])"
    stdlib = subprocess.run([str(stand_in_python()), "-c", code], capture_output=True, text=True, check=True)
    pydoc = Path(stdlib.stdout.strip()) / "pydoc_data"
    modes = {p: p.stat().st_mode & 0o7777 for p in [pydoc, *pydoc.rglob("*")]} if pydoc.is_dir() else {}
    yield pydoc
    for path, mode in modes.items():
        path.chmod(mode)


@pytest.fixture
def autograder_root():
    """/autograder as Gradescope lays it out: a world-traversable folder (tmp_path's parents are root-only)."""
    root = Path(tempfile.mkdtemp(prefix="autograder-", dir="/tmp"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_bundle_end_to_end(tmp_path, autograder_root, stand_in_pydoc_data):
    """The bundle on an image whose python3 is not 3.11: setup.sh provisions 3.11, installs through the lock,
    locks the source away from nobody; run_autograder then grades three notebooks."""
    cfg = load_config()
    python3 = image_python()
    if python3 is None:
        pytest.skip("no non-3.11 interpreter to play the image's python3")
    out = tmp_path / "autograder.zip"
    subprocess.run([sys.executable, "-m", "course", "gradescope", "--out", str(out)], check=True, cwd=REPO)
    root = autograder_root
    with zipfile.ZipFile(out) as zf:  # unzip keeps the modes Gradescope relies on
        for info in zf.infolist():
            target = Path(zf.extract(info, root / "source"))
            target.chmod(info.external_attr >> 16 & 0o777)
    assert (root / "source" / "requirements.lock").read_bytes() == (REPO / "requirements.lock").read_bytes()
    shutil.copyfile(root / "source" / "run_autograder", root / "run_autograder")  # what Gradescope does
    (root / "run_autograder").chmod(0o755)
    secrets = [root / "source" / BUNDLE_REPO / p for p in (
        f"source/{cfg.assignment}/{cfg.notebook}", f"autograder/{cfg.assignment}/checks/test_threshold.py",
        f"autograder/{cfg.assignment}/calibration.json", cfg.corpus_path.relative_to(cfg.root).as_posix())]
    assert all(p.is_file() for p in secrets)
    stand_in = stand_in_python()
    # Gradescope runs setup.sh and run_autograder as root; the file-mode checks need that, and a
    # stand-in interpreter that nobody may run (outside /root)
    modes_checked = os.geteuid() == 0 and stand_in.parts[1] != "root"
    if modes_checked:
        assert all(as_nobody_can_read(stand_in, secrets).values())  # readable as unzipped: setup.sh must fix it

    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON", "COURSE_"))}
    env["PATH"] = image_path(tmp_path / "image-bin", python3)
    env.update(AUTOGRADER_ROOT=str(root), COURSE_TORCH_INDEX="",  # this machine's pip config has torch's CPU wheel
               COURSE_PROVISIONED_PYTHON=str(stand_in))  # stands in for `uv python install` (no download here)
    setup = subprocess.run(["bash", "setup.sh"], cwd=root / "source", env=env, capture_output=True, text=True,
                           timeout=1500)
    log = setup.stdout + setup.stderr
    assert setup.returncode == 0, log[-4000:]
    image_version = subprocess.run([str(python3), "-c", "import platform; print(platform.python_version())"],
                                   capture_output=True, text=True, check=True).stdout.strip()
    assert f"python3 here is Python {image_version}; the lock needs 3.11" in log
    assert f"provisioned {stand_in} (COURSE_PROVISIONED_PYTHON stands in" in log
    assert "bubblewrap could not be installed; the grader uses weaker isolation" in log

    venv_python = root / "venv" / "bin" / "python"
    version = subprocess.run([str(venv_python), "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                             text=True, check=True).stdout.strip()
    assert version == "(3, 11)", "setup.sh must build the venv on the provisioned 3.11"
    freeze = subprocess.run([str(venv_python), "-m", "pip", "freeze", "--all"], capture_output=True, text=True,
                            check=True).stdout.split()
    lock = read_lock(REPO / "requirements.lock")
    unlocked = [line for line in freeze if lock.get(canonical(line.split("==")[0])) != line]
    assert not unlocked, f"installed but not at the lock's version: {unlocked}"
    for pin in pinned_requirements(REPO / "pyproject.toml"):
        assert canonical(pin.split("==")[0]) in {canonical(line.split("==")[0]) for line in freeze}, pin

    if modes_checked:
        # The worker's uid reads none of the bundle, yet still runs the venv (torch included).
        assert not any(as_nobody_can_read(venv_python, secrets).values())
        assert not any(as_nobody_can_read(venv_python, [root / "source" / "requirements.lock"]).values())
        assert not any(as_nobody_can_read(venv_python, [stand_in_pydoc_data / "topics.py"]).values())
        proc = subprocess.run([str(venv_python), "-I", "-c", "import torch, numpy; print(torch.__version__)"],
                              user=65534, group=65534, extra_groups=[], cwd="/", capture_output=True, text=True)
        assert proc.returncode == 0 and proc.stdout.startswith("2.13.0"), proc.stderr[-2000:]

    hidden_markers = "".join(p.read_text() for p in cfg.autograder_dir.rglob("*.py"))
    expected_visibility = cfg.hidden_check_visibility if "mark.visibility" not in hidden_markers else None

    grader_log: list[str] = []
    solution = _grade(root, cfg.source_notebook, env, grader_log)
    assert solution["score"] == cfg.autograded_points, [t["name"] for t in solution["tests"] if t["status"] != "passed"]
    assert solution["extra_data"]["student_id"] == "A0001"  # the student submission_metadata.json names
    assert solution["extra_data"]["isolation"] == "rlimits"
    if modes_checked:  # the worker ran as nobody, from the root-only bundle's code
        assert "runs as nobody" in " ".join(grader_log[0].split()), grader_log[0][:2000]
    assert all(t["status"] == "passed" for t in solution["tests"])
    assert sum(t["max_score"] for t in solution["tests"]) == cfg.autograded_points
    if expected_visibility:
        assert {t["visibility"] for t in solution["tests"]} == {expected_visibility}
    order = [t["tags"][0] for t in solution["tests"]]  # notebook order, the threshold last
    assert list(dict.fromkeys(order)) == [e for e in cfg.points if e != "threshold" and cfg.mode(e) != "given"] + [
        "threshold"]  # a given exercise has no checks
    assert [t["number"] for t in solution["tests"]] == [str(i) for i in range(1, len(order) + 1)]

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
    if not modes_checked:
        pytest.skip("graded, but the bundle's file modes were not checked: that needs root (as on Gradescope) and "
                    "a stand-in interpreter outside /root")
