"""One worker's jail: its command line (bubblewrap, unshare or the keeper), environment, limits and kill-all."""
from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

from course.config import REPO_ROOT, Limits
from course.grader.cgroups import Cgroups
from course.grader.isolation import NOBODY, IsolationLevel, drop_to_nobody, parse_level

KEEPER = Path(__file__).resolve().parent / "keeper.py"  # trusted: run by the grader, never staged
# Sandbox-internal paths of the bwrap level.
RUNTIME_INSIDE = "/grader"
WORK_INSIDE = "/sandbox"
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")
# The launcher joins its cgroups, then becomes the sandbox: no race, no preexec_fn.
_ATTACH_SH = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"'
_counter = itertools.count()


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
        self.as_nobody = self.level < IsolationLevel.BWRAP and drop_to_nobody()
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
