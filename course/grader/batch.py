"""`course grade`: find the submissions, set up a batch, show progress, write the gradebook and a summary table."""
from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from course.config import CourseConfig, load_config
from course.corpus import load_course_corpus
from course.errors import UserError
from course.grader import probing
from course.grader.calibration import load_calibration
from course.grader.grade import course_digest, grade_batch
from course.grader.isolation import IsolationLevel, level_name
from course.grader.lab import load_lab
from course.grader.results import atomic_write, late_text, write_gradebook
from course.grader.state import Context, Options
from course.grader.submission import Submission, discover, with_roster
from course.platforms.lms import ArchiveLimits, read_roster


def build_context(cfg: CourseConfig, out: Path, threshold: bool = True, checks: str | None = None,
                  require_isolation: bool = False, cache: bool = True) -> Context:
    """Everything a batch needs, checked before any submission is touched.

    Raises:
        UserError: an unusable corpus, calibration, isolation level or autograder.
    """
    corpus = load_course_corpus(cfg)
    lab = load_lab(cfg)
    calibration = load_calibration(cfg, corpus) if threshold else None
    level = probing.require_isolation(IsolationLevel.BWRAP) if require_isolation else probing.probe_isolation()
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(
        cfg=cfg, lab=lab, corpus=corpus,
        options=Options(threshold=threshold, checks=checks, isolation=level, cache=cache),
        isolation_name=level_name(level), out_dir=out, calibration=calibration,
    )
    ctx.course_digest = course_digest(ctx)  # once per batch: every submission's fingerprint starts from it
    return ctx


def summary_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Grading summary", show_lines=False)
    for col, just in [("submission", "left"), ("score", "right"), ("status", "left"),
                      ("perplexity", "right"), ("seconds", "right"), ("lost points in", "left")]:
        table.add_column(col, justify=just)
    for row in rows:
        ppl = row.get("perplexity")
        ppl_text = "-" if ppl is None else f"{ppl:.2f}" + (" (!)" if row.get("suspicious") else "")
        table.add_row(
            row["id"], f"{row['score']:g}/{row['max_score']:g}",
            row["status"] + (" (kept)" if row.get("resumed") else ""),
            ppl_text, f"{row['seconds']:.1f}", ", ".join(row["failed_exercises"])[:60] or "-",
        )
    return table


def run_grade(paths: list[Path], out: Path, jobs: int = 1, resume: bool = False, require_isolation: bool = False,
              threshold: bool = True, config_path: str | None = None, checks: str | None = None,
              console: Console | None = None, roster: Path | None = None, cache: bool = True,
              config: CourseConfig | None = None) -> int:
    """Grade every student's submission under ``paths`` (files, folders, LMS downloads) into ``out``.

    Args:
        roster: a CSV (id, name, email) whose names and emails fill the gradebook, and against
            which the submissions are checked.
        cache: reuse grader-run trainings under OUT/.cache/threshold/.
        config: the configuration itself (default: read from ``config_path``); tests pass one whose
            exercise split differs from the file's.

    Returns:
        0 when every submission got a result (whatever it scored); 1 when the grader
        itself failed on one; 2 for a usage or configuration problem.
    """
    console = console or Console(stderr=True)
    cfg = config or load_config(config_path)
    if jobs < 1:
        raise UserError("--jobs must be at least 1.")
    people = read_roster(roster) if roster is not None else None
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="course-downloads-") as unpacked:
        submissions = discover(paths, cfg.assignment, notebook=cfg.notebook, timezone=cfg.timezone,
                               limits=archive_limits(cfg), unpack_dir=Path(unpacked), log=notes.append)
        if not submissions:
            raise UserError(f"No .ipynb files found under {', '.join(map(str, paths))}.")
        if people is not None:
            submissions = with_roster(submissions, people, notes.append)
        for line in notes:
            console.print(f"[yellow]{escape(line)}[/yellow]")
        return grade_submissions(cfg, submissions, out, jobs=jobs, resume=resume, require_isolation=require_isolation,
                                 threshold=threshold, checks=checks, console=console, notes=notes, cache=cache)


def archive_limits(cfg: CourseConfig) -> ArchiveLimits:
    """What one downloaded zip may unpack to, from course_config.py."""
    limits = cfg.limits
    return ArchiveLimits(max_bytes=limits.max_archive_bytes, max_members=limits.max_archive_members,
                         max_ratio=limits.max_compression_ratio, max_member_bytes=limits.max_notebook_bytes)


def grade_submissions(cfg: CourseConfig, submissions: list[Submission], out: Path, jobs: int = 1,
                      resume: bool = False, require_isolation: bool = False, threshold: bool = True,
                      checks: str | None = None, console: Console | None = None,
                      notes: list[str] | None = None, cache: bool = True) -> int:
    """Grade submissions already found into ``out``: results, gradebook.csv, submissions.csv, intake.log.

    Returns:
        0 when every submission got a result; 1 when the grader itself failed on one.
    """
    console = console or Console(stderr=True)
    ctx = build_context(cfg, out, threshold=threshold, checks=checks, require_isolation=require_isolation,
                        cache=cache)
    console.print(f"isolation: {probing.describe(ctx.options.isolation)}")
    console.print(ctx.corpus.describe())
    write_intake(out, submissions, notes or [])
    with Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, transient=False) as bar:
        task = bar.add_task("", total=len(submissions))

        def advance(row: dict[str, Any]) -> None:
            bar.update(task, advance=1, description=f"{row['id']}: {row['score']:g}/{row['max_score']:g}")

        rows = grade_batch(ctx, submissions, jobs=jobs, resume=resume, progress=advance)
    write_gradebook(out / "gradebook.csv", cfg, rows)
    console.print(summary_table(rows))
    errors = [r["id"] for r in rows if r["status"] == "error"]
    console.print(f"results in {out}/<submission>/results.json, gradebook in {out / 'gradebook.csv'}")
    if errors:
        console.print(f"[red]the grader failed on {len(errors)} submission(s): {', '.join(errors)}[/red]")
        return 1
    return 0


INTAKE_COLUMNS = ["submission", "student_id", "name", "lms", "timestamp", "attempt", "late", "graded", "origin"]


def write_intake(out: Path, submissions: list[Submission], notes: list[str]) -> None:
    """submissions.csv (every submission found, graded or superseded) and intake.log (what was left out)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=INTAKE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for sub in submissions:
        for item, graded in [(sub, "rejected: " + sub.problem if sub.problem else "yes"),
                             *[(old, f"no: superseded by {sub.origin}") for old in sub.superseded]]:
            writer.writerow({
                "submission": sub.id, "student_id": item.student_id, "name": item.name, "lms": item.lms,
                "timestamp": item.timestamp, "attempt": item.attempt, "late": late_text(item.late),
                "graded": graded, "origin": item.origin,
            })
    atomic_write(out / "submissions.csv", buf.getvalue())
    atomic_write(out / "intake.log", "".join(f"{line}\n" for line in notes))
