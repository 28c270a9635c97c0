"""`course calibrate`: train the calibration families over seeds and candidate recipes, choose the grader's recipe."""
# The families are the lab catalogue's variants with a `family` (autograder/<assignment>/variants.py):
# correct CharLSTM / train_epoch pairs, broken ones and bugs that still learn. Each (variant, seed,
# learning rate, batch) is trained once, in an InProcessSession through the grader's own threshold
# code (in this process with --jobs 1, else in one of --jobs worker processes), to the largest
# candidate step count, and scored at every candidate step count on the way (a run to N steps is
# exactly the start of a longer run). For each candidate recipe the threshold is the worst correct
# run x CALIBRATION_MARGIN; a recipe qualifies when every broken run ends at least BROKEN_MARGIN
# above it (or fails outright), and the cheapest qualifying recipe is chosen: the fewest characters
# trained (batch x steps), then the fewest steps, the smallest batch, the smallest learning rate
# (work_order). The reference's measured CPU seconds of training are reported, never compared.
from __future__ import annotations

import ast
import itertools
import json
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from course.authoring.solution import run_cells
from course.config import CourseConfig, Recipe, load_config
from course.corpus import Corpus, load_course_corpus
from course.errors import UserError
from course.grader.calibration import CalibrationError, calibration_key, family_cells
from course.grader.inprocess import InProcessSession
from course.grader.lab import CHECKS_DIR, lab_module, op_module_paths
from course.grader.results import atomic_write

LAMBDA_STEP = 0.05  # grid of the trigram's interpolation weights
CORRECT, BROKEN, LEARNS_ANYWAY = "correct", "broken", "learns-anyway"  # the families (as variants.py names them)


# --- the trigram reference line ---------------------------------------------------------------------


def _counts(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys, counts = np.unique(codes, return_counts=True)
    return keys, counts.astype(np.float64)


def _lookup(keys: np.ndarray, counts: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """counts[key] for each code (0 where the key was never seen)."""
    pos = np.clip(np.searchsorted(keys, codes), 0, max(len(keys) - 1, 0))
    return np.where(keys[pos] == codes, counts[pos], 0.0) if len(keys) else np.zeros(len(codes))


def trigram_perplexity(train: np.ndarray, streams: np.ndarray, vocab: int) -> tuple[float, tuple[float, float, float]]:
    """Held-out perplexity of an interpolated trigram model on the threshold's targets.

    p(c | a, b) = l3 p3 + l2 p2 + l1 p1, with p3 and p2 maximum-likelihood estimates (an unseen
    context falls back to the lower order) and p1 add-one smoothed; the weights are the best
    on the held-out text over a grid of step LAMBDA_STEP.

    Args:
        train: training indices [n] int64.
        streams: held-out streams [streams, m]; the targets are columns 1..m-1, each with its
            two preceding characters of the held-out text as context.
        vocab: vocabulary size.

    Returns:
        (perplexity, (l3, l2, l1)).
    """
    V = np.int64(vocab)
    a, b, c = train[:-2], train[1:-1], train[2:]
    k3, n3 = _counts((a * V + b) * V + c)
    k3c, n3c = _counts(a * V + b)  # trigram contexts
    k2, n2 = _counts(train[:-1] * V + train[1:])
    k2c, n2c = _counts(train[:-1])
    k1, n1 = _counts(train)

    batch, m = streams.shape
    full = np.concatenate([train[-2:], streams.ravel()])  # the held-out text, after the training tail
    targets = (np.arange(batch)[:, None] * m + np.arange(1, m)[None, :]).ravel()  # flat positions scored
    ta, tb, tc = full[targets], full[targets + 1], full[targets + 2]
    p1 = (_lookup(k1, n1, tc) + 1.0) / (len(train) + vocab)
    ctx2 = _lookup(k2c, n2c, tb)
    p2 = np.where(ctx2 > 0, _lookup(k2, n2, tb * V + tc) / np.maximum(ctx2, 1), p1)
    ctx3 = _lookup(k3c, n3c, ta * V + tb)
    p3 = np.where(ctx3 > 0, _lookup(k3, n3, (ta * V + tb) * V + tc) / np.maximum(ctx3, 1), p2)

    best = (math.inf, (0.0, 0.0, 1.0))
    steps = int(round(1 / LAMBDA_STEP))
    for i, j in itertools.product(range(steps + 1), repeat=2):
        l3, l2 = i * LAMBDA_STEP, j * LAMBDA_STEP
        l1 = 1.0 - l3 - l2
        if l1 < LAMBDA_STEP - 1e-9:
            continue
        ppl = math.exp(-np.mean(np.log(l3 * p3 + l2 * p2 + l1 * p1)))
        best = min(best, (ppl, (round(l3, 2), round(l2, 2), round(l1, 2))))
    return best


# --- one training run (a worker process, or this one) ------------------------------------------------


class _TimedSession:
    """An InProcessSession that adds up the CPU seconds of the training calls (this process, one thread)."""

    def __init__(self, session: InProcessSession):
        self.session, self.cpu, self.cpu_after = session, 0.0, []

    def call(self, request, timeout_s=None):
        started = time.process_time()
        resp = self.session.call(request, timeout_s)
        if request.op == "threshold_train":
            self.cpu += time.process_time() - started
            self.cpu_after.append(round(self.cpu, 2))
        return resp


_SPLITS: dict[str, Any] = {}  # one encoded corpus per process


def family_member(cfg: CourseConfig, name: str):
    """The family variant called ``name`` in the lab's catalogue."""
    for variant in lab_module(cfg, "variants").FAMILY:
        if variant.name == name:
            return variant
    raise KeyError(f"no calibration family variant {name!r} in autograder/{cfg.assignment}/variants.py")


def train_run(config_path: str, name: str, seed: int, lr: float, batch: int, steps: Sequence[int]) -> dict[str, Any]:
    """Train one family variant once and score it at each step count, through the grader's own code.

    Args:
        config_path: the course_config.py (a worker process loads it again).
        name: the family variant's name.
        seed, lr, batch: the run.
        steps: the candidate step counts, increasing.

    Returns:
        {variant, seed, lr, batch, points: [{steps, status, perplexity, message, train_cpu_s, curve}]}.
    """
    torch.set_num_threads(1)
    cfg = load_config(config_path)
    threshold = lab_module(cfg, "threshold")
    if config_path not in _SPLITS:
        corpus = load_course_corpus(cfg)
        _SPLITS[config_path] = threshold.encode_split(corpus.train, corpus.heldout, cfg.threshold.heldout_streams)
    cells = family_cells(cfg, family_member(cfg, name))
    session = _TimedSession(InProcessSession(run_cells([source for _, source in cells]), list(op_module_paths(cfg))))
    results = threshold.run_checkpoints(session, _SPLITS[config_path], cfg.threshold, lr, batch, steps, seed)
    points = []
    for k, (count, result) in enumerate(zip(steps, results)):
        ppl = result["perplexity"]
        points.append({
            "steps": count, "status": result["status"], "perplexity": round(ppl, 4) if ppl else None,
            "message": result["message"][:300] if result["status"] != "ok" else "",
            "train_cpu_s": session.cpu_after[min(k, len(session.cpu_after) - 1)] if session.cpu_after else None,
            "curve": result["training_curve"],
        })
    return {"variant": name, "seed": seed, "lr": lr, "batch": batch, "points": points}


def _train_task(task: tuple) -> dict[str, Any]:
    return train_run(*task)


class Runner:
    """Trains family runs (in ``jobs`` processes, one torch thread each) and keeps every result."""

    def __init__(self, cfg: CourseConfig, jobs: int, say: Callable[[str], None]):
        self.cfg, self.jobs, self.say = cfg, max(1, jobs), say
        self.runs: dict[tuple[str, int, float, int], dict[str, Any]] = {}
        self.started = time.monotonic()

    def ensure(self, names: Sequence[str], seeds: Sequence[int], pairs: Sequence[tuple[float, int]]) -> None:
        """Train every (variant, seed, lr, batch) not trained yet."""
        steps = list(self.cfg.threshold.candidate_steps)
        todo = [(str(self.cfg.path), n, s, lr, b, steps) for lr, b in pairs for n in names for s in seeds
                if (n, s, lr, b) not in self.runs]
        if not todo:
            return
        self.say(f"training {len(todo)} runs ({self.jobs} process{'es' if self.jobs > 1 else ''}, one thread each)")
        if self.jobs == 1:
            done = map(_train_task, todo)
            self._collect(done, len(todo))
            return
        with ProcessPoolExecutor(self.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            self._collect(pool.map(_train_task, todo), len(todo))

    def _collect(self, done, total: int) -> None:
        for k, run in enumerate(done, 1):
            self.runs[(run["variant"], run["seed"], run["lr"], run["batch"])] = run
            shown = " ".join(f"{p['steps']}:" + (f"{p['perplexity']:.2f}" if p["status"] == "ok" else p["status"])
                             for p in run["points"])
            cpu = run["points"][-1]["train_cpu_s"] or 0.0
            self.say(f"  [{k}/{total}, {time.monotonic() - self.started:.0f} s] {run['variant']} seed {run['seed']} "
                     f"lr {run['lr']:g} batch {run['batch']}: {shown} ({cpu:.0f} CPU s)")

    def point(self, name: str, seed: int, recipe: Recipe) -> dict[str, Any]:
        run = self.runs[(name, seed, recipe.lr, recipe.batch)]
        return next(p for p in run["points"] if p["steps"] == recipe.steps)


# --- choosing the recipe -----------------------------------------------------------------------------


def work_order(recipe: Recipe) -> tuple[int, int, int, float]:
    """How recipes are tried, cheapest first: characters trained (batch x steps), then steps, batch, lr.

    Every key is a setting, none a measurement: the machine's load cannot change the choice.
    """
    return recipe.batch * recipe.steps, recipe.steps, recipe.batch, recipe.lr


def _perplexity(point: dict[str, Any]) -> float:
    """A run's perplexity for the rule: a run that failed counts as infinitely bad (any threshold catches it)."""
    return point["perplexity"] if point["status"] == "ok" and point["perplexity"] is not None else math.inf


def judge_recipe(runner: Runner, recipe: Recipe, families: dict[str, list[str]], seeds: Sequence[int],
                 trigram: float) -> dict[str, Any]:
    """The threshold a recipe gives, its cost, and whether it separates the families.

    Returns:
        {lr, batch, steps, cost_cpu_s, worst_correct, threshold, best_broken, margin_correct, margin_broken,
        qualifies, why}; the broken fields are None when the broken runs were not trained for this recipe.
    """
    t = runner.cfg.threshold
    correct = [(n, s, runner.point(n, s, recipe)) for n in families[CORRECT] for s in seeds]
    costs = [runner.point(families[CORRECT][0], s, recipe)["train_cpu_s"] for s in seeds]
    row: dict[str, Any] = {**recipe.as_dict(), "cost_cpu_s": round(statistics.median(costs), 2),
                           "worst_correct": None, "threshold": None, "best_broken": None,
                           "margin_correct": t.margin, "margin_broken": None, "correct_side": False,
                           "qualifies": False, "why": ""}
    failed = [f"{n} seed {s}: {p['message'] or p['status']}" for n, s, p in correct if p["status"] != "ok"]
    if failed:
        row["why"] = "a correct run failed (" + "; ".join(failed)[:300] + ")"
        return row
    worst_name, worst_seed, worst = max(correct, key=lambda c: c[2]["perplexity"])
    threshold = round(worst["perplexity"] * t.margin, 4)
    row.update(worst_correct=worst["perplexity"], worst_correct_run=f"{worst_name} seed {worst_seed}",
               threshold=threshold)
    if t.below_trigram and threshold >= trigram:
        row["why"] = f"the threshold {threshold:.3f} is not below the trigram model's {trigram:.3f}"
        return row
    row["correct_side"] = True
    if any((n, s, recipe.lr, recipe.batch) not in runner.runs for n in families[BROKEN] for s in seeds):
        row["why"] = "broken runs not trained for this learning rate and batch (a cheaper recipe qualified)"
        return row
    broken = [(n, s, _perplexity(runner.point(n, s, recipe))) for n in families[BROKEN] for s in seeds]
    best_name, best_seed, best = min(broken, key=lambda b: b[2])
    row.update(best_broken=best if math.isfinite(best) else None, best_broken_run=f"{best_name} seed {best_seed}",
               margin_broken=round(best / threshold, 4) if math.isfinite(best) else None)
    if best < threshold * t.broken_margin:
        row["why"] = (f"{best_name} seed {best_seed} reaches {best:.3f}, less than the threshold x {t.broken_margin:g} "
                      f"= {threshold * t.broken_margin:.3f}")
        return row
    row.update(qualifies=True, why="every correct run passes and every broken run fails by the margin")
    return row


def check_titles(cfg: CourseConfig) -> dict[str, str]:
    """Hidden check function name -> the first line of its docstring (what feedback calls it)."""
    titles = {}
    for path in sorted((cfg.autograder_dir / CHECKS_DIR).glob("test_*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                titles[node.name] = (ast.get_docstring(node) or node.name).splitlines()[0]
    return titles


def band(runner: Runner, recipe: Recipe, names: Sequence[str], seeds: Sequence[int]) -> dict[str, Any]:
    """The training picture's band: the correct runs' loss range at each train_epoch call, and their perplexities."""
    curves = [runner.point(n, s, recipe)["curve"] for n in names for s in seeds]
    perplexities = [runner.point(n, s, recipe)["perplexity"] for n in names for s in seeds]
    steps = curves[0]["steps"] if curves and curves[0] else []
    low, high = [], []
    for k, step in enumerate(steps):
        values = [c["loss"][k] for c in curves if c and len(c["steps"]) > k and c["steps"][k] == step
                  and c["loss"][k] is not None]
        if len(values) != len(curves):
            steps = steps[:k]
            break
        low.append(round(min(values), 4))
        high.append(round(max(values), 4))
    return {"steps": steps, "loss_low": low, "loss_high": high, "perplexity_low": min(perplexities),
            "perplexity_high": max(perplexities), "runs": f"{len(names)} correct variants x {len(seeds)} seeds"}


def run_calibration(cfg: CourseConfig, corpus: Corpus, seeds: Sequence[int] | None = None, jobs: int = 1,
                    say: Callable[[str], None] = print) -> dict[str, Any]:
    """Train the families, choose the cheapest recipe that separates them; returns the calibration record.

    Correct variants are trained under every candidate learning rate and batch; broken and
    learns-anyway variants only under the candidates' learning rate and batch in the order of
    their cost, until a recipe qualifies.

    Raises:
        CalibrationError: no candidate recipe separates the families (the message gives each one's reason).
    """
    t = cfg.threshold
    seeds = list(seeds or t.calibration_seeds)
    catalogue = lab_module(cfg, "variants")
    threshold_mod = lab_module(cfg, "threshold")
    members = {v.name: v for v in catalogue.FAMILY}
    families = {f: [n for n, v in members.items() if v.family == f] for f in (CORRECT, BROKEN, LEARNS_ANYWAY)}
    if not families[CORRECT] or families[CORRECT][0] != catalogue.REFERENCE.name or not families[BROKEN]:
        raise CalibrationError("the catalogue's FAMILY must start with the reference and hold broken variants")
    split = threshold_mod.encode_split(corpus.train, corpus.heldout, t.heldout_streams)
    trigram, lambdas = trigram_perplexity(split.train, split.streams, len(split.vocab))
    say(f"families: {len(families[CORRECT])} correct, {len(families[BROKEN])} broken, "
        f"{len(families[LEARNS_ANYWAY])} learn anyway; seeds {seeds}; trigram reference {trigram:.3f}")

    runner = Runner(cfg, jobs, say)
    pairs = [(lr, b) for lr in t.candidate_lrs for b in t.candidate_batches]
    say("1. the correct variants under every candidate learning rate and batch")
    runner.ensure(families[CORRECT], seeds, pairs)
    rows = {r: judge_recipe(runner, r, families, seeds, trigram) for r in t.candidates()}
    order = sorted((r for r in rows if rows[r]["correct_side"]), key=work_order)
    chosen = None
    say("2. the broken and learns-anyway variants, cheapest recipe first")
    for recipe in order:
        runner.ensure(families[BROKEN] + families[LEARNS_ANYWAY], seeds, [(recipe.lr, recipe.batch)])
        rows = {r: judge_recipe(runner, r, families, seeds, trigram) for r in t.candidates()}
        if rows[recipe]["qualifies"]:
            chosen = recipe
            break
        say(f"  {recipe.label()} does not qualify: {rows[recipe]['why']}")
    table = [rows[r] for r in sorted(rows, key=work_order)]
    if chosen is None:
        reasons = "; ".join(f"{Recipe(r['lr'], r['batch'], r['steps']).label()}: {r['why']}" for r in table)
        raise CalibrationError(f"no candidate recipe separates the families ({reasons[:2000]}). Add candidates "
                               "(THRESHOLD_CANDIDATES), or check the families in variants.py.")
    row = rows[chosen]
    say(f"chosen: {chosen.label()}: threshold {row['threshold']:.3f}, {row['cost_cpu_s']:.1f} CPU s of training")
    return calibration_record(cfg, corpus, runner, chosen, row, table, families, seeds, split, trigram, lambdas)


def untrained_bugs(cfg: CourseConfig) -> list[dict[str, Any]]:
    """The catalogue's bugs the grader-run training cannot see by construction, with the check that grades each."""
    titles = check_titles(cfg)
    return [{"bug": bug, "why": why,
             "caught_by": [f"{check}: {titles[check]}" if check in titles else (check or "no hidden check sees it")]}
            for bug, why, check in lab_module(cfg, "variants").NOT_TRAINED]


def calibration_record(cfg: CourseConfig, corpus: Corpus, runner: Runner, chosen: Recipe, row: dict[str, Any],
                       table: list[dict[str, Any]], families: dict[str, list[str]], seeds: Sequence[int], split,
                       trigram: float, lambdas) -> dict[str, Any]:
    """calibration.json: the key, the chosen recipe and threshold, both margins, the tables and the band."""
    t = cfg.threshold
    titles = check_titles(cfg)
    family_of = {n: f for f, names in families.items() for n in names}
    runs = [{"variant": run["variant"], "family": family_of[run["variant"]], "seed": run["seed"], "lr": run["lr"],
             "batch": run["batch"], "steps": p["steps"], "status": p["status"], "perplexity": p["perplexity"],
             "train_cpu_s": p["train_cpu_s"], **({"message": p["message"]} if p["message"] else {})}
            for run in sorted(runner.runs.values(), key=lambda r: (r["lr"], r["batch"], r["variant"], r["seed"]))
            for p in run["points"]]
    cannot = []
    for name in families[LEARNS_ANYWAY]:
        variant = family_member(cfg, name)
        values = [_perplexity(runner.point(name, s, chosen)) for s in seeds]
        caught = sum(v > row["threshold"] for v in values)
        cannot.append({"variant": name, "perplexity": [round(v, 4) if math.isfinite(v) else None for v in values],
                       "threshold_catches": f"{caught} of {len(values)} seeds",
                       "caught_by": [f"{c}: {titles.get(c, c)}" for c in sorted(variant.fails_checks)]})
    cannot += untrained_bugs(cfg)
    threshold = row["threshold"]
    return {
        **calibration_key(cfg, corpus),
        "calibration_seeds": list(seeds),
        "corpus": corpus.name,
        "vocab_size": len(split.vocab),
        "recipe": chosen.as_dict(),
        "threshold": threshold,
        "rule": (f"worst correct run ({row['worst_correct']:.3f}, {row['worst_correct_run']}) x margin {t.margin:g}, "
                 f"under {chosen.label()}, the cheapest candidate under which every broken run fails by "
                 f"x{t.broken_margin:g}"),
        "margins": {"correct": round(threshold / row["worst_correct"], 4), "broken": row["margin_broken"],
                    "required": {"correct": t.margin, "broken": t.broken_margin},
                    "closest_broken_run": row.get("best_broken_run"), "worst_correct_run": row["worst_correct_run"]},
        "cost": {"train_cpu_s": row["cost_cpu_s"], "measured": ("CPU seconds of the reference's training under the "
                                                                "recipe, median of the seeds, one torch thread")},
        "families": {f: names for f, names in families.items()},
        "recipes": table,
        "runs": runs,
        "cannot_catch": cannot,
        "band": band(runner, chosen, families[CORRECT], seeds),
        "trigram_perplexity": round(trigram, 4),
        "trigram": {"lambdas": list(lambdas), "below_required": t.below_trigram,
                    "rule": ("interpolated trigram (Jelinek-Mercer), add-one unigram, weights chosen on the held-out "
                             "text: a reference line")},
        "heldout_rule": ("held-out characters absent from the training vocabulary are dropped; the held-out text is "
                         f"cut into {t.heldout_streams} streams, each scored from its second character on"),
    }


def calibration_target(out: Path | None, cfg: CourseConfig) -> Path:
    """The file ``course calibrate`` writes: ``out`` itself, or calibration.json inside it when it is a folder.

    Raises:
        UserError: its folder cannot be created or written to.
    """
    path = Path(out) if out else cfg.calibration_path
    if path.is_dir():
        path = path / cfg.calibration_path.name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {out}: cannot create {path.parent} ({exc.strerror}).") from None
    try:  # a file can be created beside it (a permission, a read-only or pseudo file system)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".calibrate-"):
            pass
    except OSError as exc:
        raise UserError(f"--out {out}: nothing can be written in {path.parent} ({exc.strerror}).") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"--out {out}: {path} cannot be written; choose a writable file or folder.")
    return path


def check_seeds(seeds: Sequence[int], out: Path, cfg: CourseConfig) -> None:
    """Refuse to put a calibration grading will not accept where grading reads it.

    Raises:
        UserError: ``seeds`` are not CALIBRATION_SEEDS and ``out`` is the course's calibration.json.
    """
    configured = list(cfg.threshold.calibration_seeds)
    if list(seeds) == configured or out.resolve() != cfg.calibration_path.resolve():
        return
    raise UserError(f"--seeds {','.join(map(str, seeds))} are not CALIBRATION_SEEDS {configured}, and grading refuses "
                    f"a calibration made for other seeds: pass --out elsewhere than {cfg.calibration_path} to keep "
                    "the good one, or change CALIBRATION_SEEDS in course_config.py.")


def keep_elsewhere(text: str) -> Path | None:
    """Write ``text`` to a new file in the temporary folder; None when even that fails."""
    try:
        fd, name = tempfile.mkstemp(prefix="calibration-", suffix=".json")
    except OSError:
        return None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError:
        Path(name).unlink(missing_ok=True)
        return None
    return Path(name)


def save_calibration(out: Path, text: str, cfg: CourseConfig) -> bool:
    """Write calibration.json whole (never half of it); if that fails, keep it elsewhere and say where.

    Returns:
        True when ``out`` was written.
    """
    try:
        atomic_write(out, text)
        return True
    except OSError as exc:  # the runs are half an hour's work: keep them somewhere
        problem = f"course calibrate: cannot write {out} ({exc.strerror or exc})"
    kept = keep_elsewhere(text)
    if kept is None:
        print(f"{problem}, nor a temporary file; the calibration follows: save it as {cfg.calibration_path}.",
              file=sys.stderr)
        print(text, end="")
    else:
        print(f"{problem}; the calibration is kept in {kept}: copy it to {cfg.calibration_path}.", file=sys.stderr)
    return False


def main_calibrate(seeds: tuple[int, ...] | None = None, jobs: int = 1, out: Path | None = None) -> int:
    """Calibrate the perplexity threshold and write calibration.json.

    Args:
        seeds: the seeds of every run (default CALIBRATION_SEEDS; grading refuses a calibration made for others).
        jobs: training processes run side by side (one torch thread each).
        out: where to write (default autograder/<assignment>/calibration.json).

    Returns:
        0 when written; 1 when no candidate recipe separates the families or the file cannot be written.

    Raises:
        UserError: before any training: a bad --out, or other seeds than CALIBRATION_SEEDS without --out.
    """
    cfg = load_config()
    corpus = load_course_corpus(cfg)
    seeds = tuple(seeds or cfg.threshold.calibration_seeds)
    out = calibration_target(out, cfg)  # before half an hour of training: a bad --out fails now
    check_seeds(seeds, out, cfg)
    t = cfg.threshold
    print(corpus.describe())
    print(f"calibrating over {len(t.candidates())} candidate recipes (lr {list(t.candidate_lrs)}, batch "
          f"{list(t.candidate_batches)}, steps {list(t.candidate_steps)}; embed {t.embed}, hidden {t.hidden}, "
          f"seq_len {t.seq_len}), seeds {list(seeds)}", flush=True)
    try:
        record = run_calibration(cfg, corpus, seeds, jobs, say=lambda line: print(line, flush=True))
    except CalibrationError as exc:
        print(f"course calibrate: refused: {exc}", file=sys.stderr)
        return 1
    if not save_calibration(out, json.dumps(record, indent=1, sort_keys=True) + "\n", cfg):
        return 1
    print(f"threshold {record['threshold']:.3f} ({record['rule']}); trigram {record['trigram_perplexity']:.3f}")
    print(f"wrote {out}")
    return 0
