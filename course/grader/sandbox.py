"""Isolation of the worker process: the strongest level the machine allows, limits, and kill-all.

Levels, strongest first (probed once per grader process):

* ``bwrap`` (bubblewrap): new user, mount, pid, network, IPC and UTS namespaces,
  no capabilities, no nested user namespaces. The root file system holds only
  read-only binds of the system (/usr, /lib*, /bin, a few /etc files) and of the
  Python installation and its site-packages; the repository (hidden checks,
  source notebook, course_config.py, .git) is not there, the standard library's
  ``pydoc_data`` (the default held-out corpus) is an empty tmpfs. /tmp, /dev/shm and
  the worker's home /sandbox are small private tmpfs; the worker code is a
  read-only bind. Killing bwrap kills the pid namespace, so nothing survives.
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
import importlib.util
import itertools
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from course.config import REPO_ROOT, Limits
from course.errors import UserError

NOBODY = 65534
# The interpreter the worker runs, as an absolute path without '..' (kept unresolved: a venv is
# recognised by the path it is started from); a relative sys.executable would not exist inside bwrap.
PYTHON = os.path.abspath(sys.executable)
KEEPER = Path(__file__).resolve().parent / "keeper.py"  # trusted: run by the grader, never staged
# Sandbox-internal paths of the bwrap level.
RUNTIME_INSIDE = "/grader"
WORK_INSIDE = "/sandbox"
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")
# The launcher joins its cgroups, then becomes the sandbox: no race, no preexec_fn.
_ATTACH_SH = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"'
_counter = itertools.count()


class IsolationLevel(enum.IntEnum):
    """How strongly the worker is isolated; a larger value is stronger."""

    RLIMITS = 1
    UNSHARE = 2
    BWRAP = 3

    def __str__(self) -> str:
        return self.name.lower()


class SandboxError(UserError, RuntimeError):
    """The requested isolation cannot be provided on this machine."""


def parse_level(level: IsolationLevel | str | None) -> IsolationLevel:
    """An IsolationLevel from a level or its name; None means the strongest available."""
    if level is None:
        return probe_isolation()
    if isinstance(level, IsolationLevel):
        return level
    try:
        return IsolationLevel[str(level).upper()]
    except KeyError:
        names = ", ".join(str(lv) for lv in IsolationLevel)
        raise SandboxError(f"unknown isolation level {level!r}; use one of {names}") from None


def level_name(level: IsolationLevel | str | None) -> str:
    return str(parse_level(level))


def is_full(level: IsolationLevel | str | None) -> bool:
    """True for bubblewrap isolation (file system, network, processes)."""
    return parse_level(level) >= IsolationLevel.BWRAP


# --- probing ----------------------------------------------------------------------


def _python_roots() -> list[Path]:
    """Folders the worker's Python needs: the installation, the venv, numpy's and torch's site-packages."""
    wanted = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.base_exec_prefix),
              Path(sys.executable).resolve().parent.parent]
    for package in ("numpy", "torch", "IPython"):  # located without importing them
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin:
            wanted.append(Path(spec.origin).resolve().parent.parent)
    roots: list[Path] = []
    for path in sorted({p.resolve() for p in wanted}, key=lambda p: len(p.parts)):
        if path == Path("/usr") or Path("/usr") in path.parents:
            continue  # bound with the system
        if not any(r == path or r in path.parents for r in roots):
            roots.append(path)
    return roots


def _hidden_paths(roots: list[Path], extra: tuple[Path, ...] = ()) -> list[Path]:
    """Paths bound into the sandbox that must look empty: pydoc_data, ``extra``, any repository file under a root."""
    visible = [*roots, Path("/usr"), Path("/etc")]
    hidden = [p.resolve() for p in extra if p.exists() and any(r in p.resolve().parents for r in visible)]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    if (stdlib / "pydoc_data").is_dir():
        hidden.append(stdlib / "pydoc_data")
    repo = REPO_ROOT.resolve()
    needed = [Path(sys.executable).resolve(), *roots]
    if any(r == repo or r in repo.parents for r in roots) and repo.is_dir():
        for entry in repo.iterdir():  # the repository lies inside a bound root: hide all but the venv
            if not any(n == entry or entry in n.parents for n in needed):
                hidden.append(entry)
    return hidden


def _run_quietly(argv: list[str], **kwargs: Any) -> bool:
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=60, check=False, **kwargs).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.cache
def _drop_to_nobody() -> bool:
    """Running as root and the interpreter works for ``nobody``: lower levels run the worker as nobody."""
    if os.geteuid() != 0:
        return False
    return _run_quietly([sys.executable, "-I", "-c", "import numpy"], user=NOBODY, group=NOBODY,
                        extra_groups=[], cwd="/")


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
            return _run_quietly(argv, env=sb.env(), pass_fds=sb.extra_fds(), cwd="/")
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
    level = parse_level(level)
    parts = {
        IsolationLevel.BWRAP: "bubblewrap: user, mount, pid, network, IPC, UTS namespaces; read-only system; "
                              "repository hidden",
        IsolationLevel.UNSHARE: "unshare: user, pid, network namespaces; host file system visible",
        IsolationLevel.RLIMITS: "rlimits: resource limits and a separate session only; host file system and "
                                "network visible",
    }[level]
    extra = list(cgroup_controls())
    if level < IsolationLevel.BWRAP:
        if _drop_to_nobody():
            extra.append("runs as nobody")
        elif os.geteuid() == 0:
            extra.append("WARNING: the worker runs as root (nobody cannot run this Python); prefer bubblewrap")
    return f"{level} ({parts}{'; ' + ', '.join(extra) if extra else ''})"


# --- cgroups ------------------------------------------------------------------------


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
            if parent is not None and self._make("memory", parent / name):
                if _write(self.dirs["memory"] / "memory.limit_in_bytes", str(memory_bytes)):
                    _write(self.dirs["memory"] / "memory.memsw.limit_in_bytes", str(memory_bytes))
                    self.controls.append("memory cgroup")
        if "pids cgroup" not in self.controls:
            parent = _parent_dir("pids")
            if parent is not None and self._make("pids", parent / name):
                if _write(self.dirs["pids"] / "pids.max", str(pids_max)):
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


# --- one worker's sandbox -----------------------------------------------------------------


class Sandbox:
    """One worker's jail: its command line, environment, limits and kill-all.

    Args:
        level: the isolation level (must be available; see ``level_available``).
        limits: the course limits.
        root: a fresh folder of the grader's; ``root/runtime`` holds the worker code
            (read-only inside bwrap) and ``root/work`` is the writable home at the weaker levels.
        use_cgroups: create the per-worker cgroups (off for probes).
        hide: more files or folders to blank out at the bwrap level (e.g. a corpus file under /usr).
    """

    def __init__(self, level: IsolationLevel | str, limits: Limits, root: Path, use_cgroups: bool = True,
                 hide: tuple[Path, ...] = ()):
        self.level = parse_level(level)
        self.hide = tuple(Path(p) for p in hide)
        self.limits = limits
        self.root = Path(root)
        self.runtime_dir = self.root / "runtime"
        self.work_dir = self.root / "work"
        for d in (self.runtime_dir, self.work_dir, self.work_dir / "tmp"):
            d.mkdir(parents=True, exist_ok=True)
        self.as_nobody = self.level < IsolationLevel.BWRAP and _drop_to_nobody()
        if self.as_nobody:
            os.chmod(self.root, 0o711)
            for d in (self.work_dir, self.work_dir / "tmp"):
                os.chown(d, NOBODY, NOBODY)
        self.cgroups = (Cgroups(f"course-{os.getpid()}-{next(_counter)}-{os.urandom(3).hex()}",
                                limits.memory_limit_mb << 20, limits.max_processes) if use_cgroups else None)
        self.proc: subprocess.Popen | None = None
        self._control_w: int | None = None
        self._control_r: int | None = None
        if self.level < IsolationLevel.BWRAP:
            self._control_r, self._control_w = os.pipe()

    # Paths as the worker sees them.
    @property
    def runtime_inside(self) -> str:
        return RUNTIME_INSIDE if self.level == IsolationLevel.BWRAP else str(self.runtime_dir)

    @property
    def work_inside(self) -> str:
        return WORK_INSIDE if self.level == IsolationLevel.BWRAP else str(self.work_dir)

    @property
    def controls(self) -> list[str]:
        """The controls in force for this worker, for reports."""
        found = [str(self.level), *(self.cgroups.controls if self.cgroups else [])]
        return found + (["runs as nobody"] if self.as_nobody else [])

    def env(self) -> dict[str, str]:
        """The worker's whole environment: nothing of the grader's."""
        threads = str(self.limits.worker_threads)
        home = self.work_inside
        tmp = "/tmp" if self.level == IsolationLevel.BWRAP else f"{home}/tmp"
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": tmp,
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "USER": "student", "LOGNAME": "student",
            "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
            "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": f"{home}/.matplotlib",
        }

    def rlimits(self) -> dict[str, list[int]]:
        """Limits the worker applies to itself before running student code: name -> [soft, hard]."""
        mib = 1 << 20
        cpu = int(self.limits.submission_timeout_s)
        found = {
            "RLIMIT_AS": [self.limits.memory_limit_mb * mib] * 2,
            "RLIMIT_FSIZE": [self.limits.max_file_size_mb * mib] * 2,
            "RLIMIT_CPU": [cpu, cpu + 5],
            "RLIMIT_CORE": [0, 0],
            "RLIMIT_NOFILE": [1024, 1024],
        }
        uid = NOBODY if self.as_nobody else os.geteuid()
        if uid != 0:  # RLIMIT_NPROC counts every process of the uid; root is exempt from it
            nproc = self.limits.max_processes + _processes_of(uid)
            found["RLIMIT_NPROC"] = [nproc, nproc]
        return found

    def extra_fds(self) -> tuple[int, ...]:
        return (self._control_r,) if self._control_r is not None else ()

    def command(self, inner: list[str], pass_fds: tuple[int, ...]) -> list[str]:
        """The full command line that runs ``inner`` (the worker's argv) in this sandbox."""
        if self.level == IsolationLevel.BWRAP:
            argv = self._bwrap(inner)
        else:
            if self.level == IsolationLevel.UNSHARE:
                inner = [shutil.which("unshare") or "unshare", "--user", "--map-root-user", "--net", "--pid",
                         "--fork", "--kill-child", "--mount-proc", "--", *inner]
            ids = [str(NOBODY), str(NOBODY)] if self.as_nobody else ["-", "-"]
            fds = ",".join(str(fd) for fd in pass_fds) or "-"
            argv = [sys.executable, "-I", "-S", str(KEEPER), str(self._control_r), fds, *ids, "--", *inner]
        if self.cgroups and self.cgroups.procs_files:
            argv = ["/bin/sh", "-c", _ATTACH_SH, "attach", *self.cgroups.procs_files, "--", *argv]
        return argv

    def _bwrap(self, inner: list[str]) -> list[str]:
        small = str(4 * self.limits.max_file_size_mb << 20)
        argv = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--unshare-user", "--disable-userns",
                "--die-with-parent", "--new-session", "--uid", str(NOBODY), "--gid", str(NOBODY),
                "--cap-drop", "ALL", "--hostname", "sandbox",
                # private /proc, /dev and /tmp first: later binds (a venv under /tmp) go on top
                "--proc", "/proc", "--dev", "/dev", "--size", small, "--tmpfs", "/dev/shm",
                "--size", small, "--tmpfs", "/tmp"]
        for top in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            path = Path("/", top)
            if path.is_symlink():
                argv += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                argv += ["--ro-bind", str(path), str(path)]
        argv += [x for f in ETC_FILES if Path(f).exists() for x in ("--ro-bind", f, f)]
        roots = _python_roots()
        argv += [x for r in roots for x in ("--ro-bind", str(r), str(r))]
        empty = self.root / "empty"  # an empty file laid over hidden files
        empty.touch()
        for path in _hidden_paths(roots, self.hide):
            argv += ["--tmpfs", str(path)] if path.is_dir() else ["--ro-bind", str(empty), str(path)]
        argv += ["--ro-bind", str(self.runtime_dir), RUNTIME_INSIDE,
                 "--size", small, "--tmpfs", WORK_INSIDE, "--chdir", WORK_INSIDE]
        return [*argv, "--", *inner]

    def spawn(self, inner: list[str], pass_fds: tuple[int, ...], stdout: int) -> subprocess.Popen:
        """Start ``inner`` in the sandbox; ``stdout`` (a file descriptor) receives its stdout and stderr."""
        argv = self.command(inner, pass_fds)
        self.proc = subprocess.Popen(
            argv, env=self.env(), cwd=str(self.work_dir), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stdout,
            pass_fds=tuple(pass_fds) + self.extra_fds(), start_new_session=True,
        )
        if self._control_r is not None:
            os.close(self._control_r)
            self._control_r = None
        return self.proc

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def oom_killed(self) -> bool:
        return bool(self.cgroups and self.cgroups.oom_killed())

    def kill_all(self) -> None:
        """Kill every process the worker started (idempotent); waits until they are gone."""
        if self._control_w is not None:  # the keeper sweeps its descendants, then exits
            os.close(self._control_w)
            self._control_w = None
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        if self.cgroups:
            self.cgroups.kill()
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                self.proc.kill()
            self.proc.wait()
        if self.cgroups:
            self.cgroups.kill()
            self.cgroups.remove()
        if self._control_r is not None:
            os.close(self._control_r)
            self._control_r = None


def _processes_of(uid: int) -> int:
    """How many processes ``uid`` owns now (RLIMIT_NPROC counts them all)."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count
