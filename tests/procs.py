"""Process helpers for tests: find processes by a marker in their command line, and wait for a condition."""
from __future__ import annotations

import os
import time
from pathlib import Path


def processes_with(marker: str) -> list[int]:
    """Pids whose command line contains ``marker`` (seen from this process's /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass  # the process ended while we looked
    return found


def wait_for(predicate, seconds: float = 20.0, every_s: float = 0.05) -> bool:
    """Whether ``predicate()`` became true within ``seconds`` (polled every ``every_s``)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(every_s)
    return bool(predicate())
