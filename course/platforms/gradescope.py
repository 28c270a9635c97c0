"""Gradescope autograder bundle: `course gradescope` builds it; its run_autograder grades one student's submission."""
from __future__ import annotations

import base64
import html
import json
import shutil
import sys
import tempfile
import time
import tomllib
import traceback
import zipfile
from pathlib import Path
from typing import Any

from rich.console import Console

from course.config import CourseConfig, load_config
from course.corpus import load_course_corpus
from course.errors import UserError
from course.grader.batch import grade_submissions
from course.grader.calibration import check_calibration
from course.grader.lab import load_lab
from course.grader.results import atomic_write
from course.grader.submission import Submission, anonymous_id, safe_id
from course.grader.training_plot import PLOT_NAME
from course.platforms.lms import GRADESCOPE, course_zone, iso_time, parse_time

BUNDLE_REPO = "repo"  # folder of the zip (and of /autograder/source/) holding the repository pieces
REQUIREMENTS = "requirements.txt"
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
# Gradescope runs this once, as root, while it builds the autograder image: bubblewrap
# for the grader's sandbox, then a virtual environment holding exactly the dependencies
# pinned in pyproject.toml (requirements.txt beside this file).
#   AUTOGRADER_ROOT      default /autograder (the venv goes to $AUTOGRADER_ROOT/venv)
#   COURSE_VENV          another place for the venv
#   COURSE_PYTHON        the interpreter that creates the venv (default python3, >= 3.10)
#   COURSE_TORCH_INDEX   where the CPU build of torch comes from; empty: pip's own configuration
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${AUTOGRADER_ROOT:-/autograder}"
VENV="${COURSE_VENV:-$ROOT/venv}"
PYTHON="${COURSE_PYTHON:-python3}"
TORCH_INDEX="${COURSE_TORCH_INDEX-https://download.pytorch.org/whl/cpu}"

apt_install() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

if ! command -v bwrap >/dev/null; then
    apt_install bubblewrap || echo "warning: bubblewrap could not be installed; the grader uses weaker isolation"
fi
if ! command -v "$PYTHON" >/dev/null; then
    apt_install python3 python3-venv || true
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "error: $PYTHON is older than Python 3.10; choose a newer base image (Ubuntu 22.04 or later)" >&2
    exit 1
fi
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    apt_install python3-venv || true
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
index=()
[ -n "$TORCH_INDEX" ] && index=(--extra-index-url "$TORCH_INDEX")
"$VENV/bin/python" -m pip install --no-input --disable-pip-version-check "${index[@]}" -r "$SOURCE/requirements.txt"
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
"$VENV/bin/python" -c 'import torch; print("autograder environment ready: torch", torch.__version__)'
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
    project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    deps = list(project.get("dependencies", []))
    loose = [d for d in deps if "==" not in d or any(op in d for op in (">", "<", "~", "!", "*"))]
    if loose:
        raise BundleError("pyproject.toml: pin every dependency exactly (name==version); not pinned: "
                          + ", ".join(loose))
    if not deps:
        raise BundleError("pyproject.toml lists no dependencies.")
    return deps


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
    pyproject.toml and, when CORPUS_PATH names one, the corpus file.
    """
    root = cfg.root
    files = _tree(root, root / "course") + _tree(root, cfg.autograder_dir)
    package = root / "autograder" / "__init__.py"
    files += [(package, "autograder/__init__.py")] if package.is_file() else []
    files += _tree(root, cfg.source_notebook.parent)
    files += [(cfg.path, "course_config.py"), (root / "pyproject.toml", "pyproject.toml")]
    if cfg.corpus_path is not None:
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
        check_calibration(cfg, load_course_corpus(cfg))
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
    requirements = "\n".join(pinned_requirements(cfg.root / "pyproject.toml")) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        _add(zf, "setup.sh", SETUP_SH.encode(), executable=True)
        fallback = json.dumps(failure_results(GRADER_FAILED, 0.0))
        _add(zf, "run_autograder", RUN_AUTOGRADER.replace("@FALLBACK_RESULTS@", fallback).encode(), executable=True)
        _add(zf, REQUIREMENTS, requirements.encode())
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


def pick_notebook(folder: Path, name: str) -> tuple[Path | None, str]:
    """The submitted notebook to grade, or None and a message for the student.

    Hidden folders (a GitHub upload's .github/) and checkpoints are ignored; a file
    named like the lab's notebook wins over other notebooks.
    """
    found = sorted(
        p for p in folder.rglob("*.ipynb")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ) if folder.is_dir() else []
    named = [p for p in found if p.name == name]
    if len(named) == 1:
        return named[0], ""
    if len(found) == 1 and not named:
        return found[0], ""
    if not found:
        return None, f"No notebook was found in your submission: upload your {name}."
    listed = ", ".join(p.relative_to(folder).as_posix() for p in found)
    return None, f"Your submission holds several notebooks ({listed}); upload only your {name}."


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

    Returns:
        0 when results.json was written from a grading run; 1 when it reports a grader failure.
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
            shutil.copyfile(notebook, inbox / cfg.notebook)
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
