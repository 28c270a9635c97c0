"""The notebook's GPU recipe run by the notebook's own training cell, full size on a GPU or scaled down on a CPU."""
# What it answers: with the GPU configuration (2 x 512, about 59 passes over the training text),
# does the held-out loss get worse by the end, and does the training cell's kept checkpoint protect
# the result? Without a GPU the recipe is scaled down so that it keeps what drives overfitting: the
# same passes over the text and about the same parameters per training character. `--scale 16`
# trains on 1/16 of the training text (every 16th block of 1,024 characters, so that every topic
# is still there) with 1/16 of the batch (the same windows per pass), a quarter of the embedding
# and hidden sizes (1/16 of the parameters), and the same layers, dropout, window length, steps,
# evaluations, learning rate, decay and clipping. The held-out text is the course's, whole.
from __future__ import annotations

import argparse
import ast
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch

from course.authoring.solution import solution_namespace, source_notebook
from course.config import load_config
from course.corpus import CorpusError, load_course_corpus
from course.errors import ConfigError
from course.student import notebook as nbc

OUT = Path(__file__).resolve().parent / "gpu_recipe.json"  # committed: the README's GPU section quotes it
BLOCK = 1_024  # characters per block of the scaled-down training text


def cell_source(nb: dict, cell_id: str) -> str:
    """The source of the notebook's cell with this id."""
    for cell in nb["cells"]:
        if cell.get("id") == cell_id:
            return nbc.cell_source(cell)
    raise KeyError(f"the source notebook has no cell {cell_id!r}")


def literal_assignments(source: str) -> dict:
    """Every ``NAME = literal`` and ``A, B = literal, literal`` assignment of a cell, at any depth."""
    values = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target, value = node.targets[0], node.value
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
            values[target.id] = value.value
        elif isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) and len(target.elts) == len(value.elts):
            for name, item in zip(target.elts, value.elts):
                if isinstance(name, ast.Name) and isinstance(item, ast.Constant):
                    values[name.id] = item.value
    return values


def recipe(nb: dict) -> tuple[dict, dict]:
    """(the parameters cell's settings, the GPU configuration cell's settings), as the notebook holds them."""
    return literal_assignments(cell_source(nb, "parameters")), literal_assignments(cell_source(nb, "gpu-config"))


def scaled_settings(cpu: dict, gpu: dict, scale: int) -> dict:
    """The GPU recipe with the batch divided by ``scale`` and the sizes by sqrt(scale); the rest unchanged."""
    root = math.isqrt(scale)
    if root * root != scale:
        raise ValueError(f"--scale must be a square (1, 4, 16, ...): got {scale}")
    settings = {**cpu, **gpu, "USE_GPU_CONFIG": False}
    settings.update(EMBED_SIZE=max(4, gpu["EMBED_SIZE"] // root), HIDDEN_SIZE=max(8, gpu["HIDDEN_SIZE"] // root),
                    BATCH_SIZE=max(1, gpu["BATCH_SIZE"] // scale))
    return settings


def scaled_text(train: str, scale: int) -> str:
    """Every ``scale``-th block of BLOCK characters of the training text (all of it when scale is 1)."""
    if scale == 1:
        return train
    return "".join(train[k:k + BLOCK] for k in range(0, len(train), scale * BLOCK))


def run(scale: int, steps_factor: float, seed: int, threads: int, log, overrides: dict | None = None) -> dict:
    """Train the notebook's CharLSTM with the notebook's training cell on the (scaled) GPU recipe.

    Args:
        scale: 1 for the recipe itself, else the square that divides text and batch (see the top of this file).
        steps_factor: the recipe's STEPS times this (the learning-rate schedule spans the run).
        seed: the training cell's SEED.
        threads: torch threads.
        log: a function of one line of text.
        overrides: settings changed after scaling (e.g. {"DROPOUT": 0.3}), for comparing variants.

    Returns:
        The run's record: settings, sizes, passes, the held-out bpc at every evaluation, the kept step and
        its bpc, the last evaluation's bpc, wall and CPU seconds, the device.
    """
    cfg = load_config()
    corpus = load_course_corpus(cfg)
    nb = source_notebook(cfg)
    cpu, gpu = recipe(nb)
    settings = scaled_settings(cpu, gpu, scale)
    unknown = set(overrides or {}) - set(settings)
    if unknown:
        raise ValueError(f"--set names settings the notebook does not have: {sorted(unknown)}")
    settings.update(overrides or {})
    settings["STEPS"] = max(1, round(settings["STEPS"] * steps_factor))
    settings["SEED"] = seed
    ns = solution_namespace(cfg)  # setup and every answer cell: CharLSTM, make_batches, train_epoch, ...
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ns.update(settings, device=device)
    train_text = scaled_text(corpus.train, scale)
    char2idx, idx2char = ns["build_vocab"](train_text)  # the notebook's rule: the training text's vocabulary
    heldout_text = "".join(ch for ch in corpus.heldout if ch in char2idx)
    train_data, heldout_data = ns["encode"](train_text, char2idx), ns["encode"](heldout_text, char2idx)
    ns.update(char2idx=char2idx, idx2char=idx2char, vocab_size=len(idx2char), train_text=train_text,
              heldout_text=heldout_text,
              train_batches=ns["make_batches"](train_data, settings["BATCH_SIZE"], settings["SEQ_LEN"]),
              heldout_batches=ns["make_batches"](heldout_data, settings["BATCH_SIZE"], settings["SEQ_LEN"]))
    if not all(ch in char2idx for ch in settings["PROMPT"]):
        ns["PROMPT"] = idx2char[-1]
    torch.set_num_threads(threads)
    passes = settings["STEPS"] * settings["BATCH_SIZE"] * settings["SEQ_LEN"] / len(train_text)
    log(f"{len(train_text):,} training characters (1/{scale} of {len(corpus.train):,}), "
        f"{len(heldout_text):,} held out; {settings['STEPS']} steps of {settings['BATCH_SIZE']} x "
        f"{settings['SEQ_LEN']} = {passes:.1f} passes")
    wall, cpu_time = time.perf_counter(), time.process_time()
    exec(compile(cell_source(nb, "train"), "<the notebook's train cell>", "exec"), ns)  # trusted: the notebook's
    wall, cpu_time = time.perf_counter() - wall, time.process_time() - cpu_time
    history, best, model = ns["history"], ns["best"], ns["model"]
    params = sum(p.numel() for p in model.parameters())
    bpc = [round(loss / math.log(2), 4) for loss in history["heldout"]]
    kept = ns["perplexity"](model, ns["heldout_batches"])
    return {
        "scale": scale, "steps_factor": steps_factor, "seed": seed, "overrides": overrides or {},
        "settings": {k: settings[k] for k in ("EMBED_SIZE", "HIDDEN_SIZE", "NUM_LAYERS", "DROPOUT", "BATCH_SIZE",
                                              "SEQ_LEN", "LR", "DECAY", "CLIP", "STEPS", "EVAL_EVERY")},
        "train_chars": len(train_text), "heldout_chars": len(heldout_text), "parameters": params,
        "parameters_per_train_char": round(params / len(train_text), 2), "passes": round(passes, 1),
        "steps": history["step"], "heldout_bpc": bpc,
        "train_bpc": [round(x / math.log(2), 4) for x in history["train"]],
        "best_step": best["step"], "best_bpc": min(bpc), "last_bpc": bpc[-1],
        "kept_bpc": round(math.log2(kept), 4), "worse_at_the_end_by": round(bpc[-1] - min(bpc), 4),
        "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu_time, 1),
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "cpu",
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
    }


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", type=int, default=None,
                    help="divide text and batch by this square (default 16 on a CPU, 1 on a GPU)")
    ap.add_argument("--steps-factor", type=float, nargs="+", default=[1.0],
                    help="runs of the recipe's STEPS times each factor (the schedule spans each run)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                    help="change a setting after scaling, e.g. DROPOUT=0.3 (a Python literal)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--load", default="", help="what else ran on the machine, for the record")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if args.scale is None:
        args.scale = 1 if torch.cuda.is_available() else 16
    try:
        args.overrides = {k: ast.literal_eval(v) for k, v in (item.split("=", 1) for item in args.set)}
    except (ValueError, SyntaxError):
        ap.error("--set takes NAME=VALUE pairs whose values are Python literals")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    try:
        runs = [run(args.scale, factor, seed, args.threads, log, args.overrides)
                for factor in args.steps_factor for seed in args.seeds]
    except (ConfigError, CorpusError, ValueError) as exc:
        print(f"bench/gpu_recipe.py: {exc}", file=sys.stderr)
        return 2
    for r in runs:
        log(f"x{r['steps_factor']:g} seed {r['seed']}: best {r['best_bpc']:.3f} bpc at step {r['best_step']}, "
            f"last {r['last_bpc']:.3f}, kept {r['kept_bpc']:.3f} ({r['wall_seconds']:.0f} s)")
    report = {"runs": runs, "load": args.load, "cores": os.cpu_count(), "python": platform.python_version()}
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
