"""Process keeper for the weaker isolation levels: adopts every orphan of the worker and kills them all at the end.

Usage (run by course.grader.sandbox, trusted, stdlib only)::

    python -I -S keeper.py CONTROL_FD FDS UID GID -- COMMAND...

FDS is a comma-separated list of descriptors to pass on to COMMAND ('-' for none);
UID and GID the ids COMMAND runs under ('-' to keep ours). The keeper marks itself
a child subreaper, so every descendant that loses its parent (a double fork, a
``setsid`` daemon) is re-parented to it and stays findable. When COMMAND exits, or
when CONTROL_FD reaches end of file (the grader closed it or died), it kills every
descendant and exits.
"""
from __future__ import annotations

import ctypes
import os
import select
import signal
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36


def descendants(root: int) -> list[int]:
    """Pids of every live process below ``root`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(b")", 1)[1].split()[1])  # the command name may hold spaces or ')'
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found


def reap(worker: int) -> int | None:
    """Collect every exited child (orphans arrive here as our children); the worker's exit code if it ended."""
    code = None
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return code
        if pid == 0:
            return code
        if pid == worker:
            code = os.waitstatus_to_exitcode(status)
            code = code if code >= 0 else 128 - code


def sweep(rounds: int = 200) -> None:
    """SIGKILL every descendant until none is left (new orphans come back to us)."""
    me = os.getpid()
    for _ in range(rounds):
        pids = descendants(me)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        reap(-1)


def main(argv: list[str]) -> int:
    control, fds, uid, gid = int(argv[0]), argv[1], argv[2], argv[3]
    command = argv[argv.index("--") + 1:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("keeper: cannot become a child subreaper", file=sys.stderr)
        return 70
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only the control pipe or SIGKILL ends us
    pass_fds = tuple(int(f) for f in fds.split(",")) if fds != "-" else ()
    ids = {} if uid == "-" else {"user": int(uid), "group": int(gid), "extra_groups": []}
    child = subprocess.Popen(command, pass_fds=pass_fds, stdin=subprocess.DEVNULL, start_new_session=True, **ids)
    for fd in pass_fds:
        os.close(fd)  # the worker's pipes must close when the worker dies
    pidfd = os.pidfd_open(child.pid)
    code = 0
    while True:
        ready, _, _ = select.select([control, pidfd], [], [], 0.5)
        ended = reap(child.pid)
        if ended is not None:
            code = ended
            break
        if control in ready:  # end of file or a byte: the grader wants everything gone
            break
    sweep()
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
