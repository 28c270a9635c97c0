"""Cohort report of a grading folder: one self-contained report.html, its PNG plots and the similarity page."""
from __future__ import annotations

import base64
import csv
import html
import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib import colormaps
from matplotlib.figure import Figure

from course.config import load_config
from course.errors import UserError
from course.grader.results import atomic_write
from course.platforms import itemanalysis, mistakes, similarity
from course.platforms.progress import progress_bar

# Stable output names: a new report overwrites the previous one.
REPORT_HTML = "report.html"
PLOTS = {
    "scores": "score_histogram.png",
    "checks": "check_pass_rates.png",
    "items": "item_analysis.png",
    "mistakes": "mistakes.png",
    "perplexity": "perplexity.png",
    "time": "grading_time.png",
}
OUTPUTS = [REPORT_HTML, *PLOTS.values(), similarity.SIMILARITY_HTML, similarity.SIMILARITY_JSON]
TOP_FAILURES = 15  # rows in the table of most frequent failure messages
MAX_MESSAGE_CHARS = 300  # longer failure messages are cut in the table
STATUS_COLORS = {"graded": "#4c72b0", "rejected": "#dd8452", "error": "#c44e52"}
TIME_BARS_UP_TO = 60  # above this many submissions, grading times are a histogram
MISTAKE_CHECKS = 20  # checks drawn in the mistakes plot (those most students failed)
CATEGORIES_SHOWN = 5  # categories per check in the plot and the table; the others are summed as "other"
PAIRS_IN_REPORT = 10  # similar pairs listed in report.html (similarity.html lists more)
FEW_FOR_STATISTICS = 20  # below this many graded submissions, the report says discrimination is noisy
Progress = similarity.Progress


@dataclass
class Cohort:
    """What the report shows, read from a grading folder.

    Attributes:
        rows: gradebook.csv rows (the official numbers).
        results: student_id -> that submission's results.json.
        notes: problems noticed while reading (shown in the report).
    """

    rows: list[dict[str, str]]
    results: dict[str, dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def scores(self) -> list[float]:
        return [float(r["score"]) for r in self.rows]


@dataclass
class CheckRate:
    """Pass rate of one check over the submissions that ran it."""

    exercise: str
    name: str
    passed: int
    total: int

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0


# --- reading -------------------------------------------------------------------------


def read_cohort(folder: Path, progress: Progress | None = None) -> Cohort:
    """Read gradebook.csv and every <id>/results.json of a `course grade --out` folder.

    Args:
        folder: the grading output folder.
        progress: called as (stage, done, total) while reading.

    Raises:
        UserError: the folder is not a grading output folder.
    """
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder: pass the --out folder of `course grade`.")
    gradebook = folder / "gradebook.csv"
    result_files = sorted(folder.glob("*/results.json"))
    if not gradebook.is_file():
        if result_files:
            raise UserError(f"{folder} has results but no gradebook.csv: grading did not finish. "
                            f"Run `course grade ... --out {folder} --resume` to complete it.")
        raise UserError(f"{folder} is not a grading folder (no gradebook.csv, no <submission>/results.json): "
                        "pass the --out folder of `course grade`.")
    with gradebook.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"student_id", "score", "max_score", "status"} - set(reader.fieldnames or [])
        if missing:
            raise UserError(f"{gradebook} lacks the column(s) {', '.join(sorted(missing))}: "
                            "it was not written by `course grade`.")
        rows = list(reader)
    if not rows:
        raise UserError(f"{gradebook} lists no submissions: nothing to report.")
    cohort = Cohort(rows=rows, results={})
    for done, path in enumerate(result_files, start=1):
        if progress:
            progress("reading results", done, len(result_files))
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
            student = results.get("extra_data", {}).get("student_id") or path.parent.name
        except (OSError, ValueError, AttributeError) as exc:
            cohort.notes.append(f"{path.parent.name}/results.json could not be read ({exc}); it is left out.")
            continue
        cohort.results[str(student)] = results
    listed = {r["student_id"] for r in rows}
    for student in sorted(set(cohort.results) - listed):
        cohort.notes.append(f"{student} has a results.json but no gradebook row; "
                            "its checks are counted, its score is not.")
    for student in sorted(listed - set(cohort.results)):
        cohort.notes.append(f"{student} is in the gradebook but has no results.json; its checks are not counted.")
    return cohort


def read_threshold(cfg) -> tuple[float | None, str]:
    """The calibrated perplexity threshold and a sentence saying where it came from."""
    path = cfg.calibration_path
    if not path.is_file():
        return None, f"No calibration at {path}: run `course calibrate` to set the threshold."
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("threshold")
    except (OSError, ValueError, AttributeError) as exc:
        return None, f"{path} could not be read ({exc})."
    if not isinstance(value, (int, float)):
        return None, f"{path} holds no numeric 'threshold'."
    return float(value), f"threshold {value:.3f} from {path.name}"


# --- numbers -------------------------------------------------------------------------


def headline(cohort: Cohort) -> dict[str, Any]:
    """The numbers at the top of the report; scores and statuses come from the gradebook."""
    scores = cohort.scores()
    full = sum(float(r["score"]) >= float(r["max_score"]) > 0 for r in cohort.rows)
    statuses = Counter(r["status"] for r in cohort.rows)
    return {
        "count": len(scores),
        "max_score": max(float(r["max_score"]) for r in cohort.rows),
        "mean": statistics.fmean(scores),
        "median": statistics.median(scores),
        "full_marks": full,
        "rejected": statuses.get("rejected", 0),
        "errors": statuses.get("error", 0),
        "suspicious": sum(bool(r.get("extra_data", {}).get("suspicious")) for r in cohort.results.values()),
    }


def check_rates(cohort: Cohort, exercise_order: list[str] = ()) -> list[CheckRate]:
    """Pass rate per check (by name), grouped by exercise.

    Args:
        exercise_order: exercises in the lab's order (others follow in the order they first appear).
    """
    rates: dict[tuple[str, str], CheckRate] = {}
    for results in cohort.results.values():
        for test in results.get("tests", []):
            exercise = test["tags"][0] if test.get("tags") else "other"
            key = (exercise, test["name"])
            rate = rates.setdefault(key, CheckRate(exercise, test["name"], 0, 0))
            rate.total += 1
            rate.passed += test.get("status") == "passed"
    order = list(dict.fromkeys([*exercise_order, *(k[0] for k in rates)]))
    return sorted(rates.values(), key=lambda r: order.index(r.exercise))


def frequent_failures(cohort: Cohort, top: int = TOP_FAILURES) -> list[tuple[str, int, list[str]]]:
    """The most frequent failure messages: (message, submissions, checks where it appeared)."""
    count: Counter[str] = Counter()
    where: dict[str, list[str]] = {}
    for results in cohort.results.values():
        seen = set()
        messages = [(t.get("output", ""), t["name"]) for t in results.get("tests", []) if t.get("status") != "passed"]
        if results.get("extra_data", {}).get("status") == "rejected":
            messages.append((results.get("output", ""), "(file rejected)"))
        for message, check in messages:
            message = " ".join(str(message).split())[:MAX_MESSAGE_CHARS] or "(no message)"
            if message not in seen:
                seen.add(message)
                count[message] += 1
            where.setdefault(message, [])
            if check not in where[message]:
                where[message].append(check)
    return [(m, n, where[m]) for m, n in count.most_common(top)]


# --- plots ---------------------------------------------------------------------------


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=100, metadata={"Software": None})


def plot_scores(cohort: Cohort, numbers: dict[str, Any], path: Path) -> None:
    fig = Figure(figsize=(7, 3.5), layout="constrained")
    ax = fig.add_subplot()
    top = numbers["max_score"]
    bins = [top * i / 20 for i in range(21)]
    ax.hist(cohort.scores(), bins=bins, color=STATUS_COLORS["graded"], edgecolor="white")
    ax.axvline(numbers["mean"], color="black", linestyle="--", label=f"mean {numbers['mean']:.1f}")
    ax.axvline(numbers["median"], color="gray", linestyle=":", label=f"median {numbers['median']:.1f}")
    ax.set(xlabel=f"autograded score (out of {top:g})", ylabel="submissions", xlim=(0, top), title="Scores")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend()
    _save(fig, path)


def _check_label(exercise: str, name: str) -> str:
    """A check's name for an axis: prefixed by its exercise unless it starts with it, cut at 70 characters."""
    label = name if name.startswith(exercise) else f"{exercise}: {name}"
    return label if len(label) <= 70 else label[:67] + "..."


def plot_checks(rates: list[CheckRate], path: Path) -> None:
    fig = Figure(figsize=(9, 1.2 + 0.22 * max(1, len(rates))), layout="constrained")
    ax = fig.add_subplot()
    exercises = list(dict.fromkeys(r.exercise for r in rates))
    palette = colormaps["tab20"]
    colors = {ex: palette(i % 20) for i, ex in enumerate(exercises)}
    y = list(range(len(rates)))[::-1]  # first check at the top
    ax.barh(y, [100 * r.rate for r in rates], color=[colors[r.exercise] for r in rates])
    ax.set_yticks(y, [_check_label(r.exercise, r.name) for r in rates], fontsize=7)
    ax.set(xlim=(0, 100), ylim=(-0.7, len(rates) - 0.3), xlabel="submissions passing (%)",
           title="Pass rate per check, grouped by exercise")
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)


def plot_perplexity(cohort: Cohort, threshold: float | None, suspicious: float, path: Path) -> None:
    points = sorted((r["extra_data"]["perplexity"], s) for s, r in cohort.results.items()
                    if isinstance(r.get("extra_data", {}).get("perplexity"), (int, float)))
    fig = Figure(figsize=(7, 3.5), layout="constrained")
    ax = fig.add_subplot()
    values = [p for p, _ in points]
    if values:
        above = [threshold is not None and v > threshold for v in values]
        ax.scatter(range(len(values)), values, zorder=3, label="submissions (red: above the threshold)",
                   color=[STATUS_COLORS["error"] if a else STATUS_COLORS["graded"] for a in above])
        ax.xaxis.get_major_locator().set_params(integer=True)
    else:
        ax.text(0.35, 0.5, "no perplexity in these results\n(graded with --no-threshold?)", transform=ax.transAxes,
                ha="center", va="center", color="gray")
        ax.set_xticks([])
    if threshold is not None:
        ax.axhline(threshold, color="#c44e52", linestyle="--", label=f"threshold {threshold:.2f}")
    ax.axhline(suspicious, color="#8172b3", linestyle=":", label=f"suspicious below {suspicious:.2f}")
    if values and max(values) / max(min(values), 1e-9) > 20:
        ax.set_yscale("log")
    missing = len(cohort.results) - len(values)
    ax.set(xlabel="submissions, sorted" + (f" ({missing} without a perplexity)" if missing else ""),
           ylabel="held-out perplexity", title="Perplexity reached by the grader-trained model (lower is better)")
    ax.legend()
    _save(fig, path)


def plot_time(cohort: Cohort, path: Path) -> None:
    items = sorted(cohort.results.items())
    if len(items) > TIME_BARS_UP_TO:  # one bar each would not fit: the distribution instead
        fig = Figure(figsize=(7, 3.5), layout="constrained")
        ax = fig.add_subplot()
        for status in STATUS_COLORS:
            seconds = [float(r.get("execution_time", 0.0)) for _, r in items
                       if r.get("extra_data", {}).get("status", "graded") == status]
            if seconds:
                ax.hist(seconds, bins=40, color=STATUS_COLORS[status], alpha=0.8, label=f"{status} ({len(seconds)})")
        ax.set(xlabel="seconds", ylabel="submissions", title="Grading time per submission")
        ax.legend()
        _save(fig, path)
        return
    fig = Figure(figsize=(7, 1.5 + 0.18 * max(1, len(items))), layout="constrained")
    ax = fig.add_subplot()
    y = list(range(len(items)))[::-1]
    status = [r.get("extra_data", {}).get("status", "graded") for _, r in items]
    ax.barh(y, [float(r.get("execution_time", 0.0)) for _, r in items],
            color=[STATUS_COLORS.get(s, "gray") for s in status])
    ax.set_yticks(y, [s[:30] for s, _ in items], fontsize=7)
    ax.set(xlabel="seconds", title="Grading time per submission (orange: rejected, red: grader error)")
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)


def plot_items(checks: list[itemanalysis.Item], path: Path) -> None:
    """Each check as a point: difficulty (share with full marks) against discrimination; flagged ones in red.

    Args:
        checks: the checks' statistics, numbered from 1 as in the report's table.
        path: the PNG to write.
    """
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.axhspan(-1.05, 0, color="#fbe3e4", zorder=0)
    ax.axhline(0.2, color="gray", linestyle=":", linewidth=1, label="r = 0.2 (weak below)")
    for number, item in enumerate(checks, start=1):
        r = 0.0 if item.r is None else item.r
        flagged = bool(item.flags)
        ax.scatter([item.difficulty], [r], zorder=3, s=30, color=STATUS_COLORS["error"] if flagged else
                   STATUS_COLORS["graded"], marker="o" if item.r is not None else "x")
        ax.annotate(str(number), (item.difficulty, r), xytext=(3, 3), textcoords="offset points", fontsize=7)
    ax.set(xlim=(-0.05, 1.05), ylim=(-1.05, 1.05), xlabel="difficulty: share of submissions with full marks",
           ylabel="discrimination r (with the rest of the score)",
           title="Checks (numbered as in the table; red: flagged, x: r undefined)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    _save(fig, path)


def plot_mistakes(found: list[mistakes.CheckMistakes], path: Path) -> None:
    """The checks most submissions failed, each bar split into its diagnosed mistakes (A, B, ... as in the tables).

    Args:
        found: every failed check's mistakes.
        path: the PNG to write.
    """
    shown = sorted(found, key=lambda m: -m.failed)[:MISTAKE_CHECKS]
    fig = Figure(figsize=(9, 1.3 + 0.3 * max(1, len(shown))), layout="constrained")
    ax = fig.add_subplot()
    palette = colormaps["Set2"]
    y = list(range(len(shown)))[::-1]
    for row, check in zip(y, shown):
        left = 0
        counts = [len(c.students) for c in check.categories[:CATEGORIES_SHOWN]]
        counts.append(sum(len(c.students) for c in check.categories[CATEGORIES_SHOWN:]))
        for i, count in enumerate(counts):
            if not count:
                continue
            last = i == len(counts) - 1
            ax.barh(row, count, left=left, color="#cccccc" if last else palette(i % 8), edgecolor="white")
            if count >= max(1, 0.04 * max(m.failed for m in shown)):
                ax.text(left + count / 2, row, "other" if last else chr(ord("A") + i), ha="center", va="center",
                        fontsize=7)
            left += count
    ax.set_yticks(y, [_check_label(m.exercise, m.name) for m in shown], fontsize=7)
    ax.set(xlabel="submissions failing the check, by diagnosed mistake",
           title="Diagnosed mistakes of the most failed checks")
    ax.xaxis.get_major_locator().set_params(integer=True)
    if not shown:
        ax.text(0.5, 0.5, "no check failed", transform=ax.transAxes, ha="center", va="center", color="gray")
        ax.set_yticks([])
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)


# --- HTML ----------------------------------------------------------------------------

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 960px; color: #222; }
h1 { margin-bottom: 0.2em; } .sub { color: #666; margin-top: 0; }
.stats { display: flex; flex-wrap: wrap; gap: 0.8em; margin: 1.2em 0; }
.stat { border: 1px solid #ddd; border-radius: 6px; padding: 0.5em 1em; min-width: 7em; }
.stat .value { font-size: 1.6em; font-weight: 600; display: block; } .stat .label { color: #666; font-size: 0.85em; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #eee; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; } .note { color: #8a5a00; } .sub { color: #666; }
tr[data-flags]:not([data-flags=""]) td { background: #fdf0f0; } td.flag { color: #a12622; }
details.exercise > summary { cursor: pointer; font-weight: 600; margin: 0.6em 0; }
"""


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _stat(key: str, value: str, label: str) -> str:
    return (f'<div class="stat" data-key="{key}"><span class="value">{html.escape(value)}</span>'
            f'<span class="label">{html.escape(label)}</span></div>')


@dataclass
class Analysis:
    """What the report adds beyond the pass rates: item statistics, diagnosed mistakes, similar pairs."""

    exercises: list[itemanalysis.Item]
    checks: list[itemanalysis.Item]
    mistakes: list[mistakes.CheckMistakes]
    answers: similarity.AnswerSet
    ranking: similarity.Ranking


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "&ndash;" if value is None else format(value, spec)


def _flags(item: itemanalysis.Item) -> str:
    return "; ".join(itemanalysis.FLAGS[f] for f in item.flags)


def items_section(analysis: Analysis, plots: dict[str, Path]) -> list[str]:
    """Item analysis: a table of exercises, the item map, a table of checks; flagged items named first.

    Args:
        analysis: the statistics.
        plots: the PNG paths by key.

    Returns:
        HTML lines.
    """
    e = html.escape
    checks = analysis.checks
    n = max((c.n for c in checks), default=0)
    flagged = [c for c in checks if c.flags]
    parts = ["<h2>Item analysis</h2>",
             f"<p>Over the {n} graded submissions (rejected files and grader errors are left out). "
             "<b>Difficulty</b>: the share of submissions with full marks. <b>r</b>: the correlation of the item's "
             "score with the rest of the autograded score (for a check, the point-biserial correlation); "
             "<b>D</b>: the mean item score of the 27 % best minus that of the 27 % worst submissions on the rest "
             "of the score. An item everyone passes tells no one apart; one with a negative r rewards those who do "
             "worse elsewhere: both are flagged.</p>"]
    if n < FEW_FOR_STATISTICS:
        parts.append(f'<p class="note">With {n} graded submissions, r and D are noisy: read them as hints.</p>')
    parts.append(f'<p id="flag-summary">{len(flagged)} of {len(checks)} checks flagged'
                 + (": " + ", ".join(f"#{checks.index(c) + 1} {e(c.name)}" for c in flagged[:12])
                    + (" ..." if len(flagged) > 12 else "") if flagged else "") + ".</p>")
    parts += ['<table id="item-exercises"><tr><th>exercise</th><th>points</th><th>full marks</th>'
              "<th>difficulty</th><th>mean score</th><th>r</th><th>D</th><th>flag</th></tr>"]
    for item in analysis.exercises:
        parts.append(f'<tr data-exercise="{e(item.exercise)}" data-flags="{" ".join(item.flags)}">'
                     f"<td><code>{e(item.name)}</code></td><td class=\"num\">{item.points:g}</td>"
                     f'<td class="num">{item.full}/{item.n}</td><td class="num">{item.difficulty:.2f}</td>'
                     f'<td class="num">{100 * item.mean_fraction:.0f}%</td><td class="num">{_fmt(item.r)}</td>'
                     f'<td class="num">{_fmt(item.d)}</td><td class="flag">{e(_flags(item))}</td></tr>')
    parts += ["</table>", _img(plots["items"], "difficulty against discrimination of each check"),
              '<table id="item-checks"><tr><th>#</th><th>exercise</th><th>check</th><th>points</th>'
              "<th>difficulty</th><th>r</th><th>D</th><th>flag</th></tr>"]
    for number, item in enumerate(checks, start=1):
        parts.append(f'<tr data-check="{e(item.name)}" data-flags="{" ".join(item.flags)}">'
                     f'<td class="num">{number}</td><td>{e(item.exercise)}</td><td>{e(item.name)}</td>'
                     f'<td class="num">{item.points:g}</td><td class="num">{item.difficulty:.2f}</td>'
                     f'<td class="num">{_fmt(item.r)}</td><td class="num">{_fmt(item.d)}</td>'
                     f'<td class="flag">{e(_flags(item))}</td></tr>')
    if not checks:
        parts.append('<tr><td colspan="8">No graded submission ran a check.</td></tr>')
    return parts + ["</table>"]


def mistakes_section(analysis: Analysis, plots: dict[str, Path]) -> list[str]:
    """The diagnosed mistakes of every failed check, grouped by exercise.

    Args:
        analysis: the mistakes.
        plots: the PNG paths by key.

    Returns:
        HTML lines.
    """
    e = html.escape
    parts = ["<h2>Diagnosed mistakes</h2>",
             "<p>The failure messages of each check, grouped into mistakes: messages that differ only in numbers, "
             "shapes, settings or the values in brackets (for example each wrong order of the LSTM gates) count as "
             "one mistake; its variants are listed under it. Each submission counts once per check.</p>",
             _img(plots["mistakes"], "diagnosed mistakes of the most failed checks")]
    exercise = None
    for check in analysis.mistakes:
        if check.exercise != exercise:
            parts.append("</details>" if exercise is not None else "")
            exercise = check.exercise
            parts.append(f'<details class="exercise" open><summary><code>{e(exercise)}</code></summary>')
        parts.append(f'<p><b>{e(check.name)}</b>: {check.failed} of {check.ran} submissions fail it.</p>'
                     f'<table class="mistakes" data-check="{e(check.name)}"><tr><th></th><th>submissions</th>'
                     "<th>share of failures</th><th>mistake (a message as students read it)</th></tr>")
        others = check.categories[CATEGORIES_SHOWN:]
        for i, cat in enumerate(check.categories[:CATEGORIES_SHOWN]):
            variants = ""
            if len(cat.variants) > 1:
                listed = "".join(f"<li>{count}: {e(text)}</li>" for text, count in cat.variants[:8])
                variants = f"<details><summary>{len(cat.variants)} variants</summary><ul>{listed}</ul></details>"
            parts.append(f'<tr data-category="{chr(ord("A") + i)}" data-students="{len(cat.students)}">'
                         f'<td>{chr(ord("A") + i)}</td><td class="num">{len(cat.students)}</td>'
                         f'<td class="num">{100 * len(cat.students) / check.failed:.0f}%</td>'
                         f"<td>{e(cat.example)}{variants}</td></tr>")
        if others:
            count = sum(len(c.students) for c in others)
            parts.append(f'<tr data-category="other" data-students="{count}"><td>other</td><td class="num">{count}</td>'
                         f'<td class="num">{100 * count / check.failed:.0f}%</td>'
                         f"<td>{len(others)} other messages</td></tr>")
        parts.append("</table>")
    if exercise is not None:
        parts.append("</details>")
    if not analysis.mistakes:
        parts.append("<p>No graded submission failed a check.</p>")
    return parts


def similarity_section(analysis: Analysis) -> list[str]:
    """The top pairs to review, linking to the similarity page beside the report.

    Args:
        analysis: the answers read and their ranking.

    Returns:
        HTML lines.
    """
    e = html.escape
    link = similarity.SIMILARITY_HTML
    parts = ["<h2>Similar submissions: pairs to review</h2>", f"<p>{e(similarity.WORDING)}</p>",
             f'<p class="sub">{e(similarity.method_text(analysis.ranking))}</p>']
    parts += [f'<p class="note">{e(n)}</p>' for n in analysis.answers.notes]
    parts += similarity.pairs_table(analysis.ranking.pairs[:PAIRS_IN_REPORT], link=link)
    parts.append(f'<p><a href="{link}">{e(link)}</a>: every listed pair, per exercise, with the shared lines side '
                 "by side.</p>")
    return parts


def render_html(cohort: Cohort, numbers: dict[str, Any], rates: list[CheckRate],
                failures: list[tuple[str, int, list[str]]], plots: dict[str, Path], threshold_note: str,
                source: Path, title: str, analysis: Analysis) -> str:
    """The report page: headline numbers, then each section; every plot inlined as a data URI."""
    e = html.escape
    top = numbers["max_score"]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>", f'<p class="sub">Grading folder: {e(str(source))}</p>',
        '<div class="stats">',
        _stat("count", str(numbers["count"]), "submissions"),
        _stat("mean", f"{numbers['mean']:.2f}", f"mean score / {top:g}"),
        _stat("median", f"{numbers['median']:.2f}", f"median score / {top:g}"),
        _stat("full_marks", str(numbers["full_marks"]), "full marks"),
        _stat("rejected", str(numbers["rejected"]), "rejected files"),
        _stat("errors", str(numbers["errors"]), "grader errors"),
        _stat("suspicious", str(numbers["suspicious"]), "suspicious perplexities"),
        "</div>",
    ]
    parts += [f'<p class="note">{e(n)}</p>' for n in cohort.notes]
    parts += ["<h2>Scores</h2>", _img(plots["scores"], "score histogram")]
    parts += ["<h2>Checks</h2>", _img(plots["checks"], "pass rate per check"),
              '<table id="check-rates"><tr><th>exercise</th><th>check</th><th>passed</th><th>rate</th></tr>']
    for r in rates:
        parts.append(f'<tr data-exercise="{e(r.exercise)}" data-check="{e(r.name)}"><td>{e(r.exercise)}</td>'
                     f'<td>{e(r.name)}</td><td class="num">{r.passed}/{r.total}</td>'
                     f'<td class="num">{100 * r.rate:.0f}%</td></tr>')
    parts.append("</table>")
    parts += items_section(analysis, plots)
    parts += mistakes_section(analysis, plots)
    parts += ["<h2>Most frequent failure messages</h2>",
              '<table id="failures"><tr><th>submissions</th><th>message</th><th>checks</th></tr>']
    for message, n, checks in failures:
        parts.append(f'<tr><td class="num">{n}</td><td>{e(message)}</td><td>{e(", ".join(checks[:5]))}'
                     f'{" ..." if len(checks) > 5 else ""}</td></tr>')
    if not failures:
        parts.append('<tr><td colspan="3">No check failed.</td></tr>')
    parts.append("</table>")
    parts += ["<h2>Perplexity versus threshold</h2>", f"<p>{e(threshold_note)}</p>",
              _img(plots["perplexity"], "perplexity versus threshold")]
    parts += ["<h2>Grading time</h2>", _img(plots["time"], "grading time per submission")]
    parts += similarity_section(analysis)
    parts += ["<h2>Submissions</h2>", "<details><summary>One row per gradebook entry</summary>",
              '<table id="submissions"><tr><th>student</th><th>score</th><th>status</th>'
              "<th>perplexity</th><th>seconds</th></tr>"]
    for row in sorted(cohort.rows, key=lambda r: r["student_id"]):
        extra = cohort.results.get(row["student_id"], {})
        ppl = extra.get("extra_data", {}).get("perplexity")
        flag = " (suspicious)" if extra.get("extra_data", {}).get("suspicious") else ""
        ppl_text = "-" if not isinstance(ppl, (int, float)) else f"{ppl:.3f}{flag}"
        seconds = extra.get("execution_time")
        parts.append(f'<tr><td>{e(row["student_id"])}</td><td class="num">{e(row["score"])}/{e(row["max_score"])}</td>'
                     f'<td>{e(row["status"])}</td><td class="num">{e(ppl_text)}</td>'
                     f'<td class="num">{"-" if seconds is None else f"{float(seconds):.1f}"}</td></tr>')
    parts += ["</table></details>", "</body></html>"]
    return "\n".join(parts) + "\n"


# --- entry point ---------------------------------------------------------------------


def cohort_answers(folder: Path, cfg, progress: Progress | None) -> similarity.AnswerSet:
    """The answer cells of a grading folder, or an empty set saying why there are none.

    Args:
        folder: the grading folder.
        cfg: the course configuration.
        progress: the progress callback, or None.

    Returns:
        The AnswerSet (never raises for a folder without answers).
    """
    try:
        return similarity.read_answers(folder, cfg, progress)
    except UserError as exc:
        note = f"No similarity pass: {exc}"
    try:
        exercises, given = similarity.lab_cells(cfg)
    except UserError:
        exercises, given = [], {}
    return similarity.AnswerSet(exercises, given, {}, "grading folder", notes=[note])


def build_report(folder: Path, out: Path, progress: Progress | None = None) -> Path:
    """Write report.html, its PNG plots and the similarity page of a grading folder into ``out``.

    Args:
        folder: a `course grade --out` folder.
        out: the report folder (created; its files are overwritten under the same names).
        progress: called as (stage, done, total) during the long passes.

    Returns:
        The path of report.html.
    Raises:
        UserError: ``folder`` is not a grading output folder.
    """
    cfg = load_config()
    cohort = read_cohort(folder, progress)
    numbers = headline(cohort)
    order = list(cfg.points)
    rates = check_rates(cohort, order)
    threshold, threshold_note = read_threshold(cfg)
    exercises, checks = itemanalysis.analyse(cohort.results, order)
    answers = cohort_answers(folder, cfg, progress)
    ranking = similarity.rank(answers, progress)
    analysis = Analysis(exercises, checks, mistakes.check_mistakes(cohort.results, order), answers, ranking)
    out.mkdir(parents=True, exist_ok=True)
    plots = {key: out / name for key, name in PLOTS.items()}
    drawers = [
        lambda: plot_scores(cohort, numbers, plots["scores"]),
        lambda: plot_checks(rates, plots["checks"]),
        lambda: plot_items(checks, plots["items"]),
        lambda: plot_mistakes(analysis.mistakes, plots["mistakes"]),
        lambda: plot_perplexity(cohort, threshold, cfg.threshold.suspicious_perplexity, plots["perplexity"]),
        lambda: plot_time(cohort, plots["time"]),
    ]
    for done, draw in enumerate(drawers, start=1):
        draw()
        if progress:
            progress("plotting", done, len(drawers))
    similarity.write_similarity(answers, ranking, out, folder)
    title = f"{cfg.course_id} / {cfg.assignment}: cohort report"
    page = render_html(cohort, numbers, rates, frequent_failures(cohort), plots, threshold_note, folder, title,
                       analysis)
    path = out / REPORT_HTML
    atomic_write(path, page)
    path.chmod(0o644)  # a page to open and share, not a private temp file
    return path


def main_report(dir: Path, out: Path | None = None) -> int:
    """`course report DIR [--out OUT]`: write the cohort report; OUT defaults to DIR/report.

    Returns:
        0 (a folder that is not a grading folder raises UserError).
    """
    with progress_bar() as progress:
        path = build_report(Path(dir), Path(out) if out else Path(dir) / "report", progress)
    print(f"report: {path} (plots and {similarity.SIMILARITY_HTML} beside it)")
    return 0
