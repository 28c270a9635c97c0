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
