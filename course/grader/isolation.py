"""The worker's isolation levels, strongest last, and who the worker runs as.

Levels, strongest first (probed once per grader process):

* ``bwrap`` (bubblewrap): new user, mount, pid, network, IPC and UTS namespaces,
  no capabilities, no nested user namespaces. The root file system holds only
  read-only binds of the system (/usr, /lib*, /bin, a few /etc files) and of the
  Python installation and its site-packages; the repository (hidden checks,
  source notebook, course_config.py, the corpus, .git) is not there, the corpus
  file is blanked wherever a bind would show it, and the standard library's
  ``pydoc_data`` (where the default corpus came from) is an empty tmpfs. /tmp,
  /dev/shm and the worker's home /sandbox are small private tmpfs; the worker
  code is a read-only bind. Killing bwrap kills the pid namespace, so nothing survives.
* ``unshare``: new user, pid, mount (private /proc) and network namespaces via
  util-linux ``unshare``, under a keeper process (see ``course/grader/keeper.py``).
  No network and no signals to outside processes, but the file system is the
  host's: the worker can read (and as the grader's own uid, write) what the
  grader's user can. When the grader runs as root and the Python installation is
  readable by ``nobody``, the worker runs as ``nobody``.
* ``rlimits``: resource limits and a separate session under the keeper, which
  adopts every orphan (PR_SET_CHILD_SUBREAPER) and kills them all at the end.
  Only the uid switch (see above) protects files and the grader's processes.

At every level the worker sets its own rlimits before any student code runs
(address space, file size, CPU time, no core dumps, open files, processes when
not root), and a per-worker cgroup is used where this process may create one:
memory and pids limits (cgroup v2, or v1 controllers) and ``cgroup.kill``. On a
Docker container with the default seccomp profile, namespaces are refused and the
level is ``rlimits``; GitHub Actions Ubuntu runners get ``bwrap`` once the
``bubblewrap`` package is installed (``make system-deps``).
"""
from __future__ import annotations

import enum
import functools
import os
import subprocess
import sys
from typing import Any

from course.errors import UserError

NOBODY = 65534
# The interpreter the worker runs, as an absolute path without '..' (kept unresolved: a venv is
# recognised by the path it is started from); a relative sys.executable would not exist inside bwrap.
PYTHON = os.path.abspath(sys.executable)


class IsolationLevel(enum.IntEnum):
    """How strongly the worker is isolated; a larger value is stronger."""

    RLIMITS = 1
    UNSHARE = 2
    BWRAP = 3

    def __str__(self) -> str:
        return self.name.lower()


class SandboxError(UserError, RuntimeError):
    """The requested isolation cannot be provided on this machine."""


def parse_level(level: IsolationLevel | str) -> IsolationLevel:
    """An IsolationLevel from a level or its name."""
    if isinstance(level, IsolationLevel):
        return level
    try:
        return IsolationLevel[str(level).upper()]
    except KeyError:
        names = ", ".join(str(lv) for lv in IsolationLevel)
        raise SandboxError(f"unknown isolation level {level!r}; use one of {names}") from None


def level_name(level: IsolationLevel | str) -> str:
    return str(parse_level(level))


def is_full(level: IsolationLevel | str) -> bool:
    """True for bubblewrap isolation (file system, network, processes)."""
    return parse_level(level) >= IsolationLevel.BWRAP


def run_quietly(argv: list[str], **kwargs: Any) -> bool:
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=60, check=False, **kwargs).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.cache
def drop_to_nobody() -> bool:
    """Running as root and the interpreter works for ``nobody``: lower levels run the worker as nobody."""
    if os.geteuid() != 0:
        return False
    return run_quietly([sys.executable, "-I", "-c", "import numpy"], user=NOBODY, group=NOBODY,
                       extra_groups=[], cwd="/")
