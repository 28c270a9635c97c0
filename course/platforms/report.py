"""Cohort report of a grading folder: one self-contained report.html and its PNG plots."""
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

# Stable output names: a new report overwrites the previous one.
REPORT_HTML = "report.html"
PLOTS = {
    "scores": "score_histogram.png",
    "checks": "check_pass_rates.png",
    "perplexity": "perplexity.png",
    "time": "grading_time.png",
}
TOP_FAILURES = 15  # rows in the table of most frequent failure messages
MAX_MESSAGE_CHARS = 300  # longer failure messages are cut in the table
STATUS_COLORS = {"graded": "#4c72b0", "rejected": "#dd8452", "error": "#c44e52"}


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


def read_cohort(folder: Path) -> Cohort:
    """Read gradebook.csv and every <id>/results.json of a `course grade --out` folder.

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
    for path in result_files:
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


def plot_checks(rates: list[CheckRate], path: Path) -> None:
    fig = Figure(figsize=(9, 1.2 + 0.22 * max(1, len(rates))), layout="constrained")
    ax = fig.add_subplot()
    exercises = list(dict.fromkeys(r.exercise for r in rates))
    palette = colormaps["tab20"]
    colors = {ex: palette(i % 20) for i, ex in enumerate(exercises)}
    y = list(range(len(rates)))[::-1]  # first check at the top
    ax.barh(y, [100 * r.rate for r in rates], color=[colors[r.exercise] for r in rates])
    labels = [r.name if r.name.startswith(r.exercise) else f"{r.exercise}: {r.name}" for r in rates]
    ax.set_yticks(y, [label if len(label) <= 70 else label[:67] + "..." for label in labels], fontsize=7)
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
img { max-width: 100%; } .note { color: #8a5a00; }
"""


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _stat(key: str, value: str, label: str) -> str:
    return (f'<div class="stat" data-key="{key}"><span class="value">{html.escape(value)}</span>'
            f'<span class="label">{html.escape(label)}</span></div>')


def render_html(cohort: Cohort, numbers: dict[str, Any], rates: list[CheckRate],
                failures: list[tuple[str, int, list[str]]], plots: dict[str, Path], threshold_note: str,
                source: Path, title: str) -> str:
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


def build_report(folder: Path, out: Path) -> Path:
    """Write report.html and the PNG plots of a grading folder into ``out``.

    Returns:
        The path of report.html.
    Raises:
        UserError: ``folder`` is not a grading output folder.
    """
    cfg = load_config()
    cohort = read_cohort(folder)
    numbers = headline(cohort)
    rates = check_rates(cohort, list(cfg.points))
    threshold, threshold_note = read_threshold(cfg)
    out.mkdir(parents=True, exist_ok=True)
    plots = {key: out / name for key, name in PLOTS.items()}
    plot_scores(cohort, numbers, plots["scores"])
    plot_checks(rates, plots["checks"])
    plot_perplexity(cohort, threshold, cfg.threshold.suspicious_perplexity, plots["perplexity"])
    plot_time(cohort, plots["time"])
    title = f"{cfg.course_id} / {cfg.assignment}: cohort report"
    page = render_html(cohort, numbers, rates, frequent_failures(cohort), plots, threshold_note, folder, title)
    path = out / REPORT_HTML
    atomic_write(path, page)
    path.chmod(0o644)  # a page to open and share, not a private temp file
    return path


def main_report(dir: Path, out: Path | None = None) -> int:
    """`course report DIR [--out OUT]`: write the cohort report; OUT defaults to DIR/report."""
    path = build_report(Path(dir), Path(out) if out else Path(dir) / "report")
    print(f"report: {path} (plots beside it)")
    return 0
