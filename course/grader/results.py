"""Write a submission's results.json (Gradescope schema), feedback.md and the batch gradebook."""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from course.config import CourseConfig
from course.grader.state import Context, State
from course.grader.submission import Submission
from course.grader.training_plot import PLOT_NAME, training_picture
from course.modes import OPTIONAL
from course.platforms.lms import split_name

OUT_OF_TIME = "Not run: the submission used up its total time limit ({s:.0f} s). Look for slow or endless loops."
GRADEBOOK_COLUMNS = [  # nbgrader's `export` columns, then ours
    "assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
    "raw_score", "late_submission_penalty", "score", "max_score", "status", "name", "late", "lms", "submission",
]
SUBMITTED_COPY = "submission.ipynb"  # the notebook as graded, beside results.json (formgrader shows it)
MAX_OUTPUT_IN_FEEDBACK = 4_000  # characters of the student's own printed output shown back
ANSWERS_NAME = "answers.json"  # the graded answer cells, beside results.json (read by `course similarity`)
ANSWERS_FORMAT = 1


def atomic_write(path: Path, text: str | bytes) -> None:
    """Write a file (text as UTF-8, or bytes) so that a reader (or a killed grader) never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        if isinstance(text, bytes):
            with os.fdopen(fd, "wb") as fh:
                fh.write(text)
        else:
            with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as fh:
                fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are read by other users and tools
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _visibility(ctx: Context, check: dict[str, Any]) -> str:
    return check.get("visibility") or ctx.cfg.hidden_check_visibility


def _cell_errors(st: State) -> list[str]:
    lines = []
    missing = set(st.assembly.missing) if st.assembly else set()  # already explained by the assembler
    for rep in st.cell_reports:
        if rep.status != "ok" and rep.cell_id not in missing:
            lines.append(f"Cell `{rep.cell_id}` raised an error: {rep.message}")
    return lines


def notebook_order(checks: list[dict[str, Any]], exercises: list[str]) -> list[dict[str, Any]]:
    """The checks sorted by the notebook position of the exercise they grade (their first tag).

    Args:
        checks: the plugin's check records, in check-file order.
        exercises: the exercises in notebook order (POINTS order); ``threshold`` always goes last.

    Returns:
        A new list: exercise by exercise, each exercise's checks in their file order, checks of an
        unknown exercise after the known ones, the perplexity threshold last.
    """
    rank = {name: i for i, name in enumerate(e for e in exercises if e != "threshold")}
    last = len(rank) + 1

    def key(check: dict[str, Any]) -> int:
        tag = check["tags"][0] if check.get("tags") else ""
        return last if tag == "threshold" else rank.get(tag, len(rank))

    return sorted(checks, key=key)  # stable: the file order within an exercise is kept


def build_results(st: State) -> dict[str, Any]:
    """The Gradescope results.json dict for one graded (or rejected) submission (tests in notebook order)."""
    ctx = st.ctx
    max_auto = float(ctx.cfg.autograded_points)
    tests = []
    for number, check in enumerate(notebook_order(st.checks, list(ctx.cfg.points)), start=1):
        tests.append({
            "name": check["name"],
            "number": str(number),
            "score": check["points"] if check["passed"] else 0.0,
            "max_score": check["points"],
            "status": "passed" if check["passed"] else "failed",
            "output": " ".join([check["message"] or "Passed.", *check.get("flags", [])]),
            "visibility": _visibility(ctx, check),
            "tags": check["tags"],
        })
        if check.get("mode") == OPTIONAL:  # homework: reported, worth 0 (its weight kept for the record)
            tests[-1]["extra_data"] = {"mode": OPTIONAL, "weight": check.get("weight", 0.0)}
    score = round(sum(t["score"] for t in tests), 4)
    notes: list[str] = []
    status = "graded"
    if st.rejected:
        status, notes = "rejected", [st.rejected]
    elif st.internal_error:
        status = "error"
        notes.append("The grader failed on this submission; it will be graded again. This is not your mistake.")
    if st.assembly:
        notes.extend(st.assembly.notes)
    notes.extend(_cell_errors(st))
    if ctx.cfg.manual_points:
        notes.append(f"{ctx.cfg.manual_points} more points (written answers) are graded by hand.")
    threshold = st.threshold or {}
    flags = [flag for check in st.checks for flag in check.get("flags", [])]
    extra = {
        "flags": flags,
        "submission_id": st.sub.id,
        "student_id": st.sub.student_id,
        "student_name": st.sub.name,
        "lms": st.sub.lms,
        "timestamp": st.sub.timestamp,
        "status": status,
        "isolation": ctx.isolation_name,
        "max_autograded": max_auto,
        "manual_points_pending": ctx.cfg.manual_points,
        "perplexity": threshold.get("perplexity"),
        "suspicious": bool(threshold.get("suspicious", False)),
        "threshold_steps": threshold.get("steps_taken"),
        "threshold_recipe": threshold.get("recipe"),
        "threshold_cache": threshold.get("cache"),
        "threshold_seconds": {"train": threshold.get("train_seconds"), "heldout": threshold.get("heldout_seconds")},
        "training_curve": threshold.get("training_curve"),
        "timings": dict(st.timings),
        "probes_timed_out": dict(st.timed_out),
        "fingerprint": st.fingerprint,
    }
    if st.internal_error:
        extra["internal_error"] = st.internal_error[-2000:]
    return {
        "score": score,
        "execution_time": round(time_spent(st), 2),
        "output": "\n\n".join(notes),
        "output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": extra,
    }


def time_spent(st: State) -> float:
    return time.monotonic() - st.started


def _optional(test: dict[str, Any]) -> bool:
    extra = test.get("extra_data")
    return isinstance(extra, dict) and extra.get("mode") == OPTIONAL


def feedback_markdown(results: dict[str, Any], output: str, order: list[str] | None = None) -> str:
    """Readable feedback for the student, built from results.json only.

    Args:
        results: the results.json dict.
        output: the student's captured output (its tail is shown).
        order: exercises in notebook order (the table follows it; others come last).
    """
    extra = results["extra_data"]
    lines = [
        f"# Feedback for {extra.get('student_name') or extra['submission_id']}",
        "",
        f"**Autograded score: {results['score']:g} / {extra['max_autograded']:g}**",
        "",
    ]
    if results["output"]:
        lines += [results["output"], ""]
    by_exercise: dict[str, list[dict[str, Any]]] = {}
    for test in results["tests"]:
        key = test["tags"][0] if test["tags"] else "other"
        by_exercise.setdefault(key, []).append(test)
    if by_exercise:
        rank = {key: i for i, key in enumerate(order or [])}
        lines += ["| exercise | score | checks passed |", "|---|---|---|"]
        for key, tests in sorted(by_exercise.items(), key=lambda kv: rank.get(kv[0], len(rank))):
            got = sum(t["score"] for t in tests)
            top = sum(t["max_score"] for t in tests)
            passed = sum(t["status"] == "passed" for t in tests)
            score = "homework, not counted" if all(_optional(t) for t in tests) else f"{got:g} / {top:g}"
            lines.append(f"| `{key}` | {score} | {passed} / {len(tests)} |")
        lines.append("")
    failed = [t for t in results["tests"] if t["status"] != "passed"]
    if failed:
        lines += ["## What to fix", ""]
        for test in failed:
            worth = "homework" if _optional(test) else f"{test['max_score']:g} pts"
            lines.append(f"- **{test['name']}** ({worth}): {test['output']}")
        lines.append("")
    if extra.get("perplexity") is not None:
        lines += [f"Held-out perplexity of your model trained by the grader: {extra['perplexity']:.3f}", ""]
    if extra.get("training_plot"):
        lines += ["## How your model learned", "",
                  f"![Your model's training loss over the grader's steps, next to the reference runs]"
                  f"({extra['training_plot']})", ""]
        if extra.get("training_summary"):
            lines += [extra["training_summary"], ""]
    if output.strip():
        shown = output[-MAX_OUTPUT_IN_FEEDBACK:]
        lines += ["## Your notebook's output (last lines)", "", "```", shown.rstrip(), "```", ""]
    return "\n".join(lines)


def answers_record(st: State) -> dict[str, Any]:
    """What answers.json holds: the answer cells as the grader assembled them (read from the file, never the worker).

    Args:
        st: the submission's state after assembling.

    Returns:
        {format, submission_id, student_id, answers: grade_id -> source ('' for a missing cell)}.
    """
    return {"format": ANSWERS_FORMAT, "submission_id": st.sub.id, "student_id": st.sub.student_id,
            "answers": dict(st.assembly.answers) if st.assembly else {}}


def add_training_picture(st: State, results: dict[str, Any], folder: Path) -> None:
    """Write OUT/<id>/training.png from the grader-run training and link it from results (when there is a curve).

    Runs in the trusted grader after the worker is dead; a picture that cannot be drawn costs only the picture.

    Args:
        st: the submission's state (its grader-run training result).
        results: the results.json dict, given ``training_plot`` and ``training_summary`` when drawn.
        folder: the submission's output folder.
    """
    try:
        picture = training_picture(st.threshold or None, st.ctx.cfg.calibration_path)
    except Exception as exc:  # the picture is a courtesy: it never costs the result
        results["extra_data"]["training_plot_error"] = f"{type(exc).__name__}: {exc}"[:300]
        picture = None
    if picture is None:
        (folder / PLOT_NAME).unlink(missing_ok=True)  # no stale picture of an earlier grading
        return
    atomic_write(folder / PLOT_NAME, picture.png)
    results["extra_data"].update(training_plot=PLOT_NAME, training_summary=picture.summary)


def write_submission(st: State) -> None:
    """OUT/<id>/answers.json, the notebook as graded, training.png (when there is a training curve), feedback.md
    and results.json.

    Each is written atomically; results.json comes last and marks the result complete.
    """
    results = build_results(st)
    folder = st.ctx.out_dir / st.sub.id
    folder.mkdir(parents=True, exist_ok=True)
    if st.assembly is not None:
        atomic_write(folder / ANSWERS_NAME, json.dumps(answers_record(st), indent=1) + "\n")
    else:
        (folder / ANSWERS_NAME).unlink(missing_ok=True)
    if st.notebook is not None:  # what was read and graded, for formgrader (`course export`)
        atomic_write(folder / SUBMITTED_COPY, json.dumps(st.notebook, indent=1, ensure_ascii=False) + "\n")
    else:
        (folder / SUBMITTED_COPY).unlink(missing_ok=True)  # a rejected regrade exports no earlier notebook
    add_training_picture(st, results, folder)
    atomic_write(folder / "feedback.md", feedback_markdown(results, st.output, order=list(st.ctx.cfg.points)))
    atomic_write(folder / "results.json", json.dumps(results, indent=1) + "\n")  # last: marks the result complete
    st.result = results


def summary_row(st: State) -> dict[str, Any]:
    results = st.result or build_results(st)
    return _row(st.sub, results)


def _row(sub: Submission, results: dict[str, Any]) -> dict[str, Any]:
    extra = results.get("extra_data", {})
    failed = [t["tags"][0] for t in results.get("tests", [])
              if t["status"] != "passed" and t.get("tags") and not _optional(t)]  # homework loses no points
    return {
        "id": sub.id,
        "student_id": sub.student_id,
        "timestamp": sub.timestamp,
        "name": sub.name,
        "email": sub.email,
        "lms": sub.lms,
        "late": sub.late,
        "score": results["score"],
        "max_score": extra.get("max_autograded", 0.0),
        "status": extra.get("status", "graded"),
        "perplexity": extra.get("perplexity"),
        "suspicious": extra.get("suspicious", False),
        "seconds": results.get("execution_time", 0.0),
        "failed_exercises": sorted(set(failed)),
        "fingerprint": extra.get("fingerprint", ""),
        "isolation": extra.get("isolation", ""),
    }


def load_summary(ctx: Context, sub: Submission) -> dict[str, Any] | None:
    """The row of an earlier complete result for this submission, or None."""
    path = ctx.out_dir / sub.id / "results.json"
    try:
        results = json.loads(path.read_text())
        return _row(sub, results)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def late_text(late: bool | None) -> str:
    """The gradebook's late column: yes, no, or empty when the LMS does not say."""
    return "" if late is None else ("yes" if late else "no")


def write_gradebook(path: Path, cfg: CourseConfig, rows: list[dict[str, Any]]) -> None:
    """gradebook.csv (UTF-8): one row per student, nbgrader's export columns, then status, the student's
    full name, the LMS's late flag, the LMS and the result folder."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=GRADEBOOK_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: (r["student_id"], r.get("id", ""))):
        name = row.get("name") or ""
        first, last = split_name(name)  # one word (Canvas's "smithbob") is not split
        writer.writerow({
            "assignment": cfg.assignment,
            "duedate": cfg.duedate.isoformat(),
            "timestamp": row["timestamp"],
            "student_id": row["student_id"],
            "last_name": last,
            "first_name": first,
            "email": row.get("email") or "",
            "raw_score": f"{row['score']:g}",
            "late_submission_penalty": "0",
            "score": f"{row['score']:g}",
            "max_score": f"{row['max_score']:g}",
            "status": row["status"],
            "name": name,
            "late": late_text(row.get("late")),
            "lms": row.get("lms") or "",
            "submission": row.get("id", ""),
        })
    atomic_write(path, buf.getvalue())
