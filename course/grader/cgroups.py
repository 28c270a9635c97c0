"""The worker's own cgroups, best effort: memory and pids limits and kill-all (cgroup v2, else v1)."""
from __future__ import annotations

import functools
import itertools
import os
import signal
import time
from pathlib import Path

_counter = itertools.count()


def _mounts() -> list[tuple[str, str, str, str]]:
    """(root, mount point, fs type, super options) of every cgroup mount."""
    found = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(fields) >= 5 and len(rfields) >= 3 and rfields[0] in ("cgroup", "cgroup2"):
            found.append((fields[3], fields[4], rfields[0], rfields[2]))
    return found


def _own_cgroups() -> dict[str, str]:
    """Controller ('' for cgroup v2) -> this process's cgroup path."""
    own = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                own[name] = path
    except (OSError, ValueError):
        pass
    return own


def _parent_dir(controller: str) -> Path | None:
    """Folder under which this process may create a cgroup for ``controller`` ('' = cgroup v2)."""
    own = _own_cgroups()
    if controller not in own:
        return None
    for root, point, fstype, options in _mounts():
        if (controller == "" and fstype == "cgroup2") or (controller and controller in options.split(",")):
            rel = own[controller]
            if root != "/" and rel.startswith(root):
                rel = rel[len(root):]
            path = Path(point) / rel.lstrip("/")
            return path if path.is_dir() and os.access(path, os.W_OK) else None
    return None


def _write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
        return True
    except OSError:
        return False


class Cgroups:
    """The worker's own cgroups (best effort): memory and pids limits, and kill-all.

    Uses cgroup v2 where its controllers are delegated to our cgroup, cgroup v1
    controllers otherwise; any part that cannot be set up is simply absent.
    """

    def __init__(self, name: str, memory_bytes: int, pids_max: int):
        self.dirs: dict[str, Path] = {}  # "v2", "memory", "pids" -> folder
        self.controls: list[str] = []
        v2 = _parent_dir("")
        if v2 is not None and self._make("v2", v2 / name):
            self.controls.append("cgroup.kill")
            subtree = v2 / "cgroup.subtree_control"
            enabled = subtree.read_text().split() if subtree.exists() else []
            if "memory" in enabled and _write(self.dirs["v2"] / "memory.max", str(memory_bytes)):
                _write(self.dirs["v2"] / "memory.swap.max", "0")
                self.controls.append("memory cgroup")
            if "pids" in enabled and _write(self.dirs["v2"] / "pids.max", str(pids_max)):
                self.controls.append("pids cgroup")
        if "memory cgroup" not in self.controls:
            parent = _parent_dir("memory")
            made = parent is not None and self._make("memory", parent / name)
            if made and _write(self.dirs["memory"] / "memory.limit_in_bytes", str(memory_bytes)):
                _write(self.dirs["memory"] / "memory.memsw.limit_in_bytes", str(memory_bytes))
                self.controls.append("memory cgroup")
        if "pids cgroup" not in self.controls:
            parent = _parent_dir("pids")
            made = parent is not None and self._make("pids", parent / name)
            if made and _write(self.dirs["pids"] / "pids.max", str(pids_max)):
                self.controls.append("pids cgroup")

    def _make(self, key: str, path: Path) -> bool:
        _remove_stale(path.parent)
        try:
            path.mkdir()
        except OSError:
            return False
        self.dirs[key] = path
        return True

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs.values():
            try:
                found.update(int(p) for p in (d / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return found

    def kill(self) -> None:
        """Kill every process in the cgroups: atomically with cgroup.kill, else until none is left."""
        if "v2" in self.dirs:
            _write(self.dirs["v2"] / "cgroup.kill", "1")
        for _ in range(100):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)

    def oom_killed(self) -> bool:
        """Whether the memory limit killed a process of this worker."""
        for key, name in (("v2", "memory.events"), ("memory", "memory.oom_control")):
            try:
                for line in (self.dirs[key] / name).read_text().splitlines():
                    if line.startswith("oom_kill ") and int(line.split()[1]) > 0:
                        return True
            except (KeyError, OSError, ValueError):
                pass
        return False

    def remove(self) -> None:
        for key, path in list(self.dirs.items()):
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)  # exiting processes leave the cgroup a moment later
            self.dirs.pop(key)


def _remove_stale(parent: Path) -> None:
    """Remove empty cgroups left by grader processes that no longer exist."""
    try:
        entries = list(parent.glob("course-*"))
    except OSError:
        return
    for entry in entries:
        owner = entry.name.split("-")[1] if entry.name.count("-") >= 2 else ""
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            try:
                entry.rmdir()
            except OSError:
                pass


@functools.cache
def cgroup_controls() -> tuple[str, ...]:
    """The cgroup controls a worker gets on this machine (probed once)."""
    groups = Cgroups(f"course-{os.getpid()}-probe{next(_counter)}", 1 << 30, 64)
    try:
        return tuple(groups.controls)
    finally:
        groups.remove()
