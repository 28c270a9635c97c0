"""Tests of bench/model.py: n-gram and Kneser-Ney models, LSTM helpers and a --quick smoke run."""
from __future__ import annotations

import importlib.util
import json
import math
import os
import random
import re
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from course.authoring.solution import solution_namespace
from course.config import load_config

BENCH = Path(__file__).resolve().parents[2] / "bench" / "model.py"
TEXT = "abracadabra, alakazam; a bad cab. " * 3 + "the quick brown fox jumps over the lazy dog. "
VOCAB = sorted(set(TEXT) | {"#", "Z"})  # two characters never seen in training


@pytest.fixture(scope="module")
def bm():
    spec = importlib.util.spec_from_file_location("bench_model", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_model"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bench_model", None)


def test_ngram_counts(bm):
    assert bm.ngram_counts("abab", 2) == Counter({"ab": 2, "ba": 1})
    assert bm.ngram_counts("abab", 5) == Counter()


@pytest.mark.parametrize("order", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("history", ["", "a", "ab", "abra", "cadab", "Z#Z#", "q"])
def test_kneser_ney_sums_to_one(bm, order, history):
    kn = bm.KneserNey(TEXT, 6, len(VOCAB))
    total = sum(kn.prob(history, c, order) for c in VOCAB)
    assert total == pytest.approx(1.0, abs=1e-12)
    assert all(kn.prob(history, c, order) > 0 for c in VOCAB)


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("history", ["", "ab", "Z#"])
def test_add_k_sums_to_one(bm, order, history):
    model = bm.AddK(TEXT, order, len(VOCAB), k=0.1)
    assert sum(model.prob(history, c) for c in VOCAB) == pytest.approx(1.0, abs=1e-12)


def test_kneser_ney_order_one_is_absolute_discounting(bm):
    """Order 1: P(c) = (max(N(c) - D, 0) + D T / V) / N with D = n1 / (n1 + 2 n2), whatever the history."""
    counts = Counter(TEXT)
    n1 = sum(1 for n in counts.values() if n == 1)
    n2 = sum(1 for n in counts.values() if n == 2)
    d = n1 / (n1 + 2 * n2)
    assert 0 < d < 1
    kn = bm.KneserNey(TEXT, 3, len(VOCAB))
    for c in VOCAB:
        expected = (max(counts[c] - d, 0) + d * len(counts) / len(VOCAB)) / len(TEXT)
        assert kn.prob("", c, 1) == pytest.approx(expected, rel=1e-12)
        assert kn.prob("abr", c, 1) == kn.prob("", c, 1)


def test_kneser_ney_uses_its_context(bm):
    kn = bm.KneserNey(TEXT, 4, len(VOCAB))
    assert kn.prob("abr", "a", 4) > 0.8  # "abr" is always followed by "a"
    assert kn.prob("abr", "a", 4) > kn.prob("abr", "a", 1)


def test_repeated_text_has_low_heldout_entropy(bm):
    sentence = "the quick brown fox jumps over the lazy dog; pack my box with five dozen jugs. "
    train, heldout = sentence * 40, sentence * 3
    vocab_size = len(set(sentence)) + 5
    kn = bm.KneserNey(train, 5, vocab_size)
    text = train + heldout
    assert bm.bits_per_char(kn.prob, text, len(train), 4) < 0.1
    assert bm.bits_per_char(lambda h, c: 1 / vocab_size, text, len(train), 0) == pytest.approx(math.log2(vocab_size))
    assert bm.compression_bpc("xz", train, heldout) < 0.5
    rng = random.Random(0)
    unseen = "".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in heldout)  # ~14 bits of entropy per character
    assert bm.compression_bpc("xz", train, unseen) > 8


def test_stream_windows_are_consecutive(bm):
    ids = torch.arange(1001)
    windows = bm.stream_windows(ids, batch=4, seq_len=10)
    x0, y0, fresh0 = next(windows)
    x1, _, fresh1 = next(windows)
    assert x0.shape == (4, 10) and fresh0 and not fresh1
    assert torch.equal(y0, x0 + 1)
    assert torch.equal(x1[:, 0], x0[:, -1] + 1)  # each stream continues where it stopped
    assert torch.equal(x0[:, 0], torch.arange(4) * 250)
    flags = [fresh0, fresh1] + [next(windows)[2] for _ in range(48)]
    assert [i for i, f in enumerate(flags) if f] == [0, 25]  # 25 windows per pass of 250 characters


def test_lstm_eval_carries_state_across_chunks(bm):
    torch.manual_seed(0)
    model = bm.charlstm(7, bm.LSTMConfig(embed=4, hidden=8))
    context, target = torch.randint(0, 7, (5,)), torch.randint(0, 7, (50,))
    whole = bm.lstm_bpc(model, context, target, chunk=1000)
    assert bm.lstm_bpc(model, context, target, chunk=7) == pytest.approx(whole, rel=1e-5)
    assert bm.lstm_bpc(model, context[-1:], target) != pytest.approx(whole, rel=1e-5)  # context matters


def test_the_benchmarked_charlstm_is_the_notebooks_solution(bm):
    cfg = bm.LSTMConfig(embed=4, hidden=8, layers=2, dropout=0.3)
    notebook = solution_namespace(load_config(), ["CharLSTM"])["CharLSTM"]
    torch.manual_seed(0)
    ours = bm.charlstm(7, cfg).eval()
    torch.manual_seed(0)
    theirs = notebook(7, cfg.embed, cfg.hidden, cfg.layers, cfg.dropout).eval()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    x = torch.randint(0, 7, (3, 6))
    assert torch.equal(ours(x)[0], theirs(x)[0])
    assert ours.lstm.dropout == 0.3 and ours.drop.p == 0.3


def test_lstm_learns_a_repeated_text(bm):
    torch.set_num_threads(1)
    ids = torch.tensor([i % 5 for i in range(2000)])
    cfg = bm.LSTMConfig(embed=8, hidden=16, batch=4, seq_len=20, lr=1e-2)
    model, points = bm.train_lstm(ids, 5, cfg, 60, eval_at={60}, evaluate=lambda m: bm.lstm_bpc(m, ids[:1], ids[1:200]))
    assert points[0]["step"] == 60 and points[0]["seconds"] > 0
    assert points[0]["bpc"] < 0.5 < math.log2(5)
    assert 0 < points[0]["train_bpc"] < math.log2(5)


def notebook_schedule() -> str:
    """The `lambda done: ...` learning-rate factor of the source notebook's training cell."""
    nb = json.loads((BENCH.parent.parent / "source" / "lab_rnn" / "lab_rnn.ipynb").read_text())
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        match = re.search(r"LambdaLR\(optimizer, (lambda done: .*)\)$", src, re.M)
        if match:
            return match.group(1)
    raise AssertionError("no LambdaLR schedule in the notebook's training cell")


@pytest.mark.parametrize("steps, decay", [(800, 0.3), (10, 0.2), (7, 0.0), (5, 1.0)])
def test_lr_scale_is_the_notebooks_schedule(bm, steps, decay):
    decay_steps = max(1, round(decay * steps))
    factor = eval(notebook_schedule(), {"STEPS": steps, "decay_steps": decay_steps, "min": min})
    scales = [bm.lr_scale(done, steps, decay) for done in range(steps)]
    assert scales == pytest.approx([factor(done) for done in range(steps)])
    assert all(0 < s <= 1 for s in scales) and scales == sorted(scales, reverse=True)
    flat = steps - (decay_steps if decay else 0)
    assert scales[:flat] == [1.0] * flat  # constant, then a linear fall over the decay steps


def test_missing_config_is_a_clear_error(bm, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_CONFIG", str(tmp_path / "missing.py"))
    assert bm.main(["--quick", "--out", str(tmp_path / "m.json")]) == 2
    assert "No course configuration" in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()


def test_quick_run_reports_every_model(tmp_path):
    out = tmp_path / "model.json"
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl")}
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--jobs", "2", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    res = report["results"]
    names = ["uniform", "unigram", "bigram", "trigram", "kn-1", "kn-2", "kn-3", "kn-4",
             "gzip", "bzip2", "xz", "lstm-1x", "lstm-2x", "lstm-4x"]
    assert sorted(res) == sorted(names)
    for name in names:
        assert math.isfinite(res[name]["bpc"]) and res[name]["bpc"] > 0, name
        assert res[name]["perplexity"] == pytest.approx(2 ** res[name]["bpc"], rel=1e-3)
    assert res["uniform"]["bpc"] == pytest.approx(math.log2(report["corpus"]["vocab_size"]), abs=1e-4)
    assert res["uniform"]["bpc"] > res["unigram"]["bpc"] > res["bigram"]["bpc"] > res["trigram"]["bpc"]
    assert res["kn-2"]["bpc"] > res["kn-3"]["bpc"] > res["kn-4"]["bpc"]
    assert res["kn-4"]["bpc"] < res["trigram"]["bpc"]
    for name in ("gzip", "bzip2", "xz"):
        assert res[name]["bpc"] < 8
    assert [res[f"lstm-{m}x"]["steps"] for m in (1, 2, 4)] == [10, 20, 40]
    for m in (1, 2, 4):  # separate runs, each with its own checkpoints, the last one at its budget
        points = res[f"lstm-{m}x"]["checkpoints"]
        assert [p["step"] for p in points][-1] == 10 * m and res[f"lstm-{m}x"]["bpc"] == points[-1]["bpc"]
    assert report["jobs"] == 2  # the three runs trained in worker processes
    assert res["lstm-4x"]["bpc"] < res["lstm-1x"]["bpc"] < res["uniform"]["bpc"]
    assert res["lstm-1x"]["seconds"] < res["lstm-4x"]["seconds"]
    assert report["machine"]["torch_threads"] == 1
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tune_gives_every_candidate_the_same_budget(bm):
    torch.set_num_threads(1)
    text = "".join(sorted(set(TEXT))) + TEXT * 10
    small = bm.LSTMConfig(embed=4, hidden=8, batch=4, seq_len=10)
    candidates = [small, replace(small, lr=1e-2), replace(small, hidden=16, seq_len=20)]
    report = bm.run_tune(text[:-300], text[-300:], sorted(set(text)), steps=8, seed=0, log=lambda m: None,
                         candidates=candidates)
    rows = report["rows"]
    assert [r["label"] for r in rows] == [c.label() for c in candidates]
    assert rows[0]["steps"] == 8  # the first candidate defines the budget
    assert rows[0]["cpu_seconds_per_step"] == rows[1]["cpu_seconds_per_step"]  # lr does not change the cost
    assert all(r["steps"] >= 2 and math.isfinite(r["bpc"]) for r in rows)
    assert report["best"] == min(rows, key=lambda r: r["bpc"])


@pytest.mark.parametrize("steps, checkpoints, expected", [(7, 2, [4, 7]), (9, 4, [2, 4, 7, 9]), (3, 4, [1, 2, 3])])
def test_lstm_run_evaluates_its_checkpoints_once_each(bm, steps, checkpoints, expected):
    ids = torch.tensor([i % 5 for i in range(400)])
    run = bm.LSTMRun(ids, ids[:1], ids[1:50], 5, bm.LSTMConfig(embed=4, hidden=8, batch=2, seq_len=10), steps,
                     seed=0, checkpoints=checkpoints)
    points = bm.lstm_run(run)
    assert [p["step"] for p in points] == expected
    assert all(math.isfinite(p["bpc"]) for p in points)
