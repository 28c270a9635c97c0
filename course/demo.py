"""`course demo`: regenerate the release, grade the solution and the untouched release, write the cohort report."""
from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console

from course.authoring.release import main_release
from course.config import load_config
from course.grader.batch import run_grade
from course.platforms.progress import progress_bar
from course.platforms.report import build_report


def example_submissions(dest: Path) -> list[Path]:
    """Copy the solution and the untouched release under stable names.

    Returns:
        The copied notebook paths (the ids graded are their stems).
    """
    cfg = load_config()
    dest.mkdir(parents=True, exist_ok=True)
    pairs = [(cfg.source_notebook, "solution.ipynb"), (cfg.release_notebook, "untouched-release.ipynb")]
    copied = []
    for src, name in pairs:
        shutil.copyfile(src, dest / name)
        copied.append(dest / name)
    return copied


def main_demo(out: Path, jobs: int = 2) -> int:
    """Release, grade the examples into ``out``, print the summary table and write the cohort report.

    Returns:
        The exit code of the release or of the grading (0 when every submission got a result).
    """
    console = Console()
    console.rule("1. release: source/ -> release/ through nbgrader")
    code = main_release(check=False)
    if code != 0:
        return code
    console.rule("2. grade the example submissions")
    if out.exists():
        shutil.rmtree(out)
    subs = example_submissions(out / "submissions")
    console.print("submissions: " + ", ".join(p.stem for p in subs))
    code = run_grade([out / "submissions"], out / "graded", jobs=jobs, console=console)
    console.rule("3. cohort report: item analysis, diagnosed mistakes, similar pairs")
    with progress_bar(console) as progress:
        report = build_report(out / "graded", out / "graded" / "report", progress)
    console.rule("4. what to look at")
    console.print(f"per-student feedback: {out / 'graded' / 'solution' / 'feedback.md'}")
    console.print(f"gradebook: {out / 'graded' / 'gradebook.csv'}")
    console.print(f"cohort report: {report} (similarity.html beside it)")
    return code
