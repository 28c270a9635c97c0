"""Gradescope autograder bundle: `course gradescope` builds it; its run_autograder grades one student's submission."""
from __future__ import annotations

import base64
import html
import json
import os
import shutil
import stat
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path
from typing import Any

from rich.console import Console

from course.config import CourseConfig, load_config
from course.corpus import load_course_corpus
from course.errors import UserError
from course.grader.batch import grade_submissions
from course.grader.calibration import load_calibration
from course.grader.lab import load_lab
from course.grader.results import atomic_write
from course.grader.submission import Submission, anonymous_id, safe_id
from course.grader.training_plot import PLOT_NAME
from course.lock import LOCK_FILE, LockError, canonical, read_lock
from course.lock import pinned_requirements as _pinned
from course.platforms.lms import GRADESCOPE, course_zone, iso_time, parse_time

BUNDLE_REPO = "repo"  # folder of the zip (and of /autograder/source/) holding the repository pieces
REQUIREMENTS = "requirements.txt"
LOCK = LOCK_FILE  # shipped at the zip's root; setup.sh installs through it
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same repository gives the same zip
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
THRESHOLD_TAG = "threshold"  # the check whose output carries the training picture on Gradescope
MAX_EMBEDDED_PNG = 300_000  # a larger picture is not inlined into results.json

# Shown to the student when grading itself broke; the details go to the instructor-only stdout.
GRADER_FAILED = (
    "The autograder could not grade this submission. This is not your mistake: "
    "your instructor can see why in the autograder's output and will grade it again."
)

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image:
#  1. bubblewrap for the grader's sandbox (apt);
#  2. CPython 3.11, the interpreter requirements.lock is made for. The image's python3 is 3.10 on
#     Ubuntu 22.04 and 3.12 on 24.04, so unless a python3.11 is on PATH, uv (from PyPI) downloads
#     CPython $COURSE_PYTHON_VERSION into $AUTOGRADER_ROOT/python; apt's python3.11 is the fallback;
#  3. a venv at $AUTOGRADER_ROOT/venv with the pinned dependencies, installed through requirements.lock;
#  4. $AUTOGRADER_ROOT/source (solution notebook, hidden checks, corpus) and the interpreter's pydoc_data
#     (the default corpus's origin) made readable by root only: the grader runs as root and the submission's
#     worker as nobody, which keeps the venv and the rest of Python readable.
# Settings (environment variables):
#   AUTOGRADER_ROOT            default /autograder
#   COURSE_VENV                the venv (default $AUTOGRADER_ROOT/venv)
#   COURSE_PYTHON              a CPython 3.11 to use as it is (no search, no download)
#   COURSE_PYTHON_VERSION      the CPython uv downloads (default 3.11.7, the lock's and calibration's)
#   COURSE_UV_VERSION          the uv release installed from PyPI for that download (default 0.13.9)
#   COURSE_PROVISIONED_PYTHON  tests only: an interpreter standing in for uv's download
#   COURSE_TORCH_INDEX         where the CPU build of torch comes from; empty: pip's own configuration
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${AUTOGRADER_ROOT:-/autograder}"
VENV="${COURSE_VENV:-$ROOT/venv}"
PYTHON_VERSION="${COURSE_PYTHON_VERSION:-3.11.7}"
UV_VERSION="${COURSE_UV_VERSION:-0.13.9}"
TORCH_INDEX="${COURSE_TORCH_INDEX-https://download.pytorch.org/whl/cpu}"
LOCK="$SOURCE/requirements.lock"

say() { echo "setup.sh: $*"; }
fail() { echo "setup.sh: error: $*" >&2; exit 1; }
apt_install() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}
is_python311() { [ -n "$1" ] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; }
version_of() { "$1" -c 'import platform; print(platform.python_version())' 2>/dev/null || echo "none"; }

uv_command() {  # prints the path of a uv binary, installing the pinned release from PyPI if needed
    if command -v uv >/dev/null; then command -v uv; return 0; fi
    local target="$ROOT/.uv-$UV_VERSION"
    if [ ! -x "$target/bin/uv" ]; then
        command -v python3 >/dev/null || return 1
        python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip >&2 || return 1
        PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --disable-pip-version-check \
            --target "$target" "uv==$UV_VERSION" >&2 || return 1
    fi
    echo "$target/bin/uv"
}

provision_python() {  # sets PYTHON to a CPython 3.11 that this script installed
    if [ -n "${COURSE_PROVISIONED_PYTHON:-}" ]; then
        PYTHON="$COURSE_PROVISIONED_PYTHON"
        say "provisioned $PYTHON (COURSE_PROVISIONED_PYTHON stands in for uv's download)"
    elif uv="$(uv_command)"; then
        export UV_PYTHON_INSTALL_DIR="$ROOT/python" UV_PYTHON_PREFERENCE=only-managed
        "$uv" python install "$PYTHON_VERSION"
        PYTHON="$("$uv" python find "$PYTHON_VERSION")"
        say "provisioned $PYTHON with uv $UV_VERSION"
    elif apt_install python3.11 python3.11-venv; then
        PYTHON=/usr/bin/python3.11
        say "provisioned $PYTHON with apt"
    else
        fail "no CPython 3.11 here and none could be installed (uv: pip install uv==$UV_VERSION; apt: python3.11)"
    fi
    is_python311 "$PYTHON" || fail "$PYTHON is Python $(version_of "$PYTHON"), not 3.11"
}

# 1. The sandbox.
if ! command -v bwrap >/dev/null; then
    apt_install bubblewrap || say "warning: bubblewrap could not be installed; the grader uses weaker isolation"
fi

# 2. The interpreter.
if [ -n "${COURSE_PYTHON:-}" ]; then
    is_python311 "$COURSE_PYTHON" \
        || fail "COURSE_PYTHON=$COURSE_PYTHON is Python $(version_of "$COURSE_PYTHON"), not 3.11"
    PYTHON="$COURSE_PYTHON"
    say "using COURSE_PYTHON=$PYTHON"
elif is_python311 "$(command -v python3.11 || true)"; then
    PYTHON="$(command -v python3.11)"
    say "using $PYTHON (Python $(version_of "$PYTHON"))"
elif is_python311 "$(command -v python3 || true)"; then
    PYTHON="$(command -v python3)"
    say "using $PYTHON (Python $(version_of "$PYTHON"))"
else
    say "python3 here is Python $(version_of "$(command -v python3 || echo python3)"); the lock needs 3.11"
    provision_python
fi

# 3. The venv, through the lock.
if ! is_python311 "$VENV/bin/python"; then
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" || { rm -rf "$VENV"; apt_install python3.11-venv && "$PYTHON" -m venv "$VENV"; } \
        || fail "$PYTHON cannot create a venv"
fi
index=()
[ -n "$TORCH_INDEX" ] && index=(--extra-index-url "$TORCH_INDEX")
pip_install() {
    "$VENV/bin/python" -m pip install --no-input --disable-pip-version-check "${index[@]}" -c "$LOCK" "$@"
}
pip_install pip
pip_install -r "$SOURCE/requirements.txt"
"$VENV/bin/python" -m pip check
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
chmod -R a+rX "$VENV"

# 4. Only root reads what grading reads; the worker runs as nobody.
[ "$(id -u)" = 0 ] && chown -R 0:0 "$SOURCE"
chmod -R go-rwx "$SOURCE"
# The pydoc_data of the venv's Python (whichever $PYTHON built it) is the default corpus, held-out text included.
PYDOC_DATA="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')/pydoc_data"
if ! chmod -R go-rwx "$PYDOC_DATA"; then
    [ "$(id -u)" = 0 ] && fail "cannot make $PYDOC_DATA readable by root only"
    say "warning: $PYDOC_DATA stays readable by everyone (run setup.sh as root to lock it away)"
fi
"$VENV/bin/python" -c 'import sys, torch; print("setup.sh: ready: Python", sys.version.split()[0], "torch",
      torch.__version__)'
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission: it grades $AUTOGRADER_ROOT/submission/*.ipynb
# with `course grade` (same checks, seeds, limits and calibration as the instructor's
# repository) and writes $AUTOGRADER_ROOT/results/results.json, whatever happens.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
VENV="${COURSE_VENV:-$ROOT/venv}"
RESULTS="$ROOT/results/results.json"
export COURSE_ROOT="$ROOT/source/repo"
export PYTHONPATH="$COURSE_ROOT"
export PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 MPLBACKEND=Agg
STATE="$(mktemp -d)"
export JUPYTER_CONFIG_DIR="$STATE/jupyter/config" JUPYTER_DATA_DIR="$STATE/jupyter/data"
export JUPYTER_RUNTIME_DIR="$STATE/jupyter/runtime" IPYTHONDIR="$STATE/ipython" MPLCONFIGDIR="$STATE/matplotlib"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
status=0
"$VENV/bin/python" -m course gradescope --run-in "$ROOT" || status=$?
if [ ! -s "$RESULTS" ]; then
    echo "run_autograder: the grader exited with status $status and wrote no results" >&2
    cat > "$RESULTS" <<'EOF'
@FALLBACK_RESULTS@
EOF
fi
rm -rf "$STATE"
exit "$status"
"""


class BundleError(RuntimeError):
    """The repository cannot be bundled as it is; the message says what to fix."""


# --- building the zip -------------------------------------------------------------


def pinned_requirements(pyproject: Path) -> list[str]:
    """The runtime dependencies of pyproject.toml, each pinned with ``==``.

    Raises:
        BundleError: a dependency is not pinned exactly (a grade must not move with it).
    """
    try:
        return _pinned(pyproject)
    except LockError as exc:
        raise BundleError(str(exc)) from None


def locked_requirements(root: Path) -> tuple[list[str], str]:
    """(the pinned dependencies, the lock's text); every dependency must be in the lock at its version.

    Raises:
        BundleError: no lock, or a dependency that the lock pins at another version (run `make lock`).
    """
    deps = pinned_requirements(root / "pyproject.toml")
    try:
        lock = read_lock(root / LOCK_FILE)
    except LockError as exc:
        raise BundleError(str(exc)) from None
    for dep in deps:
        name, version = dep.split("==", 1)
        locked = lock.get(canonical(name.strip()), "")
        if locked.split("==", 1)[-1].split("+")[0] != version.strip():
            raise BundleError(f"{LOCK_FILE} pins {locked or 'nothing'} for {dep} of pyproject.toml: run `make lock`.")
    return deps, (root / LOCK_FILE).read_text(encoding="utf-8")


def _tree(root: Path, folder: Path) -> list[tuple[Path, str]]:
    files = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not SKIP_PARTS.intersection(rel.parts) and path.suffix != ".pyc":
            files.append((path, rel.as_posix()))
    return files


def bundle_files(cfg: CourseConfig) -> list[tuple[Path, str]]:
    """(file, path inside the repository) for everything grading reads: never tests/ or .git.

    The grader package, the assignment's hidden checks and calibration, the
    configuration, the source notebook (the template of every submission),
    pyproject.toml, the lock and the corpus file (CORPUS_PATH).
    """
    root = cfg.root
    files = _tree(root, root / "course") + _tree(root, cfg.autograder_dir)
    package = root / "autograder" / "__init__.py"
    files += [(package, "autograder/__init__.py")] if package.is_file() else []
    files += _tree(root, cfg.source_notebook.parent)
    files += [(cfg.path, "course_config.py"), (root / "pyproject.toml", "pyproject.toml")]
    corpus = cfg.corpus_path.resolve()
    if not corpus.is_relative_to(root.resolve()):
        raise BundleError(f"CORPUS_PATH ({corpus}) lies outside the repository: copy it into the repository "
                          "and point CORPUS_PATH at the copy, so that it travels with the autograder.")
    files.append((corpus, corpus.relative_to(root.resolve()).as_posix()))
    unique = dict((arc, path) for path, arc in files)
    return [(path, arc) for arc, path in sorted(unique.items())]


def check_gradable(cfg: CourseConfig) -> None:
    """Refuse to bundle an autograder that could not grade: broken lab files or no valid calibration."""
    try:
        load_calibration(cfg, load_course_corpus(cfg))
        load_lab(cfg)
    except UserError as exc:
        raise BundleError(f"{exc} (the bundle would fail every submission).") from None


def _add(zf: zipfile.ZipFile, arcname: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(arcname, ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    zf.writestr(info, data)


def build_bundle(out: Path, cfg: CourseConfig, check: bool = True) -> list[str]:
    """Write the Gradescope autograder zip.

    Layout: ``setup.sh``, ``run_autograder`` and ``requirements.txt`` at the root (where
    Gradescope looks for them), the repository pieces under ``repo/``; Gradescope unpacks
    it to /autograder/source, so COURSE_ROOT is /autograder/source/repo.

    Args:
        out: the zip file to write.
        cfg: the course configuration whose repository is bundled.
        check: first verify that the lab loads and its calibration is valid.

    Returns:
        The names inside the zip, in order.
    """
    if check:
        check_gradable(cfg)
    deps, lock = locked_requirements(cfg.root)
    requirements = "\n".join(deps) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        _add(zf, "setup.sh", SETUP_SH.encode(), executable=True)
        fallback = json.dumps(failure_results(GRADER_FAILED, 0.0))
        _add(zf, "run_autograder", RUN_AUTOGRADER.replace("@FALLBACK_RESULTS@", fallback).encode(), executable=True)
        _add(zf, REQUIREMENTS, requirements.encode())
        _add(zf, LOCK, lock.encode())
        for path, arc in bundle_files(cfg):
            _add(zf, f"{BUNDLE_REPO}/{arc}", path.read_bytes())
        names = zf.namelist()
    tmp.replace(out)
    return names


def main_gradescope(out: Path) -> int:
    """`course gradescope --out FILE`: build the bundle and say how to upload it."""
    cfg = load_config()
    try:
        names = build_bundle(out, cfg)
    except BundleError as exc:
        raise UserError(str(exc)) from None
    size = out.stat().st_size / 1e6
    print(f"wrote {out} ({len(names)} files, {size:.1f} MB)")
    print("upload it on Gradescope: assignment > Configure Autograder > Zip file upload (see docs/PLATFORMS.md)")
    return 0


# --- grading on Gradescope ----------------------------------------------------------


def _linked(folder: Path, path: Path) -> bool:
    """Whether ``path``, or a folder between ``folder`` and it, is a symbolic link."""
    parts = path.relative_to(folder).parts
    return any(folder.joinpath(*parts[:i]).is_symlink() for i in range(1, len(parts) + 1))


def pick_notebook(folder: Path, name: str) -> tuple[Path | None, str]:
    """The submitted notebook to grade, or None and a message for the student.

    Hidden folders (a GitHub upload's .github/) and checkpoints are ignored; a file
    named like the lab's notebook wins over other notebooks. A symbolic link is never
    followed: a notebook that is one rejects the submission (it could point at the solution).

    Args:
        folder: Gradescope's submission folder.
        name: the lab's notebook file name.

    Returns:
        (the notebook, "") or (None, what the student should upload instead).
    """
    entries = sorted(
        p for p in folder.rglob("*.ipynb")
        if not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ) if folder.is_dir() and not folder.is_symlink() else []
    links = [p.relative_to(folder).as_posix() for p in entries if _linked(folder, p)]
    if links:
        return None, (f"Your submission's {', '.join(links)} is a symbolic link, not a notebook file: "
                      f"upload the {name} file itself.")
    found = [p for p in entries if p.is_file()]
    named = [p for p in found if p.name == name]
    if len(named) == 1:
        return named[0], ""
    if len(found) == 1 and not named:
        return found[0], ""
    if not found:
        return None, f"No notebook was found in your submission: upload your {name}."
    listed = ", ".join(p.relative_to(folder).as_posix() for p in found)
    return None, f"Your submission holds several notebooks ({listed}); upload only your {name}."


def copy_regular_file(source: Path, dest: Path) -> None:
    """Copy ``source`` to ``dest`` without following a symbolic link in its last part.

    Raises:
        OSError: ``source`` is a symbolic link (ELOOP) or not a regular file.
    """
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as src:
        if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
            raise OSError(f"{source} is not a regular file: it is not copied")
        with open(dest, "wb") as out:
            shutil.copyfileobj(src, out)


def failure_results(message: str, seconds: float, status: str = "error") -> dict[str, Any]:
    """A results.json for a submission that could not be graded (no tests, score 0)."""
    return {
        "score": 0.0,
        "execution_time": round(seconds, 2),
        "output": message,
        "output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
        "extra_data": {"status": status},
    }


def embed_training_plot(results: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Show the grader-run training picture on Gradescope, inline in the threshold check's output.

    Gradescope shows only results.json: a file beside it is never displayed, and a test's output is
    rendered as HTML when its ``output_format`` is ``html``, where an ``<img>`` with a base64 data URI
    displays. The check's message is kept as escaped text above the picture.

    Args:
        results: the results.json dict `course grade` wrote.
        folder: the submission's output folder (training.png beside results.json).

    Returns:
        ``results``, changed in place when there is a picture and a threshold check to carry it.
    """
    extra = results.get("extra_data", {})
    png = folder / PLOT_NAME
    if extra.get("training_plot") != PLOT_NAME or not png.is_file() or png.stat().st_size > MAX_EMBEDDED_PNG:
        return results
    test = next((t for t in results.get("tests", []) if (t.get("tags") or [None])[0] == THRESHOLD_TAG), None)
    if test is None:
        return results
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    summary = html.escape(str(extra.get("training_summary", "")))
    test["output"] = (f"<p>{html.escape(test.get('output', ''))}</p>"
                      f'<p><img src="data:image/png;base64,{data}" alt="Training loss of your model over the '
                      f'grader\'s steps, next to the reference runs" style="max-width:100%"></p>'
                      + (f"<p>{summary}</p>" if summary else ""))
    test["output_format"] = "html"
    return results


METADATA_JSON = "submission_metadata.json"  # Gradescope's record of the submission, beside submission/


def gradescope_identity(root: Path, notebook: Path, tz_name: str) -> Submission:
    """The submission to grade, with the student Gradescope names in ``root/submission_metadata.json``.

    The first user's ``sid`` (their student id in the Gradescope roster), else their Gradescope
    user ``id``, is the student id: the probe seed follows it. A missing or malformed file is
    logged on the instructor-only stdout and the notebook is graded under an id made from its
    bytes, so that two students never share a seed by accident.

    Args:
        root: Gradescope's /autograder.
        notebook: the copy of the submitted notebook to grade.
        tz_name: the course's time zone, for the timestamp.

    Returns:
        The submission, with the student's id, name, email, submission time and late flag.
    """
    tz = course_zone(tz_name)
    meta_file = root / METADATA_JSON
    meta: Any = None
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        print(f"run_autograder: no {meta_file}: the student is not known")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"run_autograder: {meta_file} is not readable JSON ({exc}): the student is not known")
    users = meta.get("users") if isinstance(meta, dict) else None
    user = users[0] if isinstance(users, list) and users and isinstance(users[0], dict) else None
    if user is None:
        if meta is not None:
            print(f"run_autograder: {meta_file} lists no users: the student is not known")
        student = anonymous_id(notebook)
        return Submission(student, notebook, student, lms=GRADESCOPE, origin=str(notebook))
    text = lambda key: "" if user.get(key) is None else str(user.get(key)).strip()
    student = text("sid") or text("id") or anonymous_id(notebook)
    if len(users) > 1:
        print(f"run_autograder: a group submission; graded for {text('name') or student}")
    created = parse_time(meta.get("created_at"), tz)
    assignment = meta.get("assignment") if isinstance(meta.get("assignment"), dict) else {}
    due = parse_time(assignment.get("due_date"), tz)
    previous = meta.get("previous_submissions")
    return Submission(
        id=safe_id(f"{text('name')}_{student}" if text("name") else student),
        path=notebook,
        student_id=student,
        timestamp=iso_time(created, tz, exact=True) if created is not None else "",
        name=text("name"),
        email=text("email"),
        lms=GRADESCOPE,
        late=created > due if created is not None and due is not None else None,
        attempt=len(previous) + 1 if isinstance(previous, list) else 1,
        origin=str(notebook),
    )


def run_autograder(root: Path) -> int:
    """Grade ``root/submission`` as the student ``root/submission_metadata.json`` names, into ``root/results``.

    Args:
        root: Gradescope's /autograder.

    Returns:
        0 when results.json was written from a grading run, or rejects the submission without running
        the grader (no notebook, several, a symbolic link); 1 when it reports a grader failure.
    """
    started = time.monotonic()
    target = root / "results" / "results.json"

    def write(results: dict[str, Any]) -> None:
        atomic_write(target, json.dumps(results, indent=1) + "\n")

    try:
        cfg = load_config()
        notebook, problem = pick_notebook(root / "submission", cfg.notebook)
        if notebook is None:
            write(failure_results(problem, time.monotonic() - started, status="rejected"))
            return 0
        with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
            inbox, out = Path(tmp) / "submission", Path(tmp) / "graded"
            inbox.mkdir()
            copy_regular_file(notebook, inbox / cfg.notebook)
            sub = gradescope_identity(root, inbox / cfg.notebook, cfg.timezone)
            print(f"run_autograder: grading {sub.name or 'an unnamed student'} (student id {sub.student_id})")
            console = Console(file=sys.stdout, width=120)
            grade_submissions(cfg, [sub], out, jobs=1, console=console)
            graded = sorted(out.glob("*/results.json"))
            if len(graded) != 1:
                raise RuntimeError(f"`course grade` wrote {len(graded)} results for one submission")
            results = embed_training_plot(json.loads(graded[0].read_text(encoding="utf-8")), graded[0].parent)
            feedback = graded[0].with_name("feedback.md")
            if feedback.is_file():
                print(feedback.read_text(encoding="utf-8"))
        write(results)
        return 0
    except UserError as exc:
        print(f"run_autograder: the course setup is broken: {exc}")
    except Exception:
        print("run_autograder: grading failed:")
        traceback.print_exc(file=sys.stdout)
    write(failure_results(GRADER_FAILED, time.monotonic() - started))
    return 1
