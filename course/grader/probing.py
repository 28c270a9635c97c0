"""Which isolation level works on this machine: probed once per grader process, described in one line."""
from __future__ import annotations

import functools
import itertools
import os
import shutil
from pathlib import Path

from course.config import Limits
from course.grader.cgroups import cgroup_controls
from course.grader.isolation import PYTHON, IsolationLevel, SandboxError, drop_to_nobody, parse_level, run_quietly
from course.grader.sandbox import Sandbox

_counter = itertools.count()


def resolve(level: IsolationLevel | str | None) -> IsolationLevel:
    """An IsolationLevel from a level or its name; None means the strongest available."""
    return probe_isolation() if level is None else parse_level(level)


@functools.cache
def level_available(level: IsolationLevel) -> bool:
    """Whether a trivial Python command runs at this level here (cached)."""
    level = parse_level(level)
    if level == IsolationLevel.RLIMITS:
        return True
    tool = shutil.which("bwrap" if level == IsolationLevel.BWRAP else "unshare")
    if tool is None:
        return False
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"course-probe-{os.getpid()}-{next(_counter)}"
    try:
        sb = Sandbox(level, _probe_limits(), probe, use_cgroups=False)
        try:
            argv = sb.command([PYTHON, "-I", "-c", "import sys"], pass_fds=())
            return run_quietly(argv, env=sb.env(), pass_fds=sb.extra_fds(), cwd="/")
        finally:
            sb.kill_all()
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def _probe_limits() -> Limits:
    return Limits(check_timeout_s=60, submission_timeout_s=60, threshold_timeout_s=60, memory_limit_mb=1024,
                  max_processes=16, max_file_size_mb=1, max_output_bytes=1000, max_notebook_bytes=1000,
                  max_cells=1, worker_threads=1)


@functools.cache
def probe_isolation() -> IsolationLevel:
    """The strongest level that works on this machine (probed once per process)."""
    for level in (IsolationLevel.BWRAP, IsolationLevel.UNSHARE):
        if level_available(level):
            return level
    return IsolationLevel.RLIMITS


def require_isolation(minimum: IsolationLevel | str) -> IsolationLevel:
    """The strongest available level; raises SandboxError when it is below ``minimum``."""
    minimum, level = parse_level(minimum), probe_isolation()
    if level < minimum:
        raise SandboxError(
            f"isolation '{minimum}' is required but only '{level}' works here. Install bubblewrap "
            "(`make system-deps`, or apt-get install bubblewrap) and allow user namespaces; inside Docker "
            "the default seccomp profile blocks them (run the container with --security-opt seccomp=unconfined "
            "or grade outside it)."
        )
    return level


def describe(level: IsolationLevel | str | None = None) -> str:
    """One line: the level and the controls in force, e.g. for the start of ``course grade``."""
    level = resolve(level)
    parts = {
        IsolationLevel.BWRAP: "bubblewrap: user, mount, pid, network, IPC, UTS namespaces; read-only system; "
                              "repository hidden",
        IsolationLevel.UNSHARE: "unshare: user, pid, network namespaces; host file system visible",
        IsolationLevel.RLIMITS: "rlimits: resource limits and a separate session only; host file system and "
                                "network visible",
    }[level]
    extra = list(cgroup_controls())
    if level < IsolationLevel.BWRAP:
        if drop_to_nobody():
            extra.append("runs as nobody")
        elif os.geteuid() == 0:
            extra.append("WARNING: the worker runs as root (nobody cannot run this Python); prefer bubblewrap")
    return f"{level} ({parts}{'; ' + ', '.join(extra) if extra else ''})"
