"""The end-to-end harness: attack files made into cell code, `course grade` runs, and what they leave behind.

Shared by tests/security (the adversarial campaign), tests/lab/fixture_submissions.py and the
grader's resume and determinism tests. The attacks themselves are files under
tests/files/attacks/; which attack goes where, and what it must achieve, is the callers'.
"""
from __future__ import annotations

import ast
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from procs import command_line, processes_with

REPO = Path(__file__).resolve().parent.parent
ATTACKS = REPO / "tests" / "files" / "attacks"
PRELUDE_IMPORT = re.compile(r"^from attack_prelude import .*$", re.M)
VERDICT_RE = re.compile(r"Cell `([^`]+)` raised an error: RuntimeError: VERDICT (.*?) ENDVERDICT", re.S)


# --- attack files -----------------------------------------------------------------------------------------


def _prelude(consts: dict[str, Any]) -> str:
    """``ADV = {...}`` and attack_prelude.py's ``verdict``: what an attack file's prelude import stands for."""
    source = (ATTACKS / "attack_prelude.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    verdict = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "verdict")
    return f"ADV = {consts!r}\n\n\n{ast.get_source_segment(source, verdict)}\n"


def attack_code(name: str, consts: dict[str, Any], payload: str | None = None) -> str:
    """The attack file ``tests/files/attacks/<name>.py`` as cell code, its prelude import replaced.

    Args:
        name: the file's stem.
        consts: the constants the attack reads as ``ADV`` (a marker, ports, folders...).
        payload: the stem of another attack file whose source the attack gets as ``ADV["payload"]``
            (a program it starts with ``python -c``).

    Returns:
        Python source for an answer cell.
    """
    source = (ATTACKS / f"{name}.py").read_text(encoding="utf-8")
    if payload is not None:
        consts = {**consts, "payload": (ATTACKS / f"{payload}.py").read_text(encoding="utf-8")}
    return PRELUDE_IMPORT.sub(lambda _: _prelude(consts), source, count=1)


# --- reading graded submissions back ---------------------------------------------------------------------


@dataclass
class Graded:
    """One submission's results as the suite reads them back."""

    results: dict[str, Any]
    feedback: str
    verdicts: dict[str, dict[str, Any]]

    @property
    def status(self) -> str:
        return self.results["extra_data"]["status"]

    @property
    def text(self) -> str:
        """The top-level output and every test's output: what a student reads."""
        return "\n".join([self.results["output"], *(t["output"] for t in self.results["tests"])])

    def tests_tagged(self, tag: str) -> list[dict[str, Any]]:
        return [t for t in self.results["tests"] if tag in t["tags"]]


def parse_verdicts(output: str) -> dict[str, dict[str, Any]]:
    """cell id -> the JSON an attack cell reported through its RuntimeError (attack_prelude.verdict)."""
    return {cell: json.loads(body) for cell, body in VERDICT_RE.findall(output)}


def read_graded(out: Path, sub_id: str) -> Graded:
    results = json.loads((out / sub_id / "results.json").read_text(encoding="utf-8"))
    feedback = (out / sub_id / "feedback.md").read_text(encoding="utf-8")
    return Graded(results, feedback, parse_verdicts(results["output"]))


# --- the machine around a run ------------------------------------------------------------------------------


def survivors(marker: str, grace_s: float = 10.0) -> list[str]:
    """'pid: cmdline' of processes still carrying ``marker`` (argv or environment) after ``grace_s`` seconds."""
    end = time.monotonic() + grace_s
    found = processes_with(marker, environ=True)
    while found and time.monotonic() < end:
        time.sleep(0.2)
        found = processes_with(marker, environ=True)
    return [command_line(pid) for pid in found]


def copy_repository(dest: Path) -> Path:
    """A private copy of the repository's files (tracked, and untracked but not ignored) to grade from.

    `python -m course` run from the copy imports the copy's course package and reads its
    configuration, hidden checks and notebooks: the grader's files are then exactly the copy's,
    untouched by anyone else while a campaign runs.
    """
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout.splitlines()
    for rel in listed:
        if (REPO / rel).is_file() and not (REPO / rel).is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    return dest


def hash_tree(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (symbolic links by their target), by relative path."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(root))] = "link:" + os.readlink(path)
        elif path.is_file():
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def run_once(tmp_path_factory, name: str, compute: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """``compute(folder)`` once per test session, even across xdist workers; its JSON result is shared.

    Tests of one module may run on several xdist workers, so each worker asks here: the first
    one computes under a lock and saves the result, the others wait for it and read it.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of one session
    saved = root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not saved.exists():
            folder = root / name
            folder.mkdir()
            saved.write_text(json.dumps(compute(folder)))
    return json.loads(saved.read_text())


# --- `course grade` as a subprocess --------------------------------------------------------------------------


@dataclass
class GraderRun:
    """One `course grade` subprocess: its exit code, output and peak resident memory."""

    code: int
    output: str
    peak_rss_kb: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def run_course_grade(paths: list[Path], out: Path, env: dict[str, str], jobs: int = 2, threshold: bool = False,
                     resume: bool = False, require_isolation: bool = False, repo: Path = REPO,
                     timeout_s: float = 1500) -> GraderRun:
    """Run `python -m course grade` from ``repo`` as a subprocess and watch its peak memory (VmHWM)."""
    cmd = [sys.executable, "-m", "course", "grade", *map(str, paths), "--out", str(out), "--jobs", str(jobs)]
    cmd += [] if threshold else ["--no-threshold"]
    cmd += ["--resume"] if resume else []
    cmd += ["--require-isolation"] if require_isolation else []
    log = out.parent / f"{out.name}.log"
    began = time.monotonic()
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        peak = 0
        while proc.poll() is None:
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
            except (OSError, ValueError):
                pass
            if time.monotonic() - began > timeout_s:
                proc.kill()
            time.sleep(0.25)
    return GraderRun(proc.returncode, log.read_text(errors="replace"), peak, time.monotonic() - began)
