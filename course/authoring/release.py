"""`course release`: generate the student notebook with nbgrader, verify it, then write it."""
from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from course.authoring.contract import build_contract
from course.authoring.jupyter_env import isolated_env
from course.authoring.vendor import selfcheck_cell_source
from course.config import CourseConfig, load_config
from course.corpus import load_course_corpus
from course.errors import UserError
from course.grader.calibration import load_calibration
from course.grader.lab import lab_module
from course.modes import GIVEN, OPTIONAL, apply_modes
from course.platforms.classroom import ClassroomError, stale_student_files, student_files
from course.platforms.student_repo import COLAB_BADGE, badge_markdown, extra_files, stale_extra_files
from course.student.notebook import (
    cell_source,
    grade_id,
    is_answer_cell,
    is_test_cell,
    is_written_answer,
    nbgrader_meta,
)

# nbgrader's region delimiters (its defaults; course_config.py does not change them).
BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
# Any marker-like line left in a release: "### BEGIN ...", "## END ...", or a delimiter.
MARKER = re.compile(r"#+\s*(BEGIN|END)\b|BEGIN SOLUTION|END SOLUTION|HIDDEN TESTS")
# "jupyter" and "cellView" fold the long self-check cell in JupyterLab and Colab.
KEPT_CELL_METADATA = ("cellView", "deletable", "editable", "jupyter", "nbgrader", "tags")
SELFCHECK_CELL_ID = "selfcheck"
CORPUS_CELL_ID = "load-corpus"  # the notebook's corpus cell: its three settings come from the configuration
CORPUS_SETTINGS = ("CORPUS_FILE", "CORPUS_URL", "CORPUS_SHA256")
NBGRADER_TIMEOUT_S = 300


class ReleaseError(Exception):
    """The release cannot be generated, or the generated one is unsafe to publish."""


@dataclass
class ReleaseJob:
    """What the release steps read and fill in, in order."""

    cfg: CourseConfig
    workdir: Path  # a throw-away nbgrader course folder
    source: NotebookNode | None = None  # the instructor notebook (its exercise split applied once staged)
    release: NotebookNode | None = None  # nbgrader's output, normalised in place
    text: str = ""  # the serialised release
    log: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # printed by `course release`, never a refusal


def code_stub(cfg: CourseConfig) -> str:
    return dict(cfg.nbgrader.get("ClearSolutions.code_stub", {})).get(
        "python", "# YOUR CODE HERE\nraise NotImplementedError()"
    )


def text_stub(cfg: CourseConfig) -> str:
    return cfg.nbgrader.get("ClearSolutions.text_stub", "YOUR ANSWER HERE")


# --- Steps --------------------------------------------------------------------


def read_source(job: ReleaseJob) -> None:
    """Read and validate the instructor notebook."""
    path = job.cfg.source_notebook
    if not path.is_file():
        raise ReleaseError(f"No source notebook at {path}: check ASSIGNMENT and NOTEBOOK in course_config.py.")
    try:
        job.source = nbformat.read(str(path), as_version=4)
        nbformat.validate(job.source)
    except Exception as exc:  # a hand-edited notebook with broken JSON or schema
        raise ReleaseError(f"{path} is not a valid notebook ({type(exc).__name__}: {exc}).") from None


def stage(job: ReleaseJob) -> None:
    """Copy the assignment folder into a fresh course folder, so nbgrader writes nothing into the repo."""
    src = job.cfg.source_notebook.parent
    dest = job.workdir / "source" / job.cfg.assignment
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".*", "__pycache__"))


def apply_exercise_modes(job: ReleaseJob) -> None:
    """Apply EXERCISES to the staged notebook: given exercises become worked code, optional ones homework."""
    assert job.source is not None
    job.source = nbformat.from_dict(apply_modes(job.source, job.cfg.exercise_modes))
    nbformat.write(job.source, str(job.workdir / "source" / job.cfg.assignment / job.cfg.notebook))


def generate(job: ReleaseJob) -> None:
    """Run `nbgrader generate_assignment` on the staged course with the repo's nbgrader configuration."""
    config_file = job.cfg.root / "nbgrader_config.py"
    if not config_file.is_file():
        raise ReleaseError(f"No nbgrader configuration at {config_file}: it should load course_config.py.")
    env = isolated_env(job.workdir / ".state")
    env["COURSE_CONFIG"] = str(job.cfg.path)  # nbgrader_config.py reads the same course_config.py
    command = [
        sys.executable, "-m", "nbgrader", "generate_assignment", job.cfg.assignment,
        "--force",  # nbgrader silently skips an existing release without it
        f"--JupyterApp.config_file={config_file}",  # nbgrader ignores --config
        f"--CourseDirectory.root={job.workdir}",  # the command line wins over the config file
    ]
    try:
        done = subprocess.run(command, cwd=job.workdir, env=env, capture_output=True, text=True,
                              timeout=NBGRADER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ReleaseError(f"nbgrader generate_assignment took more than {NBGRADER_TIMEOUT_S} s.") from None
    job.log = (done.stdout + done.stderr).splitlines()
    out = job.workdir / "release" / job.cfg.assignment / job.cfg.notebook
    if done.returncode != 0 or not out.is_file():
        errors = [line for line in job.log if "ERROR" in line or "Error" in line] or job.log[-15:]
        raise ReleaseError("nbgrader generate_assignment failed:\n  " + "\n  ".join(errors[-15:]))
    job.release = nbformat.read(str(out), as_version=4)


def corpus_settings(cfg: CourseConfig) -> dict[str, str]:
    """The corpus cell's settings in the release: the file beside the notebook, its download URL, its sha256."""
    name = cfg.corpus_path.name
    return {"CORPUS_FILE": name, "CORPUS_URL": cfg.student_raw_url(name),
            "CORPUS_SHA256": load_course_corpus(cfg).sha256}


def set_assignments(source: str, values: dict[str, str], where: str) -> str:
    """``source`` with each top-level ``NAME = ...`` line of ``values`` set to the new string (comments kept).

    Raises:
        ReleaseError: a name is not assigned on a line of its own in ``source``.
    """
    for name, value in values.items():
        pattern = re.compile(rf"^({name} = )[^#\n]*?(\s*#.*)?$", re.M)
        source, count = pattern.subn(lambda m, v=value: f"{m.group(1)}{json.dumps(v)}{m.group(2) or ''}", source,
                                     count=1)
        if count != 1:
            raise ReleaseError(f"{where}: no line `{name} = ...` to set; keep the corpus cell's settings lines.")
    return source


def corpus_cell(nb: NotebookNode, where: str) -> NotebookNode:
    cell = next((c for c in nb.cells if c.get("id") == CORPUS_CELL_ID), None)
    if cell is None or cell.cell_type != "code":
        raise ReleaseError(f"{where} has no code cell with id {CORPUS_CELL_ID!r} (the corpus cell).")
    return cell


def check_source_corpus(job: ReleaseJob) -> None:
    """The source notebook's corpus cell reads the configured corpus, so the instructor's runs use the graded text."""
    assert job.source is not None
    cfg = job.cfg
    source = cell_source(corpus_cell(job.source, str(cfg.source_notebook)))
    match = re.search(r'^CORPUS_FILE = ["\']([^"\']+)["\']', source, re.M)
    wanted = os.path.relpath(cfg.corpus_path, cfg.source_notebook.parent)
    if not match or (cfg.source_notebook.parent / match.group(1)).resolve() != cfg.corpus_path.resolve():
        found = match.group(1) if match else "nothing"
        raise ReleaseError(f"the source notebook's corpus cell reads {found}, not CORPUS_PATH ({cfg.corpus_path}): "
                           f"set CORPUS_FILE = {json.dumps(wanted)} in its cell {CORPUS_CELL_ID!r}.")


def point_corpus(job: ReleaseJob) -> None:
    """Set the release's corpus cell to the copy beside the notebook and its download from the student repository."""
    assert job.release is not None
    cell = corpus_cell(job.release, "the release notebook")
    try:
        cell.source = set_assignments(cell_source(cell), corpus_settings(job.cfg), f"cell {CORPUS_CELL_ID!r}")
    except UserError as exc:  # an unreadable corpus file
        raise ReleaseError(str(exc)) from None


def add_badge(job: ReleaseJob) -> None:
    """Put the "Open in Colab" badge of the student repository's notebook under the first cell's title."""
    assert job.release is not None
    first = job.release.cells[0] if job.release.cells else None
    if first is None or first.cell_type != "markdown":
        raise ReleaseError("the notebook's first cell should be markdown (its title): the Colab badge goes there.")
    lines = [line for line in cell_source(first).splitlines() if COLAB_BADGE not in line]
    title = 1 if lines and lines[0].startswith("#") else 0
    lines[title:title] = ([""] if title else []) + [badge_markdown(job.cfg)] + ([""] if not title else [])
    first.source = "\n".join(lines)


def read_calibration_record(cfg: CourseConfig) -> dict:
    """calibration.json as a dict (the threshold section and the contract read it).

    Raises:
        ReleaseError: there is none, or it holds no recipe and threshold.
    """
    path = cfg.calibration_path
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ReleaseError(f"No usable threshold calibration at {path}: run `course calibrate` first.") from None
    if not isinstance(record, dict) or not isinstance(record.get("recipe"), dict) or "threshold" not in record:
        raise ReleaseError(f"{path} holds no recipe and threshold: run `course calibrate` first.")
    return record


def add_threshold_section(job: ReleaseJob) -> None:
    """Before the submission cell: what the grader trains (from calibration.json) and the optional estimate cell."""
    nb, cfg = job.release, job.cfg
    assert nb is not None
    lab = lab_module(cfg, "threshold")
    record = read_calibration_record(cfg)
    try:
        load_calibration(cfg, load_course_corpus(cfg))
    except UserError as exc:  # the release still says what the calibration says; grading will refuse it
        job.warnings.append(f"warning: the release states a stale calibration: {exc}")
    notes = {v.name: v.note for v in lab_module(cfg, "variants").FAMILY}
    info = nbformat.v4.new_markdown_cell(lab.info_markdown(record, cfg.threshold, cfg.points["threshold"], notes))
    info.id = lab.INFO_CELL_ID
    estimate = nbformat.v4.new_code_cell(lab.estimate_cell(record, cfg.threshold, cfg.seed))
    estimate.id = lab.ESTIMATE_CELL_ID
    estimate.metadata["tags"] = ["grader-skip"]
    where = next((i for i, c in enumerate(nb.cells) if c.get("id") == lab.SECTION_BEFORE), None)
    if where is None:
        raise ReleaseError(f"the source notebook has no cell with id {lab.SECTION_BEFORE!r} to put the threshold "
                           "section before")
    nb.cells[where:where] = [info, estimate]


def add_selfcheck(job: ReleaseJob) -> None:
    """Append the student self-check (stdlib only, works on Colab) as a folded, read-only last cell."""
    nb = job.release
    assert nb is not None
    intro = nbformat.v4.new_markdown_cell(
        "## Self-check before you submit\n\n"
        "Save the notebook, then run the next cell. It checks that the grader can read your notebook: "
        "every answer cell is present, each function has the expected signature, and the visible tests "
        "run within the time and memory limits. It runs no hidden test: passing it means *gradable*, "
        "not *correct*."
    )
    intro.id = f"{SELFCHECK_CELL_ID}-intro"
    contract = build_contract(job.cfg, json.loads(nbformat.writes(job.source)))
    cell = nbformat.v4.new_code_cell("#@title Self-check (run me)\n" + selfcheck_cell_source(contract))
    cell.id = SELFCHECK_CELL_ID
    cell.metadata.update({"tags": ["grader-skip"], "editable": False, "deletable": False,
                          "cellView": "form", "jupyter": {"source_hidden": True}})
    nb.cells.extend([intro, cell])


def normalise(job: ReleaseJob) -> None:
    """Make the release deterministic: no outputs, no execution counts, stable ids and metadata."""
    nb = job.release
    assert nb is not None
    kernelspec = nb.metadata.get("kernelspec") or {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata = nbformat.from_dict({"kernelspec": dict(kernelspec), "language_info": {"name": "python"}})
    nb.nbformat, nb.nbformat_minor = 4, 5
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        cell.metadata = nbformat.from_dict({k: cell.metadata[k] for k in KEPT_CELL_METADATA if k in cell.metadata})
        if "attachments" in cell and not cell.attachments:
            del cell["attachments"]
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell_id = cell.get("id")
        if not cell_id or cell_id in seen:  # old notebooks have none; nbformat would invent random ones
            cell_id = f"cell-{index}"
        cell.id = cell_id
        seen.add(cell_id)
    job.text = nbformat.writes(nb) + "\n"


def verify(job: ReleaseJob) -> None:
    """Refuse a release that leaks solutions or hidden tests, or that a student could not use."""
    assert job.source is not None
    release = nbformat.reads(job.text, as_version=4)
    problems = verify_release(job.source, release, code_stub(job.cfg), text_stub(job.cfg))
    if problems:
        raise ReleaseError("refusing to write the release:\n  - " + "\n  - ".join(problems))


# The order matters: the source is read and its corpus cell checked before nbgrader runs (a
# wrong cell fails fast); nbgrader needs the staged copy; the exercise split is applied to that
# copy before nbgrader runs (a given exercise's solution must not look like a solution to clear,
# an optional test cell must be worth 0 in nbgrader's records) and becomes the source the later
# steps compare with; the corpus settings, the badge, the threshold section and the self-check
# cell are put into nbgrader's output (the source notebook never carries what the configuration,
# calibration.json and the student package derive), the section before the submission cell and
# the self-check after everything; normalising before verifying means the checks see exactly the
# bytes that will be written; nothing is written unless all pass and every other file of the
# release has been built too (release_contents).
RELEASE_STEPS: tuple[Callable[[ReleaseJob], None], ...] = (
    read_source, check_source_corpus, stage, apply_exercise_modes, generate, point_corpus, add_badge,
    add_threshold_section, add_selfcheck, normalise, verify,
)


# --- Verification -------------------------------------------------------------


def region_lines(source: str, begin: str, end: str) -> tuple[set[str], set[str]]:
    """(stripped lines inside begin/end regions, stripped lines outside them), blanks ignored."""
    inside, outside, in_region = set(), set(), False
    for line in source.splitlines():
        if begin in line:
            in_region = True
        elif end in line:
            in_region = False
        elif line.strip():
            (inside if in_region else outside).add(line.strip())
    return inside, outside


def _cells_by_id(nb: NotebookNode, keep: Callable[[dict], bool]) -> dict[str, dict]:
    return {gid: c for c in nb.cells if keep(c) and (gid := grade_id(c))}


def check_schema(source: NotebookNode, release: NotebookNode, code: str, text: str) -> list[str]:
    try:
        nbformat.validate(release)
    except nbformat.ValidationError as exc:
        return [f"the notebook does not validate against the nbformat schema: {exc.message}"]
    return []


def check_markers(source: NotebookNode, release: NotebookNode, code: str, text: str) -> list[str]:
    problems = []
    for index, cell in enumerate(release.cells):
        for number, line in enumerate(cell_source(cell).splitlines(), 1):
            if MARKER.search(line):
                problems.append(f"cell {index} ({cell.get('id')}), line {number}: marker left: {line.strip()!r}")
    return problems


def check_outputs(source: NotebookNode, release: NotebookNode, code: str, text: str) -> list[str]:
    return [
        f"cell {i} ({c.get('id')}) keeps outputs or an execution count"
        for i, c in enumerate(release.cells)
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)
    ]


def check_cells_kept(source: NotebookNode, release: NotebookNode, code: str, text: str) -> list[str]:
    graded = lambda c: is_answer_cell(c) or is_test_cell(c) or is_written_answer(c)
    want = [grade_id(c) for c in source.cells if graded(c)]
    got = [grade_id(c) for c in release.cells if graded(c)]
    if want != got:
        return [f"graded cells differ from the source: expected {want}, got {got}"]
    return []


def check_answer_stubs(source: NotebookNode, release: NotebookNode, code: str, text: str) -> list[str]:
    problems = []
    released = _cells_by_id(release, is_answer_cell)
    stub = code.strip().splitlines()[-1].strip()  # "raise NotImplementedError()"
    for gid, cell in _cells_by_id(source, is_answer_cell).items():
        regions = max(1, cell_source(cell).count(BEGIN_SOLUTION))
        out = cell_source(released.get(gid, {}))
        if out.count(stub) < regions:
            problems.append(f"answer cell {gid!r} should raise NotImplementedError in place of each solution")
    return problems


def check_no_solution(source: NotebookNode, release: NotebookNode, code: str, text: str) -> list[str]:
    problems = []
    released = {**_cells_by_id(release, is_answer_cell), **_cells_by_id(release, is_written_answer)}
    sources = {**_cells_by_id(source, is_answer_cell), **_cells_by_id(source, is_written_answer)}
    for gid, cell in sources.items():
        src = cell_source(cell)
        if BEGIN_SOLUTION in src:
            secret, public = region_lines(src, BEGIN_SOLUTION, END_SOLUTION)
        else:  # the whole cell is the solution
            secret, public = {line.strip() for line in src.splitlines() if line.strip()}, set()
        public |= {line.strip() for line in (code + "\n" + text).splitlines()}
        leaked = sorted((secret - public) & {line.strip() for line in cell_source(released.get(gid, {})).splitlines()})
        if leaked:
            problems.append(f"solution code survives in {gid!r}: {leaked[0]!r}")
    return problems


def check_no_hidden_tests(source: NotebookNode, release: NotebookNode, code: str, text: str) -> list[str]:
    problems = []
    released = _cells_by_id(release, is_test_cell)
    for gid, cell in _cells_by_id(source, is_test_cell).items():
        hidden, visible = region_lines(cell_source(cell), BEGIN_HIDDEN, END_HIDDEN)
        leaked = sorted((hidden - visible) & {line.strip() for line in cell_source(released.get(gid, {})).splitlines()})
        if leaked:
            problems.append(f"hidden test code survives in {gid!r}: {leaked[0]!r}")
    return problems


def check_given_cells(source: NotebookNode, release: NotebookNode, code: str, text: str) -> list[str]:
    """The read-only cells of the split (worked code, its demo tests) reach the release as the source has them."""
    read_only = lambda c: c.cell_type == "code" and bool(grade_id(c)) and nbgrader_meta(c).get("locked") \
        and not is_answer_cell(c) and not is_test_cell(c)
    released = _cells_by_id(release, read_only)
    problems = []
    for gid, cell in _cells_by_id(source, read_only).items():
        if gid not in released:
            problems.append(f"the read-only cell {gid!r} is missing or no longer read-only")
        elif cell_source(released[gid]).strip() != cell_source(cell).strip():
            problems.append(f"the read-only cell {gid!r} differs from the source")
    return problems


CHECKS = (check_schema, check_markers, check_outputs, check_cells_kept, check_answer_stubs,
          check_no_solution, check_no_hidden_tests, check_given_cells)


def verify_release(source: NotebookNode, release: NotebookNode, code: str, text: str) -> list[str]:
    """Every problem found in a release notebook, compared with its source ([] when safe).

    Args:
        source: the instructor notebook, its exercise split applied (``course.modes.apply_modes``).
        release: the student notebook to publish.
        code: nbgrader's code stub; text: nbgrader's text stub.
    """
    return [problem for check in CHECKS for problem in check(source, release, code, text)]


# --- Driver -------------------------------------------------------------------


def build_release(cfg: CourseConfig) -> str:
    """Run RELEASE_STEPS in a temporary course folder and return the release text (warnings on stderr)."""
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        job = ReleaseJob(cfg=cfg, workdir=Path(tmp))
        for step in RELEASE_STEPS:
            step(job)
        for warning in job.warnings:
            print(f"course release: {warning}", file=sys.stderr)
        return job.text


def describe_difference(committed: str, fresh: str, name: str) -> list[str]:
    """Cells that differ between two release texts, and the first lines of a diff."""
    lines = []
    try:
        old, new = nbformat.reads(committed, as_version=4), nbformat.reads(fresh, as_version=4)
        old_cells = {c.get("id"): c for c in old.cells}
        new_cells = {c.get("id"): c for c in new.cells}
        changed = [i for i in new_cells if i in old_cells and old_cells[i] != new_cells[i]]
        for label, ids in (("changed", changed), ("missing", [i for i in new_cells if i not in old_cells]),
                           ("extra", [i for i in old_cells if i not in new_cells])):
            if ids:
                lines.append(f"{label} cells: {', '.join(map(str, ids))}")
    except Exception as exc:  # the committed file is not even a notebook
        lines.append(f"the committed file is not a readable notebook ({type(exc).__name__})")
    diff = list(difflib.unified_diff(committed.splitlines(), fresh.splitlines(),
                                     f"{name} (committed)", f"{name} (from source)", lineterm="", n=1))
    return lines + diff[:40] + (["..."] if len(diff) > 40 else [])


def check_committed(cfg: CourseConfig, fresh: str) -> list[str]:
    """Why the committed release is stale or unsafe ([] when it equals the fresh one)."""
    path = cfg.release_notebook
    name = str(path.relative_to(cfg.root)) if path.is_relative_to(cfg.root) else str(path)
    if not path.is_file():
        return [f"{name} does not exist"]
    committed = path.read_text(encoding="utf-8")
    if committed == fresh:
        return []
    problems = [f"{name} differs from what `course release` generates"]
    try:
        source = nbformat.from_dict(apply_modes(nbformat.read(str(cfg.source_notebook), as_version=4),
                                                cfg.exercise_modes))
        problems += verify_release(source, nbformat.reads(committed, as_version=4), code_stub(cfg), text_stub(cfg))
    except Exception:
        pass  # reported by describe_difference
    return problems + describe_difference(committed, fresh, name)


def release_contents(cfg: CourseConfig, fresh: str) -> dict[Path, bytes]:
    """Every file `course release` writes into release/<assignment>/, built without writing any there.

    The notebook (``fresh``), the GitHub Classroom files derived from it, the student README and the
    corpus copy.

    Raises:
        ReleaseError: the notebook's visible tests give no Classroom workflow.
        UserError: a file cannot be built (an unusable requirements.lock, a contract the source breaks).
    """
    folder = cfg.release_notebook.parent
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        staged = Path(tmp) / cfg.notebook  # the Classroom files read the released notebook from a file
        staged.write_text(fresh, encoding="utf-8")
        try:
            classroom = {rel: text.encode("utf-8") for rel, text in student_files(staged, cfg).items()}
        except ClassroomError as exc:
            raise ReleaseError(f"no GitHub Classroom workflow for this release: {exc}") from None
    files = {cfg.notebook: fresh.encode("utf-8"), **classroom, **extra_files(cfg)}
    return {folder / rel: data for rel, data in files.items()}


def write_release(files: dict[Path, bytes], root: Path) -> None:
    """Write the files that differ from what is there (an unchanged file keeps its time stamp).

    Raises:
        ReleaseError: a file cannot be written (the message names it).
    """
    for path, data in files.items():
        try:
            if not path.is_file() or path.read_bytes() != data:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        except OSError as exc:
            shown = path.relative_to(root) if path.is_relative_to(root) else path
            raise ReleaseError(f"cannot write {shown} ({exc.strerror}); make release/ writable and run "
                               "`course release` again.") from None


def main_release(check: bool = False, config: CourseConfig | None = None) -> int:
    """Regenerate the release (or, with check, only compare it with the committed one).

    Args:
        check: do not write; exit non-zero when the committed release is stale or unsafe.
        config: the course configuration; default load_config().

    Returns:
        The exit code: 0 on success, 1 on a problem (explained on stderr).
    """
    try:
        cfg = config or load_config()
        fresh = build_release(cfg)
    except (ReleaseError, UserError) as exc:
        print(f"course release: {exc}", file=sys.stderr)
        return 1
    path = cfg.release_notebook
    if check:
        problems = check_committed(cfg, fresh)
        problems += [f"{path.parent.relative_to(cfg.root) / rel} is missing or stale (GitHub Classroom files)"
                     for rel in stale_student_files(path.parent, cfg)]
        problems += [f"{path.parent.relative_to(cfg.root) / rel} is missing or stale (student README or corpus copy)"
                     for rel in stale_extra_files(path.parent, cfg)]
        if problems:
            print("course release --check: the committed release is stale or broken; run `course release`.",
                  file=sys.stderr)
            print("\n".join(problems), file=sys.stderr)
            return 1
        print(f"course release --check: {path.relative_to(cfg.root)} is up to date.")
        return 0
    unchanged = path.is_file() and path.read_text(encoding="utf-8") == fresh
    try:  # the notebook, the Classroom workflow (visible tests only), the student README and corpus copy
        write_release(release_contents(cfg, fresh), cfg.root)
    except (ReleaseError, UserError) as exc:
        print(f"course release: {exc}", file=sys.stderr)
        return 1
    nb = nbformat.reads(fresh, as_version=4)
    answers = sum(is_answer_cell(c) for c in nb.cells)
    written = sum(is_written_answer(c) for c in nb.cells)
    homework = sum(cfg.mode(name) == OPTIONAL for name in cfg.exercises)
    given = sum(cfg.mode(name) == GIVEN for name in cfg.exercises)
    state = "unchanged" if unchanged else "updated"
    print(f"course release: {path.relative_to(cfg.root)} {state}: {len(nb.cells)} cells, "
          f"{answers} exercises ({homework} of them homework), {given} given as worked code, {written} written "
          "questions; verified (no solutions, no hidden tests, no markers, outputs cleared).")
    return 0
