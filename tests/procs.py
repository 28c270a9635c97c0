"""Process helpers for tests: find processes by a marker in their command line, and wait for a condition."""
from __future__ import annotations

import os
import time
from pathlib import Path


def _read(pid: int, what: str) -> bytes | None:
    """/proc/<pid>/<what>, or None once the process has ended (or may not be read)."""
    try:
        return Path(f"/proc/{pid}/{what}").read_bytes()
    except OSError:
        return None


def processes_with(marker: str, environ: bool = False) -> list[int]:
    """Pids of the other processes whose command line holds ``marker`` (seen from this process's /proc).

    Args:
        marker: the text to look for.
        environ: also match a marker in the process's initial environment (a worker tagged
            through its TMPDIR, say).
    """
    needle, found = marker.encode(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        places = ("cmdline", "environ") if environ else ("cmdline",)
        if any(needle in (_read(int(entry), what) or b"") for what in places):
            found.append(int(entry))
    return found


def command_line(pid: int, cap: int = 200) -> str:
    """'pid: command line' (arguments joined by spaces, at most ``cap`` characters) for a report."""
    cmd = (_read(pid, "cmdline") or b"").replace(b"\0", b" ")[:cap]
    return f"{pid}: {cmd.decode(errors='replace')}"


def wait_for(predicate, seconds: float = 20.0, every_s: float = 0.05) -> bool:
    """Whether ``predicate()`` became true within ``seconds`` (polled every ``every_s``)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(every_s)
    return bool(predicate())
