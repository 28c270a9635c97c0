"""Scale of the cohort passes: `course report` and `course similarity` on a synthetic graded cohort, side by side."""
# It builds a grading folder of N submissions as `course grade --out` leaves it (results.json with
# the lab's real check names and points, answers.json, gradebook.csv): each student has an
# ability, each check a difficulty, so that pass rates and discrimination look like a class's (one
# check everyone passes, one that favours weaker students). Failure messages follow the hidden
# checks' diagnoses with per-student numbers. Answer cells start from six independent solutions,
# renamed and edited per student; a few planted pairs copy a whole notebook. Then it times the
# report (item analysis, mistakes and similarity included) and the similarity pass alone.
from __future__ import annotations

import argparse
import ast
import json
import math
import platform
import random
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests" / "platforms")]

import similarity_cohort as sc  # noqa: E402  (the six independent solutions of the similarity tests)
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from course.config import load_config  # noqa: E402
from course.grader.results import write_gradebook  # noqa: E402
from course.platforms.progress import progress_bar  # noqa: E402
from course.platforms.report import REPORT_HTML, build_report  # noqa: E402
from course.platforms.similarity import similarity  # noqa: E402

OUT = REPO / "bench" / "out"
SEED = 20261127
PLANTED_PAIRS = 10
GATES = ("input", "forget", "cell", "output")
NAMES = ["acc", "tmp", "val", "buf", "res", "cur", "nxt", "prev", "part", "item", "step_", "aux", "mid", "tot"]
EXPRS = ["{a} = {b}.detach()", "{a} = len({b})", "{a} = {b} * {k}", "{a} = {b}.shape[{k}]", "print({a}, {k})",
         "{a} = torch.zeros({k})", "{a} = [{b}] * {k}", "assert {a} is not None", "{a} = {b} + {k}",
         "{a} = float({k}) / {k}", "{a} = {b}.size(-1)", "{a} = max({a}, {k})"]


def lab_checks() -> list[dict]:
    """The hidden checks' names, exercises and points, read from their source (nothing is run)."""
    found = []
    for path in sorted((load_config().autograder_dir / "checks").glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                continue
            marks = {d.func.attr: [a.value for a in d.args if isinstance(a, ast.Constant)]
                     for d in node.decorator_list if isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)}
            doc = (ast.get_docstring(node) or node.name).splitlines()[0]
            if "points" in marks and marks.get("tags"):
                found.append({"name": doc, "exercise": marks["tags"][0], "points": float(marks["points"][0])})
    return found


def failure(rng: random.Random, check: dict) -> str:
    """A failure message like the hidden check's: its diagnosis, with this student's numbers."""
    b, h, n = rng.randint(2, 6), rng.randint(3, 9), rng.randint(1, 3)
    ex = check["exercise"]
    roll = rng.random()
    if roll < 0.15:
        return f"`{ex}` is not done yet: it still raises NotImplementedError. Replace `raise NotImplementedError()`."
    if ex == "lstm_cell" and roll < 0.6:
        order = list(GATES)
        while tuple(order) == GATES:
            rng.shuffle(order)
        return (f"lstm_cell reads the four stacked gate blocks as ({', '.join(order)}); PyTorch stacks them as "
                f"({', '.join(GATES)}).")
    if ex == "top_layer_final_state" and roll < 0.6:
        kind = rng.choice(["RNN", "GRU", "LSTM"])
        return (f"top_layer_final_state for nn.{kind}(num_layers={n}, bidirectional=True, batch_first=False) with "
                f"batch={b}, hidden_size={h} should be [{b}, {2 * h}], got [{b}, {h}] with different values: h_n[-1] "
                "is only the last layer's BACKWARD direction; for a bidirectional net concatenate the last layer's "
                "forward state h_n[-2] and backward state h_n[-1].")
    if ex == "threshold":
        return (f"After 500 training steps (embed 64, hidden 128, batch 64, seq_len 100), your model reaches a "
                f"held-out perplexity {rng.uniform(5.2, 30):.3f}; the threshold is 5.144 (worst reference seed "
                "(4.676, seed 2) x margin 1.1). Check that train_epoch carries and detaches the state.")
    if roll < 0.8:
        return f"{ex} (batch={b}, hidden_size={h}) should have shape [{b}, {h}]; got [{b}, {h}, {n}]."
    return f"{ex} differs from the reference (largest difference {rng.uniform(0.01, 3):.3g}): check the formula."


def edited(rng: random.Random, source: str, edits: int) -> str:
    """One student's version of a solution: names changed, a few statements of their own inserted."""
    names = {name: f"{name}_{rng.randint(0, 99)}" for name in ("h", "x", "state", "total", "loss", "out", "i")}
    lines = sc.renamed(source, names).splitlines()
    body = [i for i, line in enumerate(lines) if line.startswith("        ") and line.strip()
            and not line.rstrip().endswith((":", ",", "(", "[", "{", "\\")) and '"""' not in line]
    for _ in range(edits):
        if not body:
            break
        at = rng.choice(body)
        indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
        if lines[at].lstrip().startswith(("return", "raise", "continue", "break")):
            continue
        expr = rng.choice(EXPRS).format(a=rng.choice(NAMES), b=rng.choice(NAMES), k=rng.randint(0, 9))
        lines.insert(at + 1, indent + expr)
        body = [i + (i > at) for i in body]
    return "\n".join(lines) + "\n"


def build_cohort(folder: Path, n: int, seed: int = SEED) -> dict:
    """Write N graded submissions into ``folder`` (results.json, answers.json, gradebook.csv).

    Args:
        folder: the grading folder to create.
        n: submissions.
        seed: the random seed (the same seed writes the same cohort).

    Returns:
        {"planted": copier id -> copied id, "checks": checks per submission}.
    """
    cfg = load_config()
    rng = random.Random(seed)
    checks = lab_checks()
    difficulty = {c["name"]: rng.gauss(-0.6, 1.0) for c in checks}
    difficulty[checks[0]["name"]] = -9.0  # one check everyone passes
    reverse = checks[len(checks) // 2]["name"]  # one check that weaker students pass more often
    authors = [sc.independent(a) for a in sc.INDEPENDENT]
    release = sc.release_cells()
    planted = {}
    ids = [f"student{i:04d}" for i in range(n)]
    for j in range(min(PLANTED_PAIRS, n // 4)):
        planted[ids[n - 1 - j]] = ids[j]  # the last ones copy the first ones
    answers: dict[str, dict[str, str]] = {}
    rows = []
    for sid in ids:
        ability = rng.gauss(0, 1)
        status = "rejected" if rng.random() < 0.02 else ("error" if rng.random() < 0.01 else "graded")
        if sid in planted or sid in planted.values():
            status = "graded"  # both sides of a planted pair have answers to compare
        if sid in planted:
            cells = {e: sc.renamed(src, {"h": "hh", "x": "inp", "state": "carry"}) + "# checked\n"
                     for e, src in answers[planted[sid]].items()}
        else:
            cells = {}
            for e in release:
                source = rng.choice(authors).get(e)
                cells[e] = edited(rng, source, rng.randint(1, 4)) if source and rng.random() < 0.92 else release[e]
        answers[sid] = cells
        tests = []
        if status != "rejected":
            for number, c in enumerate(checks, start=1):
                logit = 1.7 * ((-ability if c["name"] == reverse else ability) - difficulty[c["name"]])
                ok = rng.random() < 1 / (1 + math.exp(-logit))
                tests.append({"name": c["name"], "number": str(number), "score": c["points"] if ok else 0.0,
                              "max_score": c["points"], "status": "passed" if ok else "failed",
                              "output": "Passed." if ok else failure(rng, c), "visibility": "after_due_date",
                              "tags": [c["exercise"]]})
        score = round(sum(t["score"] for t in tests), 4)
        ppl = rng.lognormvariate(1.6, 0.25) if status == "graded" else None
        results = {"score": score, "execution_time": round(rng.uniform(30, 70), 2), "output": "",
                   "output_format": "md", "visibility": "visible", "stdout_visibility": "hidden", "tests": tests,
                   "extra_data": {"submission_id": sid, "student_id": sid, "status": status, "isolation": "full",
                                  "max_autograded": float(cfg.autograded_points), "perplexity": ppl,
                                  "suspicious": bool(ppl and ppl < cfg.threshold.suspicious_perplexity)}}
        (folder / sid).mkdir(parents=True, exist_ok=True)
        (folder / sid / "results.json").write_text(json.dumps(results, indent=1))
        if status != "rejected":
            record = {"format": 1, "submission_id": sid, "student_id": sid, "answers": cells}
            (folder / sid / "answers.json").write_text(json.dumps(record, indent=1))
        rows.append({"student_id": sid, "timestamp": "", "score": score, "max_score": float(cfg.autograded_points),
                     "status": status})
    write_gradebook(folder / "gradebook.csv", cfg, rows)
    return {"planted": {k: v for k, v in planted.items()}, "checks": len(checks)}


def run(n: int, out: Path, console: Console) -> dict:
    folder = out / f"cohort-{n}"
    if folder.exists():
        shutil.rmtree(folder)  # an earlier run's cohort
    started = time.perf_counter()
    built = build_cohort(folder, n)
    build_s = time.perf_counter() - started
    console.print(f"built {n} graded submissions ({built['checks']} checks each) in {build_s:.1f} s: {folder}")
    with progress_bar(console) as progress:
        t0 = time.perf_counter()
        report = build_report(folder, folder / "report", progress)
        report_s = time.perf_counter() - t0
    with progress_bar(console) as progress:
        t0 = time.perf_counter()
        _, ranking = similarity(folder, folder / "similarity", progress)
        similarity_s = time.perf_counter() - t0
    planted = {frozenset(p) for p in built["planted"].items()}
    listed = [frozenset({p.a, p.b}) for p in ranking.pairs]
    top = set(listed[: len(planted)])
    return {
        "submissions": n, "checks": built["checks"], "build_s": round(build_s, 2),
        "report_s": round(report_s, 2), "similarity_s": round(similarity_s, 2),
        "report_bytes": report.stat().st_size, "pairs_listed": len(ranking.pairs),
        "planted_pairs": len(planted), "planted_in_top": len(planted & top),
        "common_fingerprints": sum(ranking.common.values()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--submissions", type=int, default=1000, help="cohort size (default 1000)")
    parser.add_argument("--quick", action="store_true", help="a 40-submission cohort (the smoke test)")
    parser.add_argument("--out", type=Path, default=OUT / "report.json", help="where to write the timings")
    args = parser.parse_args(argv)
    n = 40 if args.quick else args.submissions
    console = Console(stderr=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = run(n, args.out.parent, console)
    result["machine"] = {"python": platform.python_version(), "platform": platform.platform(),
                         "cpu": platform.processor() or platform.machine()}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    table = Table(title=f"Cohort passes on {n} synthetic submissions")
    for col in ("pass", "seconds"):
        table.add_column(col)
    table.add_row(f"course report (writes {REPORT_HTML}, plots, similarity)", f"{result['report_s']:.1f}")
    table.add_row("course similarity alone", f"{result['similarity_s']:.1f}")
    console.print(table)
    console.print(f"planted pairs in the top {result['planted_pairs']}: {result['planted_in_top']}; "
                  f"timings in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
