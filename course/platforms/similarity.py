"""`course similarity`: pairs of submissions that share normalised code, per exercise and overall, listed for review."""
from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course.config import CourseConfig, load_config
from course.errors import UserError
from course.grader.results import ANSWERS_NAME, atomic_write
from course.grader.submission import discover
from course.platforms import fingerprints as fpr
from course.platforms.progress import progress_bar
from course.student import notebook as nbc

SIMILARITY_HTML = "similarity.html"
SIMILARITY_JSON = "similarity.json"
COMMON_SHARE = 0.10  # a fingerprint in more than this share of an exercise's submissions is common code ...
COMMON_MIN = 10  # ... and in more than this many: below, nothing is common (a small cohort)
MIN_SHARED = 6  # a pair is listed for an exercise (and overall) from this many shared fingerprints (2-3 lines)
TOP_OVERALL = 50  # pairs listed overall
TOP_PER_EXERCISE = 10  # pairs listed per exercise
BLOCK_COLORS = ["#fde68a", "#bfdbfe", "#bbf7d0", "#fecaca", "#ddd6fe", "#fed7aa"]
MAX_ANSWER_CHARS = nbc.MAX_ANSWER_CELL_CHARS

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class AnswerSet:
    """The answer cells of a cohort.

    Attributes:
        exercises: the lab's answer cells (grade_ids), in notebook order.
        given: grade_id -> the release's cell (the code every student starts from).
        answers: submission id -> grade_id -> source.
        source: what was read ("grading folder" or "notebooks").
        notes: what could not be read.
    """

    exercises: list[str]
    given: dict[str, str]
    answers: dict[str, dict[str, str]]
    source: str
    notes: list[str] = field(default_factory=list)


@dataclass
class Block:
    """A run of shared fingerprints: lines of A and the matching lines of B."""

    a_lines: tuple[int, int]
    b_lines: tuple[int, int]


@dataclass
class Shared:
    """What two submissions share on one exercise."""

    exercise: str
    fingerprints: int
    weight: float
    score: float  # weighted Jaccard index of the two fingerprint sets
    cover_a: float  # share of A's fingerprint weight that B shares
    cover_b: float


@dataclass
class Pair:
    """Two submissions and what they share."""

    a: str
    b: str
    score: float  # weighted Jaccard index over all exercises
    fingerprints: int
    exercises: list[Shared]

    def on(self, exercise: str) -> Shared | None:
        return next((s for s in self.exercises if s.exercise == exercise), None)


@dataclass
class Ranking:
    """The ranked pairs of a cohort and what the ranking was made from."""

    pairs: list[Pair]  # overall, best first (at most TOP_OVERALL)
    by_exercise: dict[str, list[Pair]]  # per exercise, best first (at most TOP_PER_EXERCISE)
    submissions: int
    compared: dict[str, int]  # exercise -> submissions with own code there
    common: dict[str, int]  # exercise -> distinct fingerprints ignored as common code
    fingerprints: dict[str, dict[str, dict[int, tuple[int, int]]]]  # exercise -> id -> hash -> lines
    kept: dict[str, set[int]]  # exercise -> hashes that count (not common)


# --- reading ------------------------------------------------------------------------------------------


def lab_cells(cfg: CourseConfig) -> tuple[list[str], dict[str, str]]:
    """The lab's answer ids (source notebook order) and the release's code for each.

    Args:
        cfg: the course configuration.

    Returns:
        (grade_ids, grade_id -> the release's cell source).
    Raises:
        UserError: a notebook is missing.
    """
    for path in (cfg.source_notebook, cfg.release_notebook):
        if not path.is_file():
            raise UserError(f"{path} is missing: run `course release` first.")
    template = json.loads(cfg.source_notebook.read_text(encoding="utf-8"))
    ids = [gid for cell in template["cells"] if nbc.is_answer_cell(cell) and (gid := nbc.grade_id(cell))]
    release = json.loads(cfg.release_notebook.read_text(encoding="utf-8"))
    return ids, nbc.scan_answers(release, ids).found


def _answers_file(path: Path, ids: list[str]) -> tuple[str, dict[str, str]] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    answers = record.get("answers") if isinstance(record, dict) else None
    if not isinstance(answers, dict):
        return None
    sub = record.get("submission_id")
    sub = sub if isinstance(sub, str) and sub else path.parent.name
    return sub, {g: s for g, s in answers.items() if g in ids and isinstance(s, str) and len(s) <= MAX_ANSWER_CHARS}


def read_answers(folder: Path, cfg: CourseConfig | None = None, progress: Progress | None = None) -> AnswerSet:
    """The answer cells of a `course grade --out` folder (its <id>/answers.json) or of a folder of notebooks.

    Args:
        folder: a grading output folder, or a folder holding submitted .ipynb files (nbgrader's layout too).
        cfg: the course configuration (default: the repository's).
        progress: called as (stage, done, total) while reading.

    Returns:
        The AnswerSet (unreadable files are left out and noted).
    Raises:
        UserError: the folder holds neither.
    """
    cfg = cfg or load_config()
    folder = Path(os.path.abspath(folder))  # as discover() gives the notebooks' paths, for relative_to below
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder: pass a `course grade --out` folder or a folder of notebooks.")
    ids, given = lab_cells(cfg)
    files = sorted(folder.glob(f"*/{ANSWERS_NAME}"))
    found = AnswerSet(ids, given, {}, "grading folder")
    if files:
        for i, path in enumerate(files, start=1):
            read = _answers_file(path, ids)
            if read is None:
                found.notes.append(f"{path.parent.name}/{ANSWERS_NAME} could not be read; it is left out.")
            else:
                found.answers[read[0]] = read[1]
            if progress:
                progress("reading answers", i, len(files))
        graded = sorted(folder.glob("*/results.json"))
        missing = [p.parent.name for p in graded if not (p.parent / ANSWERS_NAME).exists()]
        if missing:
            more = " ..." if len(missing) > 10 else ""
            found.notes.append(f"{len(missing)} graded submission(s) have no {ANSWERS_NAME} (rejected files, or graded "
                               f"before it was written): {', '.join(missing[:10])}{more}")
        return found
    subs = [s for s in discover([folder], cfg.assignment) if "report" not in s.path.relative_to(folder).parts]
    if not subs:
        if list(folder.glob("*/results.json")):
            raise UserError(f"{folder} is a grading folder without {ANSWERS_NAME}: grade it again with this version "
                            "of `course grade`, or pass the folder of submitted notebooks.")
        raise UserError(f"{folder} holds no {ANSWERS_NAME} and no notebook: pass a `course grade --out` folder or "
                        "a folder of submitted .ipynb files.")
    found.source = "notebooks"
    for i, sub in enumerate(subs, start=1):
        try:
            nb = nbc.read_notebook(sub.path, cfg.limits.max_notebook_bytes, cfg.limits.max_cells)
            found.answers[sub.id] = nbc.scan_answers(nb, ids).found
        except nbc.NotebookError as exc:
            found.notes.append(f"{sub.id}: {exc}")
        except OSError as exc:
            found.notes.append(f"{sub.id}: could not be read ({exc.strerror}).")
        if progress:
            progress("reading notebooks", i, len(subs))
    return found


# --- ranking ------------------------------------------------------------------------------------------


def common_cap(submissions: int) -> float:
    """Fingerprints held by more submissions than this are common code.

    Args:
        submissions: submissions with code of their own on the exercise.

    Returns:
        max(COMMON_MIN, COMMON_SHARE * submissions).
    """
    return max(COMMON_MIN, COMMON_SHARE * submissions)


def _weight(df: int, submissions: int) -> float:
    """A shared fingerprint weighs more the fewer submissions hold it."""
    return math.log(1.0 + submissions / df)


def rank(answers: AnswerSet, progress: Progress | None = None) -> Ranking:
    """Fingerprint every answer cell and rank the pairs that share code, per exercise and overall.

    Each answer cell is fingerprinted (``course.platforms.fingerprints``: AST tokens, k-grams,
    winnowing), leaving out every k-gram of the code the release gives. A fingerprint held by more
    than ``common_cap`` submissions of an exercise is common code (an idiom, the lecture's example)
    and is ignored; the others weigh log(1 + n / holders), n the submissions with code of their own
    there. A pair's similarity on an exercise is the weighted Jaccard index of its two fingerprint
    sets, shared / (A + B - shared); overall, the same index over all exercises together.

    Args:
        answers: the cohort's answer cells and the release's code.
        progress: called as (stage, done, total).

    Returns:
        The Ranking (pairs with fewer than MIN_SHARED shared fingerprints are not listed).
    """
    ids = sorted(answers.answers)
    index = {sid: i for i, sid in enumerate(ids)}
    n = len(ids)
    prints: dict[str, dict[str, dict[int, tuple[int, int]]]] = {e: {} for e in answers.exercises}
    given = {e: fpr.given_hashes(answers.given.get(e, "")) for e in answers.exercises}
    for done, sid in enumerate(ids, start=1):
        for e in answers.exercises:
            found = fpr.fingerprints(answers.answers[sid].get(e, ""), given[e])
            if found:
                prints[e][sid] = found
        if progress:
            progress("fingerprinting", done, n)
    shared_w: dict[str, dict[int, float]] = {}
    shared_n: dict[str, dict[int, int]] = {}
    own: dict[str, dict[str, float]] = {}  # exercise -> id -> weight of its counted fingerprints
    kept: dict[str, set[int]] = {}
    common: dict[str, int] = {}
    for done, e in enumerate(answers.exercises, start=1):
        postings: dict[int, list[int]] = {}
        for sid, found in prints[e].items():
            for h in found:
                postings.setdefault(h, []).append(index[sid])
        m = len(prints[e])
        cap = common_cap(m)
        weights = {h: _weight(len(p), m) for h, p in postings.items() if len(p) <= cap}
        kept[e], common[e] = set(weights), len(postings) - len(weights)
        own[e] = {sid: sum(weights.get(h, 0.0) for h in found) for sid, found in prints[e].items()}
        sw, sn = shared_w.setdefault(e, {}), shared_n.setdefault(e, {})
        for h, w in weights.items():
            holders = sorted(postings[h])
            if len(holders) < 2:
                continue
            for x in range(len(holders)):
                base = holders[x] * n
                for y in range(x + 1, len(holders)):
                    key = base + holders[y]
                    sw[key] = sw.get(key, 0.0) + w
                    sn[key] = sn.get(key, 0) + 1
        if progress:
            progress("comparing pairs", done, len(answers.exercises))
    total_own = {sid: sum(own[e].get(sid, 0.0) for e in answers.exercises) for sid in ids}
    overall_w: dict[int, float] = {}
    overall_n: dict[int, int] = {}
    for e in answers.exercises:
        for key, w in shared_w[e].items():
            overall_w[key] = overall_w.get(key, 0.0) + w
            overall_n[key] = overall_n.get(key, 0) + shared_n[e][key]

    def pair(key: int) -> Pair:
        a, b = ids[key // n], ids[key % n]
        parts = []
        for e in answers.exercises:
            w = shared_w[e].get(key)
            if w is None:
                continue
            wa, wb = own[e][a], own[e][b]
            parts.append(Shared(e, shared_n[e][key], w, w / (wa + wb - w), w / wa, w / wb))
        union = total_own[a] + total_own[b] - overall_w[key]
        return Pair(a, b, overall_w[key] / union, overall_n[key], parts)

    def jaccard_on(e: str, key: int) -> float:
        a, b = ids[key // n], ids[key % n]
        w = shared_w[e][key]
        return w / (own[e][a] + own[e][b] - w)

    order = lambda key, score: (-score, ids[key // n], ids[key % n])
    candidates = [k for k, c in overall_n.items() if c >= MIN_SHARED]
    scored = {k: overall_w[k] / (total_own[ids[k // n]] + total_own[ids[k % n]] - overall_w[k]) for k in candidates}
    top = sorted(candidates, key=lambda k: order(k, scored[k]))[:TOP_OVERALL]
    by_exercise = {}
    for e in answers.exercises:
        listed = [k for k, c in shared_n[e].items() if c >= MIN_SHARED]
        best = sorted(listed, key=lambda k, e=e: order(k, jaccard_on(e, k)))[:TOP_PER_EXERCISE]
        by_exercise[e] = [pair(k) for k in best]
    return Ranking(pairs=[pair(k) for k in top], by_exercise=by_exercise, submissions=n,
                   compared={e: len(prints[e]) for e in answers.exercises}, common=common,
                   fingerprints=prints, kept=kept)


def blocks(ranking: Ranking, a: str, b: str, exercise: str) -> list[Block]:
    """The shared fingerprints of a pair on one exercise, merged into runs of matching lines.

    Args:
        ranking: the ranking (it keeps every submission's fingerprints).
        a, b: the two submission ids.
        exercise: the grade_id.

    Returns:
        The runs in A's order; a run continues while both sides' lines stay adjacent.
    """
    fa, fb = ranking.fingerprints[exercise].get(a, {}), ranking.fingerprints[exercise].get(b, {})
    shared = sorted((fa[h], fb[h]) for h in set(fa) & set(fb) & ranking.kept[exercise])
    out: list[Block] = []
    for la, lb in shared:
        if out:
            last = out[-1]
            if la[0] <= last.a_lines[1] + 1 and last.b_lines[0] - 1 <= lb[0] <= last.b_lines[1] + 1:
                out[-1] = Block((last.a_lines[0], max(last.a_lines[1], la[1])),
                                (min(last.b_lines[0], lb[0]), max(last.b_lines[1], lb[1])))
                continue
        out.append(Block(la, lb))
    return out


# --- the page -----------------------------------------------------------------------------------------

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
.sub { color: #666; } .note { color: #8a5a00; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #eee; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 0.8em; margin: 0.4em 0 1.2em; }
.side > div { min-width: 0; }
.code { font-family: ui-monospace, monospace; font-size: 0.78em; border: 1px solid #ddd; border-radius: 4px;
        overflow-x: auto; white-space: pre; }
.code div { padding: 0 0.4em; min-height: 1.2em; } .code .ln { color: #999; display: inline-block; width: 2.5em; }
.code .given { color: #999; } details { margin: 0.4em 0; } summary { cursor: pointer; }
"""


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _code(source: str, marks: dict[int, int], given: set[str]) -> str:
    e = html.escape
    rows = []
    for number, line in enumerate(source.splitlines() or [""], start=1):
        is_given = bool(line.strip()) and line.strip() in given
        block = None if is_given else marks.get(number)  # a run's given lines (def, docstring) stay grey
        style = f' style="background:{BLOCK_COLORS[block % len(BLOCK_COLORS)]}"' if block is not None else ""
        cls = ' class="given"' if is_given else ""
        tag = f' title="shared run {block + 1}"' if block is not None else ""
        rows.append(f'<div{style}{cls}{tag}><span class="ln">{number}</span>{e(line)}</div>')
    return '<div class="code">' + "".join(rows) + "</div>"


def _side_by_side(ranking: Ranking, answers: AnswerSet, pair: Pair, shared: Shared) -> str:
    e = html.escape
    runs = blocks(ranking, pair.a, pair.b, shared.exercise)
    marks_a: dict[int, int] = {}
    marks_b: dict[int, int] = {}
    for i, run in enumerate(runs):
        for line in range(run.a_lines[0], run.a_lines[1] + 1):
            marks_a.setdefault(line, i)
        for line in range(run.b_lines[0], run.b_lines[1] + 1):
            marks_b.setdefault(line, i)
    given = {line.strip() for line in answers.given.get(shared.exercise, "").splitlines() if line.strip()}
    listing = "; ".join(f"lines {r.a_lines[0]}-{r.a_lines[1]} and {r.b_lines[0]}-{r.b_lines[1]}" for r in runs)
    return (f"<h4><code>{e(shared.exercise)}</code>: similarity {_pct(shared.score)}, {shared.fingerprints} shared "
            f"fingerprints ({_pct(shared.cover_a)} of {e(pair.a)}'s, {_pct(shared.cover_b)} of {e(pair.b)}'s)</h4>"
            f'<p class="sub">Shared runs: {e(listing) or "none"}. Grey lines are code given in the release.</p>'
            f'<div class="side"><div><b>{e(pair.a)}</b>'
            f"{_code(answers.answers[pair.a].get(shared.exercise, ''), marks_a, given)}</div>"
            f"<div><b>{e(pair.b)}</b>{_code(answers.answers[pair.b].get(shared.exercise, ''), marks_b, given)}</div>"
            "</div>")


def pair_anchor(pair: Pair) -> str:
    """The HTML id of a pair's side-by-side view (letters, digits and dashes only)."""
    return "pair-" + "".join(c if c.isalnum() else "-" for c in f"{pair.a}--{pair.b}")


WORDING = ("These pairs share more normalised code than the others of this cohort: they are listed for a person "
           "to review, not as a finding. Code given in the release is left out, and so is code that many "
           "submissions share, but a short exercise, a common source (lecture notes, documentation, a tutorial) "
           "or a standard idiom can still make independent solutions alike. Look at the shared lines, and at the "
           "whole submissions, before drawing any conclusion.")


def method_text(ranking: Ranking) -> str:
    """One paragraph on how pairs are compared (shown on the page and in the report).

    Args:
        ranking: for the number of submissions compared.

    Returns:
        Plain text.
    """
    return (f"Answer cells are parsed, names the student chose are replaced by one placeholder, comments, docstrings "
            f"and layout are dropped, and every run of {fpr.K} syntax-tree tokens is hashed; winnowing keeps one "
            f"hash per window of {fpr.W} (every shared run of {fpr.K + fpr.W - 1} tokens is found). Fingerprints "
            f"of the release's code are excluded; fingerprints held by more than "
            f"max({COMMON_MIN}, {_pct(COMMON_SHARE)} of the submissions) count as common code. Similarity is the "
            f"weighted Jaccard index of two fingerprint sets, each fingerprint weighing log(1 + n / holders); pairs "
            f"need {MIN_SHARED} shared fingerprints to be listed. {ranking.submissions} submissions compared.")


def pairs_table(pairs: list[Pair], link: str = "", exercise: str | None = None) -> list[str]:
    """A table of pairs (HTML lines), each linking to its side-by-side view on the similarity page.

    Args:
        pairs: the pairs, best first.
        link: the similarity page's file name ("" on the page itself).
        exercise: show the pair's numbers on this exercise rather than overall.

    Returns:
        The table's lines.
    """
    e = html.escape
    rows = ['<table class="pairs"><tr><th>#</th><th>submission</th><th>submission</th><th>similarity</th>'
            "<th>shared fingerprints</th><th>exercises with shared code</th></tr>"]
    for i, p in enumerate(pairs, start=1):
        part = p.on(exercise) if exercise else None
        score, count = (part.score, part.fingerprints) if part else (p.score, p.fingerprints)
        where = ", ".join(f"{s.exercise} {_pct(s.score)}" for s in sorted(p.exercises, key=lambda s: -s.score)[:6]
                          if s.fingerprints >= MIN_SHARED)
        rows.append(f'<tr data-a="{e(p.a)}" data-b="{e(p.b)}"><td class="num">{i}</td>'
                    f'<td><a href="{e(link)}#{pair_anchor(p)}">{e(p.a)}</a></td><td>{e(p.b)}</td>'
                    f'<td class="num">{_pct(score)}</td><td class="num">{count}</td><td>{e(where)}</td></tr>')
    if not pairs:
        rows.append('<tr><td colspan="6">No pair shares enough code to be listed.</td></tr>')
    return rows + ["</table>"]


def render_page(ranking: Ranking, answers: AnswerSet, title: str, source: Path) -> str:
    """The self-contained similarity page: ranked pairs overall and per exercise, shared lines side by side.

    Args:
        ranking: the ranked pairs.
        answers: the answer cells shown and the release's code (greyed).
        title: the page's title.
        source: the folder read (named on the page).

    Returns:
        The HTML text; everything on it is escaped.
    """
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{e(title)}</title><style>{CSS}</style></head><body>", f"<h1>{e(title)}</h1>",
             f'<p class="sub">Read from {e(str(source))} ({e(answers.source)}).</p>', f"<p>{e(WORDING)}</p>",
             f'<p class="sub">{e(method_text(ranking))}</p>']
    parts += [f'<p class="note">{e(n)}</p>' for n in answers.notes]
    parts += ["<h2>Pairs to review, all exercises together</h2>", *pairs_table(ranking.pairs)]
    parts.append("<h2>Pairs to review, per exercise</h2>")
    for ex in answers.exercises:
        listed = ranking.by_exercise.get(ex, [])
        parts.append(f'<h3 id="exercise-{e(ex)}"><code>{e(ex)}</code> <span class="sub">'
                     f"({ranking.compared.get(ex, 0)} submissions with code of their own; "
                     f"{ranking.common.get(ex, 0)} common fingerprints ignored)</span></h3>")
        parts += pairs_table(listed, exercise=ex) if listed else ['<p class="sub">No pair listed.</p>']
    shown: dict[str, Pair] = {}
    for p in [*ranking.pairs, *(p for ex in answers.exercises for p in ranking.by_exercise.get(ex, []))]:
        shown.setdefault(pair_anchor(p), p)
    parts.append("<h2>Shared lines, side by side</h2>")
    for anchor, p in shown.items():
        parts.append(f'<details id="{anchor}"><summary><b>{e(p.a)}</b> and <b>{e(p.b)}</b>: similarity '
                     f"{_pct(p.score)} over all exercises, {p.fingerprints} shared fingerprints</summary>")
        parts += [_side_by_side(ranking, answers, p, s) for s in p.exercises if s.fingerprints >= MIN_SHARED]
        parts.append("</details>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def ranking_json(ranking: Ranking) -> dict[str, Any]:
    """The ranking as plain data (similarity.json).

    Args:
        ranking: the ranked pairs.

    Returns:
        Parameters, counts, and the listed pairs overall and per exercise.
    """
    def as_dict(p: Pair) -> dict[str, Any]:
        return {"a": p.a, "b": p.b, "score": round(p.score, 4), "shared": p.fingerprints,
                "exercises": {s.exercise: {"score": round(s.score, 4), "shared": s.fingerprints,
                                           "cover_a": round(s.cover_a, 4), "cover_b": round(s.cover_b, 4)}
                              for s in p.exercises}}

    return {"parameters": {"k": fpr.K, "window": fpr.W, "common_share": COMMON_SHARE, "common_min": COMMON_MIN,
                           "min_shared": MIN_SHARED},
            "submissions": ranking.submissions, "compared": ranking.compared, "common": ranking.common,
            "pairs": [as_dict(p) for p in ranking.pairs],
            "by_exercise": {e: [as_dict(p) for p in ps] for e, ps in ranking.by_exercise.items()}}


# --- entry points -------------------------------------------------------------------------------------


def write_similarity(answers: AnswerSet, ranking: Ranking, out: Path, source: Path) -> Path:
    """Write similarity.html and similarity.json into ``out``.

    Args:
        answers: the cohort's answer cells.
        ranking: their ranking.
        out: the folder (created).
        source: the folder the answers came from.

    Returns:
        The page's path.
    """
    cfg = load_config()
    title = f"{cfg.course_id} / {cfg.assignment}: code similarity, pairs to review"
    out.mkdir(parents=True, exist_ok=True)
    path = out / SIMILARITY_HTML
    atomic_write(out / SIMILARITY_JSON, json.dumps(ranking_json(ranking), indent=1) + "\n")
    atomic_write(path, render_page(ranking, answers, title, source))
    return path


def similarity(folder: Path, out: Path, progress: Progress | None = None) -> tuple[Path, Ranking]:
    """Read, rank and write the similarity page of a grading folder or a folder of notebooks.

    Args:
        folder: a `course grade --out` folder (answers.json per submission) or a folder of notebooks.
        out: where similarity.html and similarity.json go.
        progress: called as (stage, done, total).

    Returns:
        The page's path and the ranking.
    Raises:
        UserError: ``folder`` holds no answers.
    """
    answers = read_answers(folder, progress=progress)
    ranking = rank(answers, progress=progress)
    return write_similarity(answers, ranking, out, folder), ranking


def main_similarity(dir: Path, out: Path | None = None) -> int:
    """`course similarity DIR [--out OUT]`: OUT defaults to DIR/report, beside the cohort report.

    Returns:
        0 (a usage problem raises UserError).
    """
    folder = Path(dir)
    with progress_bar() as progress:
        path, ranking = similarity(folder, Path(out) if out else folder / "report", progress)
    print(f"similarity: {path} ({len(ranking.pairs)} pair(s) to review among {ranking.submissions} submissions)")
    return 0
