"""Grading cost side by side: `course grade` against `nbgrader autograde`, same submissions, one run."""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from course.authoring.jupyter_env import isolated_env
from course.authoring.release import CORPUS_CELL_ID, set_assignments
from course.config import load_config
from course.grader.lab import lab_module
from course.modes import apply_modes

REPO = Path(__file__).resolve().parent.parent
# The submissions graded, from autograder/lab_rnn/variants.py: a realistic mistake and a correct alternative
# that learns more slowly, besides the solution and the untouched release.
VARIANTS = ("fails-lstm-gate-order", "passes-charlstm-one-hot")
ESTIMATE_CELL = "threshold-estimate"  # the release notebook's optional run of the grader's training


def variants() -> dict[str, dict]:
    """The submissions graded: a solution, the untouched release, a mutant and an alternative.

    Each is built on the release notebook (what a student submits), answers filled in.
    """
    cfg = load_config()
    catalogue = lab_module(cfg, "variants")  # autograder/<assignment>/variants.py
    rel = json.loads(cfg.release_notebook.read_text(encoding="utf-8"))
    chosen = {"solution": catalogue.variant_notebook(catalogue.Variant("solution", {}), cfg, rel),
              "untouched-release": rel}
    chosen.update({name: catalogue.variant_notebook(catalogue.BY_NAME[name], cfg, rel) for name in VARIANTS})
    return chosen


def recipe() -> dict:
    """The grader's training recipe, as the committed calibration chose it."""
    return json.loads(load_config().calibration_path.read_text())["recipe"]


def made_distinct(nb: dict, name: str, k: int) -> dict:
    """The notebook with a comment naming variant ``name``'s copy k in its CharLSTM cell: every student's code
    differs, so that no submission reuses another's cached training (the cache is keyed by the code the
    training runs, and a mutant of another exercise trains the solution's CharLSTM and train_epoch)."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "CharLSTM":
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = f"# {name}, copy {k}\n{src}"
    return nb


def write(nb: dict, path: Path) -> Path:
    """Write a notebook dict as JSON; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path


QUICK_VARIANTS = ("solution", "untouched-release")  # the smoke test grades only these


def parameters_override(steps: int) -> dict[str, object]:
    """The notebook's training set to the grader's threshold training (its recipe, constant rate, no dropout)."""
    t, r = load_config().threshold, recipe()
    return {"EMBED_SIZE": t.embed, "HIDDEN_SIZE": t.hidden, "BATCH_SIZE": r["batch"], "SEQ_LEN": t.seq_len,
            "LR": r["lr"], "DROPOUT": 0.0, "DECAY": 0.0, "STEPS": steps, "EVAL_EVERY": steps}


def set_parameters(nb: dict, values: dict[str, object]) -> dict:
    """Rewrite NAME = value lines of the `parameters` cell."""
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for name, value in values.items():
                src = re.sub(rf"(?m)^{name} = [^#\n]*", f"{name} = {value!r}  ", src)
            cell["source"] = src
    return nb


def set_corpus_file(nb: dict, path: Path) -> dict:
    """Point the corpus cell at ``path`` (absolute): nbgrader runs it in its own folder, offline."""
    for cell in nb["cells"]:
        if cell.get("id") == CORPUS_CELL_ID:
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = set_assignments(src, {"CORPUS_FILE": str(path)}, CORPUS_CELL_ID)
    return nb


def write_submissions(chosen: dict[str, dict], copies: int, steps: int | None, folder: Path) -> list[Path]:
    """``copies`` distinct files of each variant, their `parameters` cell set to the grader's training of ``steps``.

    nbgrader runs the submission's own `parameters` and corpus cells (unlocked cells, which autograde
    does not overwrite), so the override must be in each submission; `course grade` skips those cells.
    With ``steps`` None the notebooks keep their own parameters (nbgrader as it is used).
    """
    subs = []
    for name, nb in chosen.items():
        nb = set_corpus_file(copy.deepcopy(nb), load_config().corpus_path)
        if steps is not None:  # one training on each side: nor the notebook's optional estimate cell either
            nb = set_parameters(nb, parameters_override(steps))
            nb["cells"] = [c for c in nb["cells"] if c.get("id") != ESTIMATE_CELL]
        subs += [write(made_distinct(nb, name, i), folder / f"{name}-{i}.ipynb") for i in range(copies)]
    return subs


class PeakMemory:
    """Samples /proc for the peak resident memory (VmHWM) of processes whose command line matches."""

    def __init__(self, pattern: str, every_s: float = 0.2):
        self.pattern, self.every_s = re.compile(pattern), every_s
        self.peak_kb, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    if self.pattern.search(cmd):
                        status = Path(f"/proc/{pid}/status").read_text()
                        hwm = re.search(r"VmHWM:\s+(\d+)", status)
                        self.peak_kb = max(self.peak_kb, int(hwm.group(1)) if hwm else 0)
                except OSError:
                    continue
            self._stop.wait(self.every_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_course(subs: list[Path], out: Path, jobs: int, threshold: bool) -> tuple[list[dict], float, int]:
    """Grade with `course grade`; returns each submission's results.json, wall seconds and peak worker KiB."""
    cmd = [sys.executable, "-m", "course", "grade", *map(str, subs), "--out", str(out), "--jobs", str(jobs)]
    cmd += [] if threshold else ["--no-threshold"]
    start = time.perf_counter()
    with PeakMemory(r"course\.worker") as mem:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"course grade failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return [json.loads((out / s.stem / "results.json").read_text()) for s in subs], wall, mem.peak_kb


def times(results: list[dict]) -> list[float]:
    return [r["execution_time"] for r in results]


def load_now() -> list[float]:
    """The machine's load averages (1, 5, 15 minutes), recorded with every measurement."""
    return [round(v, 2) for v in os.getloadavg()]


def breakdown(results: list[dict]) -> dict[str, float]:
    """Median seconds of each part of grading (results.json's timings) over the given submissions."""
    parts: dict[str, list[float]] = {}
    for r in results:
        extra = r["extra_data"]
        for name, seconds in (extra.get("timings") or {}).items():
            parts.setdefault(name, []).append(seconds)
        for name, seconds in (extra.get("threshold_seconds") or {}).items():
            if isinstance(seconds, (int, float)):
                parts.setdefault(f"threshold_{name}", []).append(seconds)
        parts.setdefault("execution_time", []).append(r["execution_time"])
    return {name: round(statistics.median(values), 2) for name, values in sorted(parts.items())}


def nbgrader_course(root: Path, steps: int | None) -> None:
    """An nbgrader course generated from the source notebook of the course's split (as `course release`
    stages it), hidden tests included (its parameters: see ``write_submissions``)."""
    cfg = load_config()
    source = root / "source" / cfg.assignment
    source.mkdir(parents=True)
    nb = apply_modes(json.loads(cfg.source_notebook.read_text()), cfg.exercise_modes)
    if steps is not None:
        nb = set_parameters(nb, parameters_override(steps))
    (source / cfg.notebook).write_text(json.dumps(nb))
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.course_id = {cfg.course_id!r}\n"
        "c.CourseDirectory.root = " + repr(str(root)) + "\n"
        "c.ExecutePreprocessor.timeout = 900\n"
    )
    nbgrader(root, ["generate_assignment", cfg.assignment, "--force"])


def nbgrader(root: Path, args: list[str]) -> None:
    env = isolated_env(root / ".jupyter", threads=1)
    proc = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *args], cwd=root, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def run_nbgrader(root: Path, student: str, nb: dict) -> tuple[float, int]:
    """`nbgrader autograde` of one submission; returns seconds and peak kernel KiB."""
    cfg = load_config()
    dest = root / "submitted" / student / cfg.assignment / cfg.notebook
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(nb))
    start = time.perf_counter()
    with PeakMemory(r"ipykernel") as mem:
        nbgrader(root, ["autograde", cfg.assignment, "--student", student, "--force"])
    return time.perf_counter() - start, mem.peak_kb


def stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=2, help="distinct copies of each variant (default 2)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: solution and release once; nbgrader trains 20 steps, "
                             "the grader skips its training, nbgrader as used is not run")
    parser.add_argument("--out", default=str(REPO / "bench" / "out" / "grading.json"))
    parser.add_argument("--load", default="", help="what else runs on the machine meanwhile (recorded in the report)")
    args = parser.parse_args(argv)
    copies = 1 if args.quick else args.copies
    # Same training work on both sides: the notebook's run is set to the grader's threshold training.
    steps = 20 if args.quick else recipe()["steps"]
    threshold = not args.quick
    work = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    loads = {"start": load_now()}
    try:
        chosen = {k: v for k, v in variants().items() if not args.quick or k in QUICK_VARIANTS}
        subs = write_submissions(chosen, copies, steps, work / "subs")
        nbgrader_course(work / "nbg", steps)
        ours, theirs, ours_wall, ours_mem, theirs_mem = [], [], 0.0, 0, 0
        for k, sub in enumerate(subs):  # alternate: one submission with each grader in turn, each in a fresh folder
            results, wall, mem = run_course([sub], work / f"out-alternating-{k}", jobs=1, threshold=threshold)
            ours += results
            ours_wall += wall
            ours_mem = max(ours_mem, mem)
            secs, mem = run_nbgrader(work / "nbg", sub.stem.replace("-", "_"), json.loads(sub.read_text()))
            theirs.append(secs)
            theirs_mem = max(theirs_mem, mem)
        loads["alternating"] = load_now()
        solution = [r for r, s in zip(ours, subs) if s.stem.startswith("solution-")]
        throughput = {1: {"per_submission": stats(times(ours)), "wall_s": ours_wall,
                          "submissions_per_minute": 60 * len(subs) / ours_wall}}
        # --jobs 2 on the batch (every training new), then the same batch again into the same folder: a regrade.
        batch, wall, _ = run_course(subs, work / "out-jobs2", jobs=2, threshold=threshold)
        loads["jobs2"] = load_now()
        throughput[2] = {"per_submission": stats(times(batch)), "wall_s": wall,
                         "submissions_per_minute": 60 * len(subs) / wall}
        again, again_wall, _ = run_course(subs, work / "out-jobs2", jobs=2, threshold=threshold)
        loads["regrade"] = load_now()
        solution_jobs2 = [r for r, s in zip(batch, subs) if s.stem.startswith("solution-")]
        regrade = {"per_submission": stats(times(again)), "wall_s": again_wall,
                   "trainings_reused": sum(r["extra_data"].get("threshold_cache") == "reused" for r in again),
                   "first_wall_s": wall}
        as_used = None
        if not args.quick:  # nbgrader as it is used: the submitted notebook as it is, its own training included
            plain = write_submissions({"solution": chosen["solution"]}, 1, None, work / "subs-as-used")[0]
            nbgrader_course(work / "nbg-as-used", None)
            secs, _ = run_nbgrader(work / "nbg-as-used", "as_used", json.loads(plain.read_text()))
            loads["as_used"] = load_now()
            ours_solution = statistics.median(times(solution))
            as_used = {"nbgrader_autograde_s": secs, "course_grade_s": ours_solution, "ratio": secs / ours_solution,
                       "notebook_parameters": "the notebook's own `parameters` cell (its CPU default)"}
        result = {
            "machine": (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                        f"Python {platform.python_version()}"),
            "submissions": len(subs), "variants": list(chosen), "copies": copies, "training_steps": steps,
            "grader_training": threshold, "recipe": recipe(), "background_load": args.load, "load": loads,
            "course_grade_s": stats(times(ours)), "nbgrader_autograde_s": stats(theirs),
            "ratio_median": statistics.median(theirs) / statistics.median(times(ours)),
            "as_used": as_used,
            "peak_worker_mb": {"course": ours_mem / 1024, "nbgrader": theirs_mem / 1024},
            "course_grade_throughput": throughput,
            "solution_jobs2_s": stats(times(solution_jobs2)),
            "breakdown_jobs2_solution": breakdown(solution_jobs2),
            "breakdown_jobs1_solution": breakdown(solution),
            "regrade": regrade,
        }
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))
        print(json.dumps(result, indent=1))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
