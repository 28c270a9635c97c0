"""Held-out bits per character of classic text models, compressors and the lab's reference CharLSTM."""
from __future__ import annotations

import argparse
import bz2
import functools
import gzip
import json
import lzma
import math
import multiprocessing
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from course.authoring.solution import solution_namespace
from course.config import load_config
from course.corpus import CorpusError, load_course_corpus
from course.errors import ConfigError

OUT_DIR = Path(__file__).resolve().parent / "out"
TUNE_JSON = Path(__file__).resolve().parent / "tune.json"  # committed: RESULTS.md justifies the default from it
LN2 = math.log(2)
ADD_K_GRID = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003)


def entry(bpc: float, **detail) -> dict:
    """One result row: bits per character, per-character perplexity and free-form details."""
    return {"bpc": round(bpc, 4), "perplexity": round(2.0**bpc, 4), **detail}


# --------------------------------------------------------------------------- n-gram models


def ngram_counts(text: str, n: int) -> Counter:
    """Counts of every length-n substring of text."""
    return Counter(text[i : i + n] for i in range(len(text) - n + 1))


def bits_per_char(prob: Callable[[str, str], float], text: str, start: int, context: int) -> float:
    """Mean -log2 prob(history, text[i]) over positions i >= start.

    Args:
        prob: P(char | history); history holds at most `context` preceding characters.
        text: the conditioning text followed by the scored text.
        start: index of the first scored character.
        context: characters of history the model uses (order - 1).
    """
    bits = sum(-math.log2(prob(text[max(0, i - context) : i], text[i])) for i in range(start, len(text)))
    return bits / (len(text) - start)


class AddK:
    """Character n-gram with add-k smoothing: P(c | h) = (N(hc) + k) / (N(h.) + k V)."""

    def __init__(self, train: str, order: int, vocab_size: int, k: float = 1.0):
        self.order, self.V, self.k = order, vocab_size, k
        self.grams = ngram_counts(train, order)
        self.contexts = Counter()
        for gram, n in self.grams.items():
            self.contexts[gram[:-1]] += n

    def prob(self, history: str, char: str) -> float:
        h = history[max(0, len(history) - self.order + 1) :]
        return (self.grams[h + char] + self.k) / (self.contexts[h] + self.k * self.V)


def fit_add_k(train: str, order: int, vocab_size: int) -> AddK:
    """An AddK model whose k is chosen on the last 10 % of the training text, then refit on all of it."""
    cut = int(len(train) * 0.9)
    model = AddK(train[:cut], order, vocab_size)

    def dev_bpc(k: float) -> float:
        model.k = k
        return bits_per_char(model.prob, train, cut, order - 1)

    return AddK(train, order, vocab_size, k=min(ADD_K_GRID, key=dev_bpc))


class _Level:
    """The counts of one n-gram order with, per context h, S(h) = sum_c N(hc), T(h) = #{c: N(hc) > 0}."""

    def __init__(self, counts: Counter):
        self.counts = counts
        self.total, self.types = Counter(), Counter()
        for gram, n in counts.items():
            self.total[gram[:-1]] += n
            self.types[gram[:-1]] += 1
        n1 = sum(1 for n in counts.values() if n == 1)
        n2 = sum(1 for n in counts.values() if n == 2)
        self.discount = n1 / (n1 + 2 * n2) if n1 else 0.5  # Ney et al.'s estimate, always < 1


class KneserNey:
    """Interpolated Kneser-Ney character n-gram with one discount D_k per order k.

    P_k(c | h) = (max(N_k(hc) - D_k, 0) + D_k T_k(h) P_{k-1}(c | h[1:])) / S_k(h), with P_0 = 1 / V,
    and P_k = P_{k-1} where the context h was never seen. The model's top order k = n counts
    occurrences; lower orders count distinct left neighbours (continuation counts). So order 1 is
    absolute discounting of the character counts toward the uniform distribution.
    One model serves every order up to max_order.
    """

    def __init__(self, train: str, max_order: int, vocab_size: int):
        self.order, self.V = max_order, vocab_size
        raw = [ngram_counts(train, k) for k in range(1, max_order + 1)]
        self.raw = [None] + [_Level(c) for c in raw]
        # continuation count of g = number of distinct characters seen before g
        self.cont = [None] + [_Level(Counter(g[1:] for g in raw[k])) for k in range(1, max_order)]

    def prob(self, history: str, char: str, order: int | None = None) -> float:
        """P(char | last order-1 characters of history) under the order-`order` model."""
        order = order or self.order
        p = 1.0 / self.V
        for k in range(1, order + 1):
            level = self.raw[k] if k == order else self.cont[k]
            h = history[max(0, len(history) - k + 1) :]
            s = level.total.get(h, 0) if len(h) == k - 1 else 0
            if s:
                d = level.discount
                p = (max(level.counts.get(h + char, 0) - d, 0.0) + d * level.types[h] * p) / s
        return p


# --------------------------------------------------------------------------- compressors

COMPRESSORS = {
    "gzip": lambda data: gzip.compress(data, compresslevel=9, mtime=0),
    "bzip2": lambda data: bz2.compress(data, compresslevel=9),
    "xz": lambda data: lzma.compress(data, preset=9 | lzma.PRESET_EXTREME),
}


def compression_bpc(name: str, train: str, heldout: str) -> float:
    """Bits per held-out character of conditional compression: 8 (|C(train + test)| - |C(train)|) / chars."""
    compress = COMPRESSORS[name]
    a, b = train.encode("utf-8"), heldout.encode("utf-8")
    return 8 * (len(compress(a + b)) - len(compress(a))) / len(heldout)


# --------------------------------------------------------------------------- reference CharLSTM


@dataclass(frozen=True)
class LSTMConfig:
    """Hyper-parameters of the reference CharLSTM and its truncated-BPTT training.

    The defaults are the notebook's CPU defaults (its `parameters` cell).
    """

    embed: int = 64
    hidden: int = 256
    layers: int = 1
    batch: int = 64
    seq_len: int = 100
    lr: float = 1e-2
    clip: float = 1.0
    dropout: float = 0.1  # on the embeddings and on the LSTM output
    decay: float = 0.3  # the last fraction of the steps decays the learning rate linearly to 0

    def label(self) -> str:
        drop = f" drop{self.dropout:g}" if self.dropout else ""
        decay = f" decay{self.decay:g}" if self.decay else " constant"
        batch = f" b{self.batch}" if self.batch != 64 else ""
        return f"h{self.hidden} L{self.layers}{batch} seq{self.seq_len} lr{self.lr:g}{drop}{decay}"


def lr_scale(done: int, steps: int, decay: float) -> float:
    """Learning-rate factor after `done` of `steps` steps: 1, then linear to 0 over the last `decay` fraction.

    The notebook's schedule: LambdaLR with min(1, (STEPS - done) / decay_steps).
    """
    decay_steps = max(1, round(decay * steps)) if decay else 0
    return min(1.0, (steps - done) / decay_steps) if decay_steps else 1.0


@functools.cache
def notebook_charlstm() -> type[nn.Module]:
    """The CharLSTM class of the source notebook's solution cell (trusted instructor code, run in this process)."""
    return solution_namespace(load_config(), ["CharLSTM"])["CharLSTM"]


def charlstm(vocab_size: int, cfg: LSTMConfig) -> nn.Module:
    """The notebook's CharLSTM with cfg's sizes: embedding -> LSTM -> linear, dropout before and after the LSTM.

    Called as ``model(x, state)``: x [batch, seq_len] ids, state (h, c) each [layers, batch, hidden] or None;
    returns logits [batch, seq_len, vocab] and the new state.
    """
    return notebook_charlstm()(vocab_size, cfg.embed, cfg.hidden, cfg.layers, cfg.dropout)


def stream_windows(ids: torch.Tensor, batch: int, seq_len: int):
    """Endless training windows for truncated BPTT over `batch` contiguous streams of the text.

    Args:
        ids: [n] character ids.
    Yields:
        x, y: [batch, seq_len] inputs and next-character targets, consecutive within each stream;
        fresh: True on the first window of each pass over the text (the state is reset there).
    """
    per_stream = (len(ids) - 1) // batch
    xs = ids[: per_stream * batch].view(batch, per_stream)
    ys = ids[1 : per_stream * batch + 1].view(batch, per_stream)
    while True:
        for s in range(0, per_stream - seq_len + 1, seq_len):
            yield xs[:, s : s + seq_len], ys[:, s : s + seq_len], s == 0


@torch.no_grad()
def lstm_bpc(model: nn.Module, context: torch.Tensor, target: torch.Tensor, chunk: int = 1000) -> float:
    """Bits per character of `target`, read as one stream with the state carried throughout.

    Args:
        context: [c] ids read first (c >= 1); its last id predicts target[0].
        target: [n] ids scored.
    """
    model.eval()
    ids = torch.cat([context, target])
    nll, state = [], None
    for s in range(0, len(ids) - 1, chunk):
        y = ids[s + 1 : s + chunk + 1]
        logits, state = model(ids[s : s + len(y)][None], state)  # [1, chunk, vocab]
        nll.append(F.cross_entropy(logits[0], y, reduction="none"))
    model.train()
    return torch.cat(nll)[-len(target) :].mean().item() / LN2


def train_lstm(train_ids, vocab_size, cfg, steps, eval_at=(), evaluate=None, seed=0, log=None):
    """Train the notebook's CharLSTM with Adam for a fixed number of steps, carrying a detached state.

    The learning rate follows the notebook's schedule over exactly `steps` steps (see lr_scale),
    so a run of N steps is the notebook's recipe with STEPS = N, not a checkpoint of a longer run.

    Args:
        train_ids: [n] training character ids.
        eval_at: steps after which a checkpoint is recorded (held-out bpc if `evaluate` is given).
        evaluate: model -> held-out bpc, or None to record times only.
    Returns:
        (model, checkpoints), each {"step", "seconds", "cpu_seconds", "bpc", "train_bpc"}: wall and
        process CPU seconds of training only (not evaluation; with one torch thread, CPU seconds are
        the wall time on an otherwise idle core), and the mean training loss since the last checkpoint.
    """
    torch.manual_seed(seed)
    model = charlstm(vocab_size, cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    windows = stream_windows(train_ids, cfg.batch, cfg.seq_len)
    state, seconds, cpu, points, losses = None, 0.0, 0.0, [], []
    for step in range(1, steps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_scale(step - 1, steps, cfg.decay)
        x, y, fresh = next(windows)
        logits, state = model(x, None if fresh else state)  # [batch, seq_len, vocab]
        state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        seconds, cpu = seconds + time.perf_counter() - t0, cpu + time.process_time() - c0
        losses.append(loss.item())
        if step in eval_at:
            bpc = evaluate(model) if evaluate else None
            points.append({"step": step, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
                           "bpc": None if bpc is None else round(bpc, 4),
                           "train_bpc": round(sum(losses) / len(losses) / LN2, 4)})
            losses = []
            if log:
                log(f"  {cfg.label()} step {step}: {seconds:.1f} s ({cpu:.1f} s CPU)"
                    + ("" if bpc is None else f", held-out {bpc:.3f} bpc"))
    return model, points


def encode_split(vocab: list[str], train: str, heldout: str):
    """Character ids: train [n], held-out context [1] (the last training character) and held-out target [m]."""
    stoi = {c: i for i, c in enumerate(vocab)}
    encode = lambda s: torch.tensor([stoi[c] for c in s], dtype=torch.long)
    return encode(train), encode(train[-1:]), encode(heldout)


def cpu_seconds_per_step(train_ids, vocab_size, cfg, warmup=3, timed=10) -> float:
    """Process CPU seconds per training step of cfg (fresh model, after a few warm-up steps)."""
    _, (a, b) = train_lstm(train_ids, vocab_size, cfg, warmup + timed, eval_at={warmup, warmup + timed})
    return (b["cpu_seconds"] - a["cpu_seconds"]) / timed


# --------------------------------------------------------------------------- benchmark


def machine(threads: int) -> dict:
    """A short description of this machine and of the torch threads used."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": threads, "python": platform.python_version(),
            "torch": torch.__version__, "platform": platform.platform()}


@dataclass(frozen=True)
class LSTMRun:
    """One CharLSTM training run, picklable for a worker process."""

    train_ids: torch.Tensor  # [n] training ids
    context: torch.Tensor  # [1] the id read before the held-out text
    target: torch.Tensor  # [m] held-out ids scored
    vocab_size: int
    cfg: LSTMConfig
    steps: int
    seed: int
    threads: int = 1  # torch threads of the run
    checkpoints: int = 4  # held-out evaluations, evenly spaced; the last one at `steps` (fewer when steps is smaller)


def lstm_run(run: LSTMRun) -> list[dict]:
    """Train one run and return its checkpoints (see train_lstm), evaluated on the held-out text."""
    torch.set_num_threads(run.threads)
    eval_at = {max(1, round(run.steps * k / run.checkpoints)) for k in range(1, run.checkpoints + 1)}
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    _, points = train_lstm(run.train_ids, run.vocab_size, run.cfg, run.steps, eval_at,
                           lambda m: lstm_bpc(m, run.context, run.target), seed=run.seed, log=log)
    return points


def run_parallel(fn: Callable, items: list, jobs: int) -> list:
    """[fn(item) for item in items], in `jobs` fresh worker processes when jobs > 1 (in order)."""
    if jobs <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ProcessPoolExecutor(min(jobs, len(items)), mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(fn, items))


def run_baselines(train: str, heldout: str, V: int, max_order: int, log) -> dict:
    """Held-out bpc of the uniform model, add-k and Kneser-Ney n-grams and the compressors."""
    text, start = train + heldout, len(train)
    res = {"uniform": entry(math.log2(V), kind="uniform", detail=f"V = {V}")}
    for order, name in [(1, "unigram"), (2, "bigram"), (3, "trigram")]:
        t0 = time.perf_counter()
        model = fit_add_k(train, order, V)
        res[name] = entry(bits_per_char(model.prob, text, start, order - 1), kind="add-k", order=order,
                          detail=f"add-k, k = {model.k:g} (chosen on the last 10% of train)")
        log(f"{name}: {res[name]['bpc']:.3f} bpc ({time.perf_counter() - t0:.1f} s)")
    t0 = time.perf_counter()
    kn = KneserNey(train, max_order, V)
    log(f"Kneser-Ney counts up to order {max_order}: {time.perf_counter() - t0:.1f} s")
    for order in range(1, max_order + 1):
        prob = lambda h, c, n=order: kn.prob(h, c, n)
        res[f"kn-{order}"] = entry(bits_per_char(prob, text, start, order - 1), kind="kneser-ney", order=order,
                                   detail="interpolated Kneser-Ney, one discount per order")
        log(f"kn-{order}: {res[f'kn-{order}']['bpc']:.3f} bpc")
    for name in COMPRESSORS:
        res[name] = entry(compression_bpc(name, train, heldout), kind="compression",
                          detail="8 * (|C(train + test)| - |C(train)|) / held-out chars, UTF-8, max level")
        log(f"{name}: {res[name]['bpc']:.3f} bpc")
    return res


def run_models(train: str, heldout: str, vocab: list[str], max_order: int, lstm_cfg: LSTMConfig,
               steps: int, seed: int, log, jobs: int = 1, threads: int = 1) -> dict:
    """Every model's held-out bpc. Returns {name: entry}; LSTM entries also carry their checkpoints.

    The LSTM trains three separate runs of `steps`, 2 x `steps` and 4 x `steps` (the learning-rate
    schedule spans each run), in `jobs` worker processes of `threads` torch threads.
    """
    V = len(vocab)
    train_ids, context, target = encode_split(vocab, train, heldout)
    runs = {mult: LSTMRun(train_ids, context, target, V, lstm_cfg, mult * steps, seed, threads) for mult in (4, 2, 1)}
    with ThreadPoolExecutor(1) as background:  # the n-grams are counted while the LSTM runs train
        trained = background.submit(run_parallel, lstm_run, list(runs.values()), jobs)
        res = run_baselines(train, heldout, V, max_order, log)
        points_per_run = trained.result()
    for (mult, run), points in zip(runs.items(), points_per_run):
        end = points[-1]
        log(f"lstm-{mult}x: {end['bpc']:.3f} bpc after {run.steps} steps ({end['cpu_seconds']:.0f} CPU s)")
        res[f"lstm-{mult}x"] = entry(end["bpc"], kind="lstm", steps=run.steps, seconds=end["seconds"],
                                     cpu_seconds=end["cpu_seconds"], checkpoints=points,
                                     detail=f"CharLSTM {lstm_cfg.label()}, {mult}x the default budget")
    return res


def plot(results: dict, path: Path, title: str, xkey: str = "seconds") -> None:
    """bpc against training seconds (checkpoint key `xkey`) of the LSTM runs, with the baselines as horizontal lines."""
    # Imported here, not at the top: only the plot needs matplotlib, and its Agg backend must be chosen before pyplot.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5))
    for mult, color, marker in ((1, "#1b9e77", "o"), (2, "#7570b3", "s"), (4, "#000000", "^")):
        run = results[f"lstm-{mult}x"]
        points = run["checkpoints"]
        ax.plot([p[xkey] for p in points], [p["bpc"] for p in points], "-", marker=marker, color=color, lw=2,
                label=f"CharLSTM, {mult}x budget ({run['steps']} steps): {run['bpc']:.2f}")
        ax.annotate(f"{mult}x", (run[xkey], run["bpc"]), textcoords="offset points", xytext=(5, -12), color=color)
    baselines = ["trigram"] + [k for k in ("kn-5", "kn-7", "kn-10") if k in results] + list(COMPRESSORS)
    for i, name in enumerate(baselines):
        ax.axhline(results[name]["bpc"], color=f"C{i}", ls="--", lw=1, label=f"{name} {results[name]['bpc']:.2f}")
    ax.set(xlabel=f"training {xkey.replace('_', ' ')}", ylabel="held-out bits per character", title=title)
    top = max(results["trigram"]["bpc"], results["lstm-1x"]["bpc"]) + 0.1
    ax.set_ylim(min(results["xz"]["bpc"], results["lstm-4x"]["bpc"]) - 0.1, top)
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


DEFAULT = LSTMConfig()  # the notebook's CPU default
DEFAULT_STEPS = 800  # the notebook's STEPS: its default CPU budget
TUNE_CANDIDATES = [  # the first one is the notebook's default; it sets the CPU budget
    DEFAULT,
    replace(DEFAULT, lr=1.5e-2),
    replace(DEFAULT, lr=5e-3),
    replace(DEFAULT, dropout=0.0),
    replace(DEFAULT, decay=0.0),
    replace(DEFAULT, lr=2e-3, dropout=0.0, decay=0.0),  # a plain recipe: constant rate, no dropout
    replace(DEFAULT, hidden=384, dropout=0.2),
    replace(DEFAULT, hidden=128, dropout=0.0),
    replace(DEFAULT, batch=32),
]


def run_tune(train: str, heldout: str, vocab: list[str], steps: int, seed: int, log,
             candidates: list[LSTMConfig] = TUNE_CANDIDATES, jobs: int = 1) -> dict:
    """Held-out bpc of each candidate after the same training time as `steps` steps of the first one.

    Each candidate's CPU seconds per step is measured first (the fastest of three interleaved
    rounds, so that load from other processes matters little); its budget is then a fixed step
    count, and the runs train in `jobs` worker processes of one torch thread.
    """
    train_ids, context, target = encode_split(vocab, train, heldout)
    cost = {}
    for _ in range(3):
        for cfg in candidates:
            key = replace(cfg, lr=0.0, dropout=0.0, decay=0.0)  # these do not change a step's cost
            cost[key] = min(cost.get(key, math.inf), cpu_seconds_per_step(train_ids, len(vocab), cfg))
    speed = [cost[replace(cfg, lr=0.0, dropout=0.0, decay=0.0)] for cfg in candidates]
    budget_s = steps * speed[0]
    log("CPU seconds per step: " + ", ".join(f"{c.label()} {t:.3f}" for c, t in zip(candidates, speed)))
    runs = [LSTMRun(train_ids, context, target, len(vocab), cfg, max(2, round(budget_s / sps)), seed, checkpoints=2)
            for cfg, sps in zip(candidates, speed)]
    rows = []
    for run, sps, points in zip(runs, speed, run_parallel(lstm_run, runs, jobs)):
        half, end = points[0], points[-1]
        rows.append({"label": run.cfg.label(), "config": asdict(run.cfg), "cpu_seconds_per_step": round(sps, 4),
                     "steps": run.steps, "train_seconds": end["seconds"], "train_cpu_seconds": end["cpu_seconds"],
                     "bpc_half": half["bpc"], "bpc": end["bpc"]})
    best = min(rows, key=lambda r: r["bpc"])
    for r in sorted(rows, key=lambda r: r["bpc"]):
        log(f"{r['label']:<48} {r['steps']:>5} steps {r['train_cpu_seconds']:>7.1f} CPU s  {r['bpc']:.3f} bpc")
    return {"budget_cpu_seconds": round(budget_s, 2), "budget_note": f"{steps} steps of {candidates[0].label()}",
            "rows": rows, "best": best}


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=None, help="default LSTM budget in steps (800; --quick: 10)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes for a smoke test")
    ap.add_argument("--tune", action="store_true", help="compare CPU configurations instead (writes bench/tune.json)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="LSTM runs trained at once, each in its own process (default: 2, or 1 on one core)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per LSTM run (default 1)")
    ap.add_argument("--dropout", type=float, default=None,
                    help=f"dropout of the notebook's CharLSTM (default {DEFAULT.dropout})")
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON path (default bench/out/model.json, or bench/tune.json with --tune)")
    args = ap.parse_args(argv)
    if args.steps is None:
        args.steps = 10 if args.quick else DEFAULT_STEPS
    if args.steps < 1 or args.threads < 1 or args.jobs < 1:
        ap.error("--steps, --jobs and --threads must be positive integers")
    if args.dropout is None:
        args.dropout = DEFAULT.dropout
    if not 0.0 <= args.dropout < 1.0:
        ap.error("--dropout must lie in [0, 1)")
    if args.out is None:
        args.out = TUNE_JSON if args.tune else OUT_DIR / "model.json"
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    try:
        cfg = load_config()
        corpus = load_course_corpus(cfg)
    except (ConfigError, CorpusError) as exc:
        print(f"bench/model.py: {exc}", file=sys.stderr)
        return 2
    train, heldout = corpus.train, corpus.heldout
    max_order, lstm_cfg = 10, replace(DEFAULT, dropout=args.dropout)
    if args.quick:  # the tail of the training text keeps it contiguous with the held-out part
        train, heldout, max_order = train[-30_000:], heldout[:3_000], 4
        lstm_cfg = replace(lstm_cfg, embed=16, hidden=32, batch=16, seq_len=50)
    log(corpus.describe() + (f"; quick: train {len(train):,}, held out {len(heldout):,}" if args.quick else ""))
    report = {"corpus": {"name": corpus.name, "sha256": corpus.sha256, "train_chars": len(train),
                         "heldout_chars": len(heldout), "vocab_size": len(corpus.vocab), "quick": args.quick},
              "machine": machine(args.threads), "default_steps": args.steps, "jobs": args.jobs}
    t0 = time.perf_counter()
    if args.tune:
        candidates = [replace(c, embed=16, hidden=c.hidden // 8, batch=16) for c in TUNE_CANDIDATES] if args.quick \
            else TUNE_CANDIDATES
        report["tune"] = run_tune(train, heldout, corpus.vocab, args.steps, cfg.seed, log, candidates, args.jobs)
    else:
        report["lstm_config"] = asdict(lstm_cfg)
        report["results"] = run_models(train, heldout, corpus.vocab, max_order, lstm_cfg, args.steps, cfg.seed, log,
                                       args.jobs, args.threads)
    report["wall_seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    if not args.tune:
        title = (f"Held-out bpc on {corpus.name}\n{len(heldout):,} held-out characters; "
                 f"{args.threads} torch thread(s) per LSTM run")
        # one thread: CPU seconds are the wall time on an idle core, whatever else the machine runs
        plot(report["results"], args.out.with_suffix(".png"), title, "cpu_seconds" if args.threads == 1 else "seconds")
    log(f"wrote {args.out} in {report['wall_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
