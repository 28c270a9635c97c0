"""The `course` command: a thin layer over the library's functions."""
# Each subcommand imports its layer when it runs, not at the top: `course check` must start
# on a student's laptop without torch, nbgrader or matplotlib being imported. The instructor's
# commands need the grading environment: `course release` runs nbgrader and checks the
# calibration with the grader's own code, `course calibrate` trains through the grader's.
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from course.config import load_config
from course.errors import UserError


def cmd_release(args: argparse.Namespace) -> int:
    from course.authoring.release import main_release

    return main_release(check=args.check)


def cmd_publish(args: argparse.Namespace) -> int:
    from course.platforms.student_repo import main_publish

    return main_publish(load_config(), Path(args.dest))


def cmd_grade(args: argparse.Namespace) -> int:
    from course.grader.batch import run_grade

    return run_grade(
        paths=[Path(p) for p in args.paths],
        out=Path(args.out),
        jobs=args.jobs,
        resume=args.resume,
        require_isolation=args.require_isolation,
        threshold=not args.no_threshold,
        config_path=args.config,
        roster=Path(args.roster) if args.roster else None,
        cache=not args.no_cache,
    )


def seed_list(text: str) -> tuple[int, ...]:
    """``--seeds``: distinct integers separated by commas, e.g. ``0,1,2``."""
    items = [item.strip() for item in text.split(",")]
    try:
        seeds = tuple(int(item) for item in items)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers (e.g. 0,1,2)") from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r} repeats a seed; give each seed once (e.g. 0,1,2)")
    return seeds


def cmd_calibrate(args: argparse.Namespace) -> int:
    from course.authoring.calibrate import main_calibrate

    return main_calibrate(seeds=args.seeds, jobs=args.jobs, out=Path(args.out) if args.out else None)


def cmd_report(args: argparse.Namespace) -> int:
    from course.platforms.report import main_report

    return main_report(Path(args.dir), out=Path(args.out) if args.out else None)


def cmd_similarity(args: argparse.Namespace) -> int:
    from course.platforms.similarity import main_similarity

    return main_similarity(Path(args.dir), out=Path(args.out) if args.out else None)


def cmd_gradescope(args: argparse.Namespace) -> int:
    from course.platforms.gradescope import main_gradescope, run_autograder

    if args.run_in:
        return run_autograder(Path(args.run_in))
    return main_gradescope(Path(args.out))


def cmd_export(args: argparse.Namespace) -> int:
    from course.platforms.nbgrader_export import main_export

    return main_export(Path(args.dir), course_dir=Path(args.course_dir) if args.course_dir else None)


def cmd_check(args: argparse.Namespace) -> int:
    from course.authoring.contract import build_contract
    from course.student.selfcheck import main_check

    return main_check(Path(args.notebook), build_contract(load_config()))


def cmd_demo(args: argparse.Namespace) -> int:
    from course.demo import main_demo

    return main_demo(Path(args.out), jobs=args.jobs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course",
                                     description="DLAI RNN lab: release, grade, calibrate, report, similarity.")
    parser.add_argument("--config", default=None, help="course_config.py to use (default: the repository's)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("release", help="regenerate release/ from source/ through nbgrader and verify it")
    p.add_argument("--check", action="store_true", help="only check that the committed release is up to date")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("publish", help="copy release/<assignment>/ into a checkout of the student repository")
    p.add_argument("dest", help="the student repository's working tree (a clone of STUDENT_REPO)")
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("grade", help="grade submitted notebooks into results.json, feedback.md and a gradebook")
    p.add_argument("paths", nargs="+", help="submitted .ipynb files, folders, or LMS downloads as downloaded "
                   "(Moodle or Canvas .zip, Gradescope export, nbgrader's submitted/)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel (default 1)")
    p.add_argument("--resume", action="store_true", help="keep results already in --out for unchanged submissions")
    p.add_argument("--require-isolation", action="store_true", help="refuse to grade below full (bubblewrap) isolation")
    p.add_argument("--no-threshold", action="store_true", help="skip the grader-run training (its check then fails)")
    p.add_argument("--roster", default=None, metavar="CSV",
                   help="students (columns id, name, email): fills names and emails, lists who is missing")
    p.add_argument("--no-cache", action="store_true",
                   help="train every submission again instead of reusing OUT/.cache/threshold/")
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("calibrate", help="train the calibration families, choose the recipe and the threshold")
    p.add_argument("--seeds", type=seed_list, default=None,
                   help="comma-separated seeds (default: CALIBRATION_SEEDS; others need --out elsewhere)")
    p.add_argument("--jobs", type=int, default=1, help="training processes side by side, one thread each (default 1)")
    p.add_argument("--out", default=None,
                   help="a file, or a folder to write calibration.json into (default: autograder/<assignment>/)")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("report", help="cohort report (HTML and PNG plots) of a grading output folder")
    p.add_argument("dir", help="a `course grade --out` folder")
    p.add_argument("--out", default=None, help="report folder (default: DIR/report)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("similarity", help="pairs of submissions sharing normalised code, listed for review")
    p.add_argument("dir", help="a `course grade --out` folder (its answers.json), or a folder of submitted notebooks")
    p.add_argument("--out", default=None, help="folder for similarity.html and similarity.json (default: DIR/report)")
    p.set_defaults(func=cmd_similarity)

    p = sub.add_parser("gradescope", help="build the Gradescope autograder bundle")
    p.add_argument("--out", default="autograder.zip", help="zip file to write")
    p.add_argument("--run-in", default=None, metavar="ROOT",
                   help="grade ROOT/submission into ROOT/results (what the bundle's run_autograder calls)")
    p.set_defaults(func=cmd_gradescope)

    p = sub.add_parser("export", help="write autograded scores into nbgrader's gradebook")
    p.add_argument("dir", help="a `course grade --out` folder")
    p.add_argument("--course-dir", default=None, help="nbgrader course directory (default: the repository)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("check", help="student self-check: is this notebook gradable?")
    p.add_argument("notebook", help="your lab_rnn.ipynb")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("demo", help="release, then grade the bundled example submissions and summarise")
    p.add_argument("--out", default="demo-out", help="output folder (default: demo-out)")
    p.add_argument("--jobs", type=int, default=2, help="submissions graded in parallel (default 2)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.config:
        os.environ["COURSE_CONFIG"] = str(Path(args.config).resolve())
    try:
        load_config()  # fail early, with a clear message, on a broken configuration
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"course {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted_message(args.command), file=sys.stderr)
        return 130


def interrupted_message(command: str) -> str:
    """What Ctrl-C leaves: `course grade` keeps the submissions it finished, the other commands nothing to resume."""
    if command == "grade":
        return "course grade: interrupted; results written so far are kept (rerun with --resume)"
    return f"course {command}: interrupted"
