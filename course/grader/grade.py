"""Grade one submission through an ordered list of steps, and a batch of them in parallel."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from functools import cache
from pathlib import Path
from typing import Any

import torch

from course.config import CourseConfig
from course.grader import results as res
from course.grader.assemble import assemble
from course.grader.probes import Response, save_plan, save_responses
from course.grader.session import WORKER_DIR, WorkerSession
from course.grader.state import Context, State
from course.grader.submission import Submission
from course.grader.threshold_cache import ThresholdCache, cache_key, code_digest, needed_cells
from course.student.notebook import NotebookError, read_notebook

# Bump when a change to grading must invalidate --resume results and cached trainings
# (2: answers.json, training.png; 3: the calibrated recipe, the training's own worker and its cache).
GRADER_VERSION = "3"
NOT_RUN_AFTER_TIMEOUT = "Not run: an earlier call of {symbol} did not finish within {s:.0f} s."


def submission_seed(cfg: CourseConfig, sub: Submission) -> int:
    """Probe seed for one submission: reproducible, different per student."""
    digest = hashlib.sha256(f"{cfg.seed}:{sub.student_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def course_digest(ctx: Context) -> str:
    """sha256 of what every result of a batch depends on: the grader, the config, the lab's files, the template."""
    h = hashlib.sha256()
    h.update(GRADER_VERSION.encode())
    h.update(ctx.cfg.path.read_bytes())
    for path in sorted(ctx.cfg.autograder_dir.rglob("*")):  # checks, worker ops, plan, calibration
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(path.relative_to(ctx.cfg.autograder_dir).as_posix().encode() + path.read_bytes())
    h.update(json.dumps(ctx.lab.template, sort_keys=True).encode())  # setup cells, worked code, test cells
    h.update(repr((ctx.options.threshold, ctx.options.checks)).encode())
    return h.hexdigest()


def fingerprint(ctx: Context, sub: Submission) -> str:
    """What a result depends on: the submitted file and the batch's course digest; used by --resume.

    The file is read as ``step_read`` would (never through a link, never more than the size limit
    allows); an unreadable file is fingerprinted by its error, so that it is graded (and rejected) again.
    """
    h = hashlib.sha256((ctx.course_digest or course_digest(ctx)).encode())
    h.update(repr((sub.student_id, sub.problem)).encode())  # the probe seed follows the student id
    if not sub.problem:
        try:
            if sub.path.is_symlink():
                raise OSError("a link")
            with open(sub.path, "rb") as fh:
                h.update(fh.read(ctx.cfg.limits.max_notebook_bytes + 1))
        except OSError as exc:
            h.update(f"unreadable: {exc}".encode())
    return h.hexdigest()


def out_of_time(st: State) -> str:
    """Why a probe or the training did not run: the submission's total time is spent."""
    return res.OUT_OF_TIME.format(s=st.ctx.cfg.limits.submission_timeout_s)


# --- the steps ------------------------------------------------------------------


def step_read(st: State) -> None:
    """Read the file defensively; an unreadable file is a result, not a crash."""
    limits = st.ctx.cfg.limits
    if st.sub.problem:  # the download held no notebook of this student
        st.rejected = st.sub.problem
        return
    try:
        st.notebook = read_notebook(st.sub.path, limits.max_notebook_bytes, limits.max_cells)
    except NotebookError as exc:
        st.rejected = str(exc)
    except OSError as exc:
        st.rejected = f"The file could not be read ({exc.strerror})."


def step_assemble(st: State) -> None:
    """Student answer cells onto the template; everything else from the template."""
    st.assembly = assemble(st.ctx.lab.template, st.notebook)


def step_start_worker(st: State) -> None:
    """Start the sandboxed worker and run the assembled cells in it."""
    st.session = worker_session(st.ctx, st.assembly.cells)
    st.cell_reports = list(st.session.start())


def worker_session(ctx: Context, cells: list[tuple[str, str]]) -> WorkerSession:
    """A sandboxed worker for these cells, with the lab's ops (not started)."""
    # the corpus file holds the held-out text: blanked wherever the sandbox could see it
    return WorkerSession(ctx.cfg.limits, op_modules=list(ctx.lab.op_modules), cells=cells,
                         isolation=ctx.options.isolation, hide=[ctx.cfg.corpus_path])


def step_probes(st: State) -> None:
    """Ask the worker every probe of the plan; each failure costs only its own checks.

    Probe ids are ``<exercise>/<kind>/<n>``: once a probe of an exercise has timed out, the
    exercise's other probes are not sent (each would wait its own timeout); they are reported
    as not run, and say why.
    """
    st.plan = list(st.ctx.lab.plan.build_plan(submission_seed(st.ctx.cfg, st.sub)))
    for req in st.plan:
        exercise = req.id.split("/", 1)[0]
        if exercise in st.timed_out:
            message = NOT_RUN_AFTER_TIMEOUT.format(symbol=exercise, s=st.timed_out[exercise])
            st.responses[req.id] = Response(req.id, "skipped", message=message)
            continue
        budget = min(req.timeout_s or st.ctx.cfg.limits.check_timeout_s, st.remaining())
        if budget <= 0:
            st.responses[req.id] = Response(req.id, "skipped", message=out_of_time(st))
            continue
        st.responses[req.id] = st.session.call(req, budget)
        if st.responses[req.id].status == "timeout":
            st.timed_out[exercise] = budget


@cache
def training_code(paths: tuple[Path, ...]) -> str:
    """sha256 of the code a grader-run training depends on (read once per grading run)."""
    return code_digest(paths)


def threshold_key(ctx: Context, cells: list[tuple[str, str]]) -> str:
    """The cache key of one grader-run training: the cells it runs and everything else its result depends on."""
    t = ctx.cfg.threshold
    code = (Path(ctx.lab.threshold.__file__), *ctx.lab.op_modules, *sorted(WORKER_DIR.glob("*.py")))
    return cache_key(
        cells, grader_version=GRADER_VERSION, recipe=ctx.calibration.recipe.as_dict(),
        corpus=ctx.corpus.sha256, heldout_fraction=ctx.cfg.heldout_fraction, torch=torch.__version__,
        code=training_code(tuple(code)), seed=ctx.cfg.seed, threads=ctx.cfg.limits.worker_threads,
        settings=[t.embed, t.hidden, t.seq_len, t.clip, t.chunk, t.heldout_streams, t.suspicious_perplexity])


def step_threshold(st: State) -> None:
    """Train the student's model for the calibrated recipe in a worker of its own; score the held-out text here.

    That worker runs only the setup cell and the cells the training needs (``needed_cells``), so that
    the result is cached under exactly what ran (OUT/.cache/threshold/): a regrade, or a resubmission
    that changed only other exercises, reuses it.
    """
    if not st.ctx.options.threshold:
        return
    lab, ctx = st.ctx.lab, st.ctx
    blocked = [symbol for symbol in lab.threshold.SYMBOLS if symbol in st.timed_out]
    if blocked:
        message = NOT_RUN_AFTER_TIMEOUT.format(symbol=blocked[0], s=st.timed_out[blocked[0]])
        st.threshold = {"status": "skipped", "message": f"{message} The grader did not train your model."}
        return
    if st.remaining() <= 0:
        st.threshold = {"status": "skipped", "message": out_of_time(st)}
        return
    cells = needed_cells(st.assembly.cells, lab.threshold.SYMBOLS)
    key = threshold_key(ctx, cells)
    store = ThresholdCache(ctx.cache_dir) if ctx.options.cache else None
    cached = store.get(key) if store else None
    if cached is not None:
        st.threshold = {**cached, "cache": "reused"}
        return
    session = st.threshold_session = worker_session(ctx, cells)
    try:
        session.start()
        if session.starts:
            st.timings["threshold_worker"] = round(sum(session.starts[0].values()), 2)
        result = lab.threshold.run_threshold(session, ctx.corpus, ctx.cfg.threshold, ctx.calibration.recipe,
                                             lab.threshold.training_seed(ctx.cfg.seed),
                                             timeout_s=min(ctx.cfg.limits.threshold_timeout_s, st.remaining()))
        printed = session.output()
        if printed.strip():
            st.output += "\n[the grader-run training]\n" + printed
    finally:
        session.close()
        st.threshold_session = None
    stored = store is not None and store.put(key, result)
    st.threshold = {**result, "cache": "stored" if stored else "not stored"}


def step_stop_worker(st: State) -> None:
    """Kill every process the submission started, before anything is judged."""
    if st.session is not None:
        try:
            st.output = st.session.output()
            if st.session.starts:
                st.timings.update({f"worker_{k}": round(v, 2) for k, v in st.session.starts[0].items()})
        finally:
            st.session.close()
            st.session = None
    if st.threshold_session is not None:
        st.threshold_session.close()
        st.threshold_session = None


def step_judge(st: State) -> None:
    """Run the hidden checks in a trusted pytest subprocess over the saved probe data."""
    data = st.work / "data"
    data.mkdir(exist_ok=True)
    save_plan(data, st.plan)
    save_responses(data, st.responses)
    answers = st.assembly.answers if st.assembly else {}
    (data / "sources.json").write_text(json.dumps(answers))
    if st.threshold is not None:
        (data / "threshold.json").write_text(json.dumps(st.threshold))
    (data / "context.json").write_text(json.dumps({
        "config_path": str(st.ctx.cfg.path),
        "calibration_path": str(st.ctx.cfg.calibration_path),
        "submission_id": st.sub.id,
        "modes": dict(st.ctx.cfg.exercise_modes),  # the split the template was assembled for
    }))
    st.checks = run_checks(st.ctx, data, st.work)
    broken = [f"{check['name']}: {check['internal']}" for check in st.checks if check.get("internal")]
    if broken:  # a check that crashed is the grader's fault: the result says so and --resume grades it again
        st.internal_error = "checks that crashed: " + "; ".join(broken)


def run_checks(ctx: Context, data: Path, work: Path) -> list[dict[str, Any]]:
    """Run the assignment's pytest checks on a data folder; return the plugin's report."""
    report = work / "checks.json"
    ini = work / "pytest.ini"
    ini.write_text("[pytest]\n")
    cmd = [
        sys.executable, "-m", "pytest", str(ctx.lab.checks_dir),
        "-c", str(ini), "--rootdir", str(ctx.lab.checks_dir),
        "-p", "course.grader.plugin", "-p", "no:cacheprovider", "-p", "no:randomly",
        "--grading-data", str(data), "--grading-report", str(report), "-q", "--no-header",
    ]
    if ctx.options.checks:
        cmd += ["-k", ctx.options.checks]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ctx.cfg.root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode not in (0, 1) or not report.exists():
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise RuntimeError(f"hidden checks did not run (pytest exit {proc.returncode}):\n{tail}")
    return json.loads(report.read_text())


def step_write(st: State) -> None:
    """Write answers.json, training.png, feedback.md and results.json atomically into OUT/<id>/."""
    res.write_submission(st)


# The order matters: a file is read before it is assembled; the worker runs the assembled
# cells before any probe; the probes' worker is stopped before the grader-run training starts a
# worker of its own (one worker per submission at a time; that worker is stopped inside its step);
# every student process is dead before the trusted checks judge; results are written last, from
# trusted data only.
WORKER_STEPS: list[Callable[[State], None]] = [step_start_worker, step_probes, step_stop_worker, step_threshold]
GRADING_STEPS: list[Callable[[State], None]] = [
    step_read,
    step_assemble,
    *WORKER_STEPS,
    step_judge,
    step_write,
]


def grade_one(ctx: Context, sub: Submission) -> dict[str, Any]:
    """Grade one submission; always writes a result. Returns its gradebook summary."""
    with tempfile.TemporaryDirectory(prefix=f"grade-{sub.id}-") as tmp:
        st = State(sub=sub, ctx=ctx, work=Path(tmp), fingerprint=fingerprint(ctx, sub))
        try:
            for step in GRADING_STEPS:
                if st.rejected and step is not step_write:
                    continue
                began = time.monotonic()
                try:
                    step(st)
                    if step is not step_write:
                        name = step.__name__.removeprefix("step_")
                        st.timings[name] = round(st.timings.get(name, 0.0) + time.monotonic() - began, 2)
                except Exception as exc:
                    if step is step_write:
                        raise
                    st.internal_error = f"{step.__name__}: {type(exc).__name__}: {exc}"
                    step_stop_worker(st)
                    step_write(st)
                    break
        finally:
            for session in (st.session, st.threshold_session):
                if session is not None:
                    session.close()
        return res.summary_row(st)


def grade_batch(
    ctx: Context,
    submissions: list[Submission],
    jobs: int = 1,
    resume: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Grade submissions with ``jobs`` in parallel; each writes its own result as soon as it is done.

    Returns:
        One summary row per submission, in the order of ``submissions``.
    """
    rows: dict[str, dict[str, Any]] = {}
    todo = []
    for sub in submissions:
        done = res.load_summary(ctx, sub) if resume else None
        if done is not None and done.get("status") != "error" and done.get("fingerprint") == fingerprint(ctx, sub):
            done["resumed"] = True
            rows[sub.id] = done
            if progress:
                progress(done)
        else:
            todo.append(sub)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade_one, ctx, sub): sub for sub in todo}
        for fut in as_completed(futures):
            row = fut.result()
            rows[futures[fut].id] = row
            if progress:
                progress(row)
    return [rows[s.id] for s in submissions]
