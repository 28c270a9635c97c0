"""Tests of bench/write_results.py: RESULTS.md from the benchmarks' JSON, written into tmp_path."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def wr():
    spec = importlib.util.spec_from_file_location("bench_write_results", BENCH / "write_results.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_write_results"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bench_write_results", None)


def lstm(bpc: float, steps: int) -> dict:
    return {"bpc": bpc, "perplexity": 2**bpc, "kind": "lstm", "steps": steps, "seconds": steps / 5,
            "cpu_seconds": steps / 5, "detail": "CharLSTM", "checkpoints": [{"step": steps, "bpc": bpc}]}


def model_report(one_x: float) -> dict:
    base = lambda bpc, kind: {"bpc": bpc, "perplexity": 2**bpc, "kind": kind, "detail": kind}
    return {"corpus": {"name": "toy", "train_chars": 1000, "heldout_chars": 100, "vocab_size": 9},
            "machine": {"cores": 2}, "results": {
                "uniform": base(3.17, "uniform"), "kn-2": base(2.5, "kneser-ney"), "kn-3": base(1.9, "kneser-ney"),
                "xz": base(1.4, "compression"),
                "lstm-1x": lstm(one_x, 10), "lstm-2x": lstm(1.7, 20), "lstm-4x": lstm(1.6, 40)}}


def tune_report(bpcs: list[float]) -> dict:
    configs = [{"lr": 0.01, "dropout": 0.1, "decay": 0.3, "batch": 64, "seq_len": 100, "clip": 1.0},
               {"lr": 0.01, "dropout": 0.1, "decay": 0.0, "batch": 64, "seq_len": 100, "clip": 1.0},
               {"lr": 0.01, "dropout": 0.0, "decay": 0.3, "batch": 64, "seq_len": 100, "clip": 1.0}]
    rows = [{"label": f"cand{i}", "config": c, "cpu_seconds_per_step": 0.1, "steps": 10, "bpc_half": b + 0.1, "bpc": b}
            for i, (c, b) in enumerate(zip(configs, bpcs))]
    return {"corpus": {"train_chars": 1000}, "tune": {"budget_cpu_seconds": 1.0, "budget_note": "10 steps of cand0",
                                                      "rows": rows, "best": min(rows, key=lambda r: r["bpc"])}}


def write(wr, tmp_path: Path, model: dict | None, tune: dict | None) -> str:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    if model:
        (out / "model.json").write_text(json.dumps(model))
    tune_path = tmp_path / "tune.json"
    if tune:
        tune_path.write_text(json.dumps(tune))
    results = tmp_path / "RESULTS.md"
    assert wr.main(["--out-dir", str(out), "--results", str(results), "--tune", str(tune_path)]) == 0
    return results.read_text()


@pytest.mark.parametrize("one_x, verdict", [(1.8, "beats"), (2.0, "does not beat")])
def test_model_verdict_compares_the_default_budget_with_the_best_ngram(wr, tmp_path, one_x, verdict):
    text = write(wr, tmp_path, model_report(one_x), None)
    assert f"the CharLSTM {verdict} the best n-gram, kn-3 ({one_x:.3f} against 1.900 bpc)" in text
    assert "At 4x the budget it reaches 1.600 bpc, 0.200 above xz (1.400)." in text


def test_model_verdict_says_when_longer_training_overfits(wr, tmp_path):
    model = model_report(1.65)
    model["results"]["lstm-4x"] = lstm(1.8, 40)
    text = write(wr, tmp_path, model, None)
    assert ("At 4x the budget it reaches 1.800 bpc, 0.400 above xz (1.400); the closest to xz is the 1x run, 0.250"
            in text)
    assert "overfits" in text
    assert "Choosing the notebook's CPU default" not in text  # no tune.json: no tune section


def test_tune_section_measures_each_setting_against_the_default(wr, tmp_path):
    text = write(wr, tmp_path, model_report(1.8), tune_report([1.6, 1.7, 1.75]))
    assert "The notebook's default, **cand0**, is the best candidate within the budget (1.600 bpc)." in text
    assert "(+0.100 bpc without it)" in text and "(+0.150 bpc without it)" in text  # decay, then dropout


def test_tune_section_says_when_the_default_is_not_the_best(wr, tmp_path):
    text = write(wr, tmp_path, model_report(1.8), tune_report([1.7, 1.6, 1.75]))
    assert ("Best within the budget: **cand1** (1.600 bpc). The notebook's default, **cand0**, is 0.100 bpc behind"
            in text)


def test_no_benchmark_output_is_a_clear_error(wr, tmp_path, capsys):
    args = ["--out-dir", str(tmp_path), "--results", str(tmp_path / "R.md"), "--tune", str(tmp_path / "t.json")]
    assert wr.main(args) == 2
    assert "run `make bench`" in capsys.readouterr().err
    assert not (tmp_path / "R.md").exists()


def test_report_section_from_the_cohort_benchmark(wr, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.json").write_text(json.dumps(
        {"submissions": 1000, "checks": 48, "report_s": 7.44, "similarity_s": 5.38, "planted_pairs": 10,
         "planted_in_top": 10}))
    text = write(wr, tmp_path, None, None)
    assert "## Cohort passes at scale" in text and "1,000 synthetic graded submissions" in text
    assert "| `course similarity` alone | 5.4 |" in text and "top 10 listed: 10" in text


def grading_report() -> dict:
    stats = lambda m: {"median": m, "min": m - 1, "max": m + 1}
    return {"submissions": 8, "copies": 2, "variants": ["solution", "untouched-release"], "training_steps": 200,
            "grader_training": True, "recipe": {"lr": 0.01, "batch": 16, "steps": 200}, "background_load": "",
            "load": {"start": [1.5, 1.2, 1.0], "jobs2": [2.0, 1.5, 1.1], "regrade": [2.1, 1.6, 1.2],
                     "alternating": [1.8, 1.4, 1.1], "as_used": [1.9, 1.5, 1.2]},
            "course_grade_s": stats(9.0), "nbgrader_autograde_s": stats(18.0), "ratio_median": 2.0,
            "as_used": {"nbgrader_autograde_s": 240.0, "course_grade_s": 9.0, "ratio": 26.7},
            "peak_worker_mb": {"course": 400, "nbgrader": 480},
            "course_grade_throughput": {"1": {"per_submission": stats(9.0), "wall_s": 80, "submissions_per_minute": 6},
                                        "2": {"per_submission": stats(12.0), "wall_s": 50,
                                              "submissions_per_minute": 9.6}},
            "solution_jobs2_s": stats(12.5), "breakdown_jobs2_solution": {"probes": 1.5, "judge": 2.5},
            "breakdown_jobs1_solution": {"probes": 1.0, "judge": 2.0},
            "regrade": {"per_submission": stats(6.0), "wall_s": 25, "trainings_reused": 6, "first_wall_s": 50}}


def test_grading_section_gives_both_ratios_the_breakdown_and_the_regrade(wr, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "grading.json").write_text(json.dumps(grading_report()))
    text = write(wr, tmp_path, None, None)
    assert "**Ratio with the same training work (nbgrader / course, medians): 2.00**" in text
    assert "**Ratio as each grader is used (nbgrader / course): 26.7**" in text
    assert "**The solution's median execution_time at --jobs 2: 12.5 s**" in text and "load 2 / 1.5 / 1.1" in text
    assert "| probes (the plan's calls) | 1.00 | 1.50 |" in text and "| trusted pytest judge | 2.00 | 2.50 |" in text
    assert "6 of 8 trainings reused from the cache, wall 25 s against 50 s the first time" in text


def test_a_benchmark_that_did_not_run_keeps_its_earlier_section(wr, tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## The lab's model against classic text models\n\nkept line\n\n"
                       "## Cohort passes at scale: old\n\nold report\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "grading.json").write_text(json.dumps(grading_report()))
    assert wr.main(["--out-dir", str(tmp_path / "out"), "--results", str(results), "--tune", str(tmp_path / "t"),
                    "--calibration", str(tmp_path / "none.json")]) == 0
    text = results.read_text()
    assert "kept line" in text and "old report" in text and "## Grading cost" in text


def test_calibration_section_shows_the_recipes_the_families_and_what_cannot_be_caught(wr, tmp_path):
    run = lambda v, f, ppl, steps=25: {"variant": v, "family": f, "seed": 0, "lr": 0.01, "batch": 8, "steps": steps,
                                       "status": "ok", "perplexity": ppl, "train_cpu_s": 1.0}
    record = {"recipe": {"lr": 0.01, "batch": 8, "steps": 25}, "threshold": 11.0, "rule": "worst x 1.1",
              "calibration_seeds": [0], "margins": {"correct": 1.1, "broken": 2.0, "worst_correct_run": "ref seed 0",
                                                    "closest_broken_run": "bad seed 0"},
              "cost": {"train_cpu_s": 1.0}, "trigram_perplexity": 5.6,
              "families": {"correct": ["ref"], "broken": ["bad"], "learns-anyway": ["meh"]},
              "recipes": [{"lr": 0.01, "batch": 8, "steps": 25, "cost_cpu_s": 1.0, "worst_correct": 10.0,
                           "threshold": 11.0, "best_broken": 22.0, "margin_broken": 2.0, "qualifies": True,
                           "why": ""}],
              "runs": [run("ref", "correct", 10.0), run("bad", "broken", 22.0), run("meh", "learns-anyway", 10.5)],
              "cannot_catch": [{"variant": "meh", "perplexity": [10.5], "threshold_catches": "0 of 1 seeds",
                                "caught_by": ["test_x: x is right"]}]}
    (tmp_path / "cal.json").write_text(json.dumps(record))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.json").write_text(json.dumps(
        {"submissions": 1, "checks": 1, "report_s": 1, "similarity_s": 1, "planted_pairs": 1, "planted_in_top": 1}))
    assert wr.main(["--out-dir", str(tmp_path / "out"), "--results", str(tmp_path / "R.md"), "--tune",
                    str(tmp_path / "t"), "--calibration", str(tmp_path / "cal.json")]) == 0
    text = (tmp_path / "R.md").read_text()
    assert "**Chosen: Adam lr 0.01, batch 8, 25 steps; threshold 11.000**" in text
    assert "| **0.01, 8, 25** | 1.0 | 10.000 | 11.000 | 22.000 | 2.00 | **chosen** |" in text
    assert "| bad | broken | 22.00 | - |" in text
    assert "- meh (measured under the chosen recipe: [10.5], the threshold catches it in 0 of 1 seeds): test_x" in text
