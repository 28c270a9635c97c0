"""Write bench/RESULTS.md (tables, machine, plot) from the JSON that the benchmarks left in bench/out/."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
PLOT_NAME = "model_bpc.png"  # committed beside RESULTS.md
CALIBRATION = BENCH.parent / "autograder" / "lab_rnn" / "calibration.json"  # its tables go into RESULTS.md


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _load_text(load) -> str:
    return "load " + " / ".join(f"{v:g}" for v in load) if isinstance(load, list) else "load not recorded"


BREAKDOWN_ROWS = (  # results.json timings -> what they measure
    ("read", "read the file"), ("assemble", "answer cells onto the template"),
    ("worker_imports", "probe worker: start, imports"), ("worker_cells", "probe worker: the cells"),
    ("probes", "probes (the plan's calls)"), ("stop_worker", "stop the worker"),
    ("threshold_worker", "training worker: start, imports, cells"), ("threshold_train", "grader-run training"),
    ("threshold_heldout", "held-out scoring (one column per call)"), ("threshold", "training step in all"),
    ("judge", "trusted pytest judge"), ("execution_time", "execution_time (results.json)"),
)


def grading_section(g: dict) -> list[str]:
    """The grader against nbgrader: both ratios, the --jobs 2 times, where the time goes, a regrade."""
    ours, theirs = g["course_grade_s"], g["nbgrader_autograde_s"]
    recipe = g.get("recipe") or {}
    label = f"Adam lr {recipe.get('lr')}, batch {recipe.get('batch')}, {recipe.get('steps')} steps"
    loads = g.get("load") or {}
    lines = [
        "## Grading cost: `course grade` against `nbgrader autograde`",
        "",
        f"{g['submissions']} submissions ({g.get('copies', 1)} distinct copies each of {', '.join(g['variants'])}: "
        "each copy's code differs by a comment, so that no copy reuses another's cached training). "
        f"Grader-run training: {'yes, ' + label + ' (calibration.json)' if g.get('grader_training', True) else 'no'}. "
        f"Machine load (1, 5, 15 min) at the start: {_load_text(loads.get('start'))}"
        + (f"; also running: {g['background_load']}" if g.get("background_load") else "") + ".",
        "",
        "**Same training work on both sides**: one submission at a time, alternately with each grader; nbgrader "
        "runs the notebook with its `parameters` cell set to the grader's recipe (and without the optional "
        f"estimate cell), so both train the same model for {g['training_steps']} steps "
        f"({_load_text(loads.get('alternating'))} at the end).",
        "",
        "| grader | median s | min s | max s | peak worker MB |",
        "|---|---|---|---|---|",
        f"| course grade | {ours['median']:.1f} | {ours['min']:.1f} | {ours['max']:.1f} | "
        f"{g['peak_worker_mb']['course']:.0f} |",
        f"| nbgrader autograde | {theirs['median']:.1f} | {theirs['min']:.1f} | {theirs['max']:.1f} | "
        f"{g['peak_worker_mb']['nbgrader']:.0f} |",
        "",
        f"**Ratio with the same training work (nbgrader / course, medians): {g['ratio_median']:.2f}**",
        "",
    ]
    used = g.get("as_used")
    if used:
        lines += [
            "**As each grader is used**: nbgrader executes the submitted notebook as it is, its own `parameters` "
            "cell and training included (and the optional estimate cell); `course grade` skips those cells and "
            f"runs its calibrated training. On the solution: nbgrader {used['nbgrader_autograde_s']:.0f} s, "
            f"course grade {used['course_grade_s']:.1f} s ({_load_text(loads.get('as_used'))} at the end).",
            "",
            f"**Ratio as each grader is used (nbgrader / course): {used['ratio']:.1f}**",
            "",
        ]
    lines += ["| `course grade` | median s per submission | max s | wall s | submissions per minute |",
              "|---|---|---|---|---|"]
    for jobs, t in sorted(g["course_grade_throughput"].items()):
        per = t["per_submission"]
        lines.append(f"| --jobs {jobs} | {per['median']:.1f} | {per['max']:.1f} | {t['wall_s']:.0f} | "
                     f"{t['submissions_per_minute']:.2f} |")
    solution = g.get("solution_jobs2_s")
    if solution:
        lines += ["", f"**The solution's median execution_time at --jobs 2: {solution['median']:.1f} s** "
                  f"(min {solution['min']:.1f}, max {solution['max']:.1f}; {_load_text(loads.get('jobs2'))} at the "
                  "end of that batch)."]
    parts = g.get("breakdown_jobs2_solution") or {}
    if parts:
        one = g.get("breakdown_jobs1_solution") or {}
        lines += ["", "Where the time goes (the solution's copies, medians of results.json's `timings`):", "",
                  "| part | --jobs 1 s | --jobs 2 s |", "|---|---|---|"]
        for key, what in BREAKDOWN_ROWS:
            if key in parts or key in one:
                shown = [f"{d[key]:.2f}" if key in d else "-" for d in (one, parts)]
                lines.append(f"| {what} | {shown[0]} | {shown[1]} |")
    regrade = g.get("regrade")
    if regrade:
        lines += ["", f"**A regrade of the same batch** into the same folder (the checks changed, say): "
                  f"{regrade['trainings_reused']} of {g['submissions']} trainings reused from the cache, wall "
                  f"{regrade['wall_s']:.0f} s against {regrade['first_wall_s']:.0f} s the first time, median "
                  f"{regrade['per_submission']['median']:.1f} s per submission "
                  f"({_load_text(loads.get('regrade'))} at the end)."]
    return lines + [""]


def calibration_section(c: dict) -> list[str]:
    """The threshold calibration: candidate recipes, the families under the chosen one, what it cannot catch."""
    r = c["recipe"]
    chosen = (r["lr"], r["batch"], r["steps"])
    margins = c.get("margins") or {}
    families = c.get("families") or {}
    lines = [
        "## Threshold calibration: the grader's recipe",
        "",
        f"`course calibrate` (autograder/lab_rnn/calibration.json) trained {len(families.get('correct', []))} correct, "
        f"{len(families.get('broken', []))} broken and {len(families.get('learns-anyway', []))} learns-anyway "
        f"CharLSTM / train_epoch pairs (autograder/lab_rnn/variants.py) over seeds {c.get('calibration_seeds')}, "
        "each once per learning rate and batch to the largest step count, scored at every candidate step count "
        "through the grader's own code. Cost: the reference's CPU seconds of training (one thread, median of the "
        "seeds).",
        "",
        f"**Chosen: Adam lr {r['lr']:g}, batch {r['batch']}, {r['steps']} steps; threshold {c['threshold']:.3f}** "
        f"({c['rule']}). Margins: correct side {margins.get('correct')} (worst correct run: "
        f"{margins.get('worst_correct_run')}), broken side {margins.get('broken')} (closest broken run: "
        f"{margins.get('closest_broken_run')}); training {c.get('cost', {}).get('train_cpu_s')} CPU s. "
        f"Trigram reference line: {c.get('trigram_perplexity')}.",
        "",
        "| recipe (lr, batch, steps) | CPU s | worst correct | threshold | closest broken | broken margin | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    fmt = lambda v, f=".3f": "-" if v is None else format(v, f)
    for row in sorted(c.get("recipes", []), key=lambda x: x["cost_cpu_s"]):
        key = (row["lr"], row["batch"], row["steps"])
        name = f"{row['lr']:g}, {row['batch']}, {row['steps']}"
        verdict = "**chosen**" if key == chosen else ("qualifies" if row["qualifies"] else row["why"][:70])
        lines.append(f"| {'**' + name + '**' if key == chosen else name} | {row['cost_cpu_s']:.1f} | "
                     f"{fmt(row['worst_correct'])} | {fmt(row['threshold'])} | {fmt(row['best_broken'])} | "
                     f"{fmt(row['margin_broken'], '.2f')} | {verdict} |")
    old = (0.002, 64, 500)  # a slower candidate, side by side with the chosen one
    lines += ["", "Each variant's held-out perplexity over the seeds (an error counts as caught):", "",
              "| variant | family | chosen recipe | Adam 2e-3, batch 64, 500 steps |",
              "|---|---|---|---|"]
    runs: dict[tuple, list] = {}
    for run in c.get("runs", []):
        runs.setdefault((run["variant"], run["lr"], run["batch"], run["steps"]), []).append(run)

    def cell(name: str, key: tuple) -> str:
        found = runs.get((name, *key), [])
        values = [f"{x['perplexity']:.2f}" if x["status"] == "ok" else x["status"] for x in found]
        return ", ".join(values) if values else "-"

    for family in ("correct", "broken", "learns-anyway"):
        for name in families.get(family, []):
            lines.append(f"| {name} | {family} | {cell(name, chosen)} | {cell(name, old)} |")
    cannot = c.get("cannot_catch") or []
    if cannot:
        lines += ["", "What a threshold cannot catch, and the unit check that does:", ""]
        for entry in cannot:
            what = entry.get("variant") or entry.get("bug")
            measured = (f" (measured under the chosen recipe: {entry.get('perplexity')}, the threshold catches it in "
                        f"{entry.get('threshold_catches')})" if entry.get("variant") else f" ({entry.get('why')})")
            lines.append(f"- {what}{measured}: {'; '.join(entry.get('caught_by') or [])}")
    return lines + [""]


def model_section(m: dict) -> list[str]:
    """The model table: n-grams, compressors and the LSTM at 1x, 2x, 4x the budget."""
    c = m["corpus"]
    lines = [
        "## The lab's model against classic text models",
        "",
        f"Corpus {c['name']}: {c['train_chars']:,} training and {c['heldout_chars']:,} held-out characters, "
        f"{c['vocab_size']} distinct. Bits per character on the held-out text (lower is better).",
        "",
        "| model | bpc | perplexity | detail |",
        "|---|---|---|---|",
    ]
    for name, row in sorted(m["results"].items(), key=lambda kv: -kv[1]["bpc"]):
        detail = row.get("detail", "")
        if row.get("kind") == "lstm":
            detail += f"; {row['steps']} steps, {row.get('cpu_seconds', row.get('seconds', 0)):.0f} CPU s"
        lines.append(f"| {name} | {row['bpc']:.3f} | {row['perplexity']:.2f} | {detail} |")
    lines += ["", f"![bpc against training time]({PLOT_NAME})", ""]
    return lines + model_verdict(m["results"])


def model_verdict(res: dict) -> list[str]:
    """Whether the default budget beats the best n-gram, and how close longer training gets to xz."""
    best_ngram = min((k for k in res if k.startswith("kn-")), key=lambda k: res[k]["bpc"])
    one, four, xz = res["lstm-1x"], res["lstm-4x"], res["xz"]
    closest = min((1, 2, 4), key=lambda m: res[f"lstm-{m}x"]["bpc"])
    beats = one["bpc"] < res[best_ngram]["bpc"]
    return [
        f"Within the notebook's default budget ({one['steps']} steps, {one['cpu_seconds']:.0f} CPU s) the CharLSTM "
        f"{'beats' if beats else 'does not beat'} the best n-gram, {best_ngram} "
        f"({one['bpc']:.3f} against {res[best_ngram]['bpc']:.3f} bpc). Each budget is its own run of the "
        "notebook's recipe, its learning-rate decay included. At 4x the budget it reaches "
        f"{four['bpc']:.3f} bpc, {four['bpc'] - xz['bpc']:.3f} above xz ({xz['bpc']:.3f})"
        + (f"; the closest to xz is the {closest}x run, {res[f'lstm-{closest}x']['bpc'] - xz['bpc']:.3f} above it: "
           "with more passes over the small corpus the recipe overfits (more dropout would be needed)."
           if closest != 4 else "."),
        "",
    ]


def tune_section(t: dict) -> list[str]:
    """Candidate CPU configurations at the same training budget."""
    tune = t["tune"]
    lines = [
        "## Choosing the notebook's CPU default",
        "",
        f"Every candidate trains for the same CPU time ({tune['budget_cpu_seconds']:.0f} s, {tune['budget_note']}), "
        "one thread; the step count follows from each candidate's measured cost per step.",
        "",
        "| configuration | CPU s per step | steps | bpc at half | bpc |",
        "|---|---|---|---|---|",
    ]
    for row in sorted(tune["rows"], key=lambda r: r["bpc"]):
        lines.append(f"| {row['label']} | {row['cpu_seconds_per_step']:.3f} | {row['steps']} | "
                     f"{row['bpc_half']:.3f} | {row['bpc']:.3f} |")
    default = tune["rows"][0]  # the first candidate is the notebook's default configuration
    best = tune["best"]
    if best["label"] == default["label"]:
        lines += ["", f"The notebook's default, **{default['label']}**, is the best candidate within the budget "
                  f"({default['bpc']:.3f} bpc)."]
    else:
        lines += ["", f"Best within the budget: **{best['label']}** ({best['bpc']:.3f} bpc). The notebook's default, "
                  f"**{default['label']}**, is {default['bpc'] - best['bpc']:.3f} bpc behind (one seed each)."]
    return lines + [""] + tune_rationale(tune["rows"], t["corpus"]["train_chars"]) + [""]


def tune_rationale(rows: list[dict], train_chars: int) -> list[str]:
    """Why the default looks the way it does, with the gains measured by the candidates that differ in one setting."""
    default = rows[0]

    def gain(**changed) -> str:
        """bpc lost when the default's settings are changed as given (when a candidate did exactly that)."""
        for row in rows[1:]:
            diff = {k: v for k, v in row["config"].items() if v != default["config"][k]}
            if diff == changed:
                return f"{row['bpc'] - default['bpc']:+.3f} bpc without it"
        return "not measured here"

    cfg = default["config"]
    return [
        "Why this default: the corpus is small, so the default budget reads it about "
        f"{default['steps'] * cfg['batch'] * cfg['seq_len'] / train_chars:.0f} times. A high peak learning rate "
        f"({cfg['lr']:g}, gradients clipped at norm {cfg['clip']:g}) covers ground fast; "
        "the linear decay to 0 over the "
        f"last {cfg['decay']:.0%} of the steps then settles the weights ({gain(decay=0.0)}); light dropout "
        f"({cfg['dropout']:g}) holds back the overfitting that sets in after a few passes over the text "
        f"({gain(dropout=0.0)}). Wider models get too few steps in the same CPU time, narrower ones have too "
        "little capacity. The grader's threshold training keeps its own recipe, chosen by `course calibrate` "
        "(see the calibration section).",
    ]


def report_section(r: dict) -> list[str]:
    """The cohort passes (`course report`, `course similarity`) on a synthetic graded cohort."""
    return [
        "## Cohort passes at scale: `course report` and `course similarity`",
        "",
        f"bench/report.py: {r['submissions']:,} synthetic graded submissions ({r['checks']} checks each, answer "
        f"cells from six independent solutions edited per student, {r['planted_pairs']} planted copies), one "
        "process, one core.",
        "",
        "| pass | seconds |",
        "|---|---|",
        f"| `course report` (item analysis, mistakes, similarity, plots, report.html) | {r['report_s']:.1f} |",
        f"| `course similarity` alone | {r['similarity_s']:.1f} |",
        "",
        f"Planted pairs among the top {r['planted_pairs']} listed: {r['planted_in_top']}.",
        "",
    ]


def kept_sections(path: Path) -> dict[str, list[str]]:
    """The sections of an existing RESULTS.md by heading ('## ...'), to keep when their benchmark did not run."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
        if line.startswith("## "):
            current = line
            sections[current] = []
        if current:
            sections[current].append(line)
    return sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out-dir", type=Path, default=OUT, help="where the benchmarks wrote their JSON")
    parser.add_argument("--results", type=Path, default=BENCH / "RESULTS.md")
    parser.add_argument("--tune", type=Path, default=BENCH / "tune.json",
                        help="the committed `bench/model.py --tune` output behind the choice of the default")
    parser.add_argument("--calibration", type=Path, default=CALIBRATION, help="the committed calibration.json")
    args = parser.parse_args(argv)
    grading, model = _load(args.out_dir / "grading.json"), _load(args.out_dir / "model.json")
    report = _load(args.out_dir / "report.json")
    tune, calibration = _load(args.tune), _load(args.calibration)
    if calibration is not None and "recipe" not in calibration:
        calibration = None  # a calibration from before the families
    if not (grading or model or report):
        print(f"bench/write_results.py: no benchmark output in {args.out_dir}; run `make bench`.", file=sys.stderr)
        return 2
    old = kept_sections(args.results)  # a benchmark that did not run this time keeps its earlier section

    def keep(prefix: str) -> list[str]:
        found = next((lines for heading, lines in old.items() if heading.startswith(prefix)), [])
        return found + ([""] if found and found[-1] else [])

    machine = (model or {}).get("machine") or (grading or {}).get("machine")
    lines = ["# Benchmark results", "", "Written by `make bench` (bench/write_results.py); "
             "every figure in one table was measured in the same run on the same machine.", ""]
    if machine:
        lines += [f"Machine: {json.dumps(machine) if isinstance(machine, dict) else machine}", ""]
    lines += grading_section(grading) if grading else keep("## Grading cost")
    if calibration:
        lines += calibration_section(calibration)
    if model:
        lines += model_section(model)
        plot = (args.out_dir / "model.png")
        if plot.is_file():
            shutil.copyfile(plot, args.results.parent / PLOT_NAME)
    else:
        lines += keep("## The lab's model")
    if tune:
        lines += tune_section(tune)
    lines += report_section(report) if report else keep("## Cohort passes at scale")
    args.results.write_text("\n".join(lines))
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
