"""The grader's side of the worker: start it in the sandbox, run the cells, send probes, validate replies."""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import tempfile
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from course.config import Limits
from course.grader import probing, sandbox
from course.grader.isolation import PYTHON, IsolationLevel, SandboxError
from course.grader.probes import ProbeRequest, Response
from course.worker import runtime, wire

WORKER_DIR = Path(runtime.__file__).resolve().parent  # course/worker/: staged whole into every sandbox
BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); from course.worker.runtime import main; "
        "raise SystemExit(main(sys.argv[1:]))")
# What the grader accepts from a worker; anything larger is a crash of that probe. The grader
# keeps every probe reply until the checks run, so these caps bound its memory per probe
# (the lab's largest reply is a few kB; a held-out step of the threshold is batch x vocab floats).
REPLY_LIMITS = wire.WireLimits(max_header_bytes=1 << 20, max_total_bytes=16 << 20,
                               max_array_elements=4 << 20, max_arrays=64)
IMPORT_TIMEOUT_S = 120  # the worker's own imports (op modules, torch through them), before any student code
MAX_POISONED = 3  # cells that kill the worker while starting, before the session gives up
CELL_OUTPUT_TAIL = 2000  # characters of each cell's output kept in its report
MAX_TEXT = 4000  # characters of any message taken from the worker


@dataclass
class CellReport:
    """How one cell ran in the worker.

    Attributes:
        cell_id: the cell's id (nbgrader grade_id or ``cell-<n>``).
        status: ``ok``, ``error`` (it raised), ``timeout`` or ``crash`` (it stopped the
            worker; later runs skip it), ``skipped`` (never run).
        message: ``"TypeName: message"`` or why it did not run.
        traceback: frames of the submission's cells only.
        output: the tail of what the cell printed.
    """

    cell_id: str
    status: str
    message: str = ""
    traceback: str = ""
    output: str = ""


class _Timeout(Exception):
    pass


class _Broken(Exception):
    """The worker broke the protocol or died; the message is for the student."""


def _text(value: Any, cap: int = MAX_TEXT) -> str:
    text = _clean(value if isinstance(value, str) else "")
    return text if len(text) <= cap else text[:cap] + " ..."


def _clean(value: Any) -> Any:
    """A worker's JSON value with every string made valid UTF-8 (lone surrogates become U+FFFD).

    JSON carries lone surrogates (``"\\ud800"``); a message holding one would stop the grader
    when it writes feedback as UTF-8.
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    return value


def _stage_runtime(runtime_dir: Path, op_modules: list[Path]) -> list[str]:
    """Copy ``course/worker/`` (all the worker code there is) and the op modules; returns the op file names.

    Inside the sandbox the worker package is ``course.worker``; its parent ``course`` is an
    empty package, so nothing else of the grader is importable there.
    """
    pkg = runtime_dir / "course"
    shutil.copytree(WORKER_DIR, pkg / "worker", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (pkg / "__init__.py").write_text('"""The worker side of the course package (only course.worker)."""\n')
    (runtime_dir / "ops").mkdir()
    names = []
    for path in op_modules:
        if path.name in names:
            raise ValueError(f"two op modules are named {path.name}")
        shutil.copy2(path, runtime_dir / "ops" / path.name)
        names.append(path.name)
    # Readable by the worker's uid whatever the source modes (Gradescope's setup.sh makes the bundle
    # root-only), writable by the grader only.
    for path in [runtime_dir, *runtime_dir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return names


class _Worker:
    """One running worker process: its sandbox and the two pipes (internal to WorkerSession)."""

    def __init__(self, sb: sandbox.Sandbox, req_w: int, resp_r: int):
        self.sb, self.req_w, self.resp_r = sb, req_w, resp_r
        os.set_blocking(req_w, False)
        os.set_blocking(resp_r, False)
        self.poll_in, self.poll_out = select.poll(), select.poll()
        self.poll_in.register(resp_r, select.POLLIN)
        self.poll_out.register(req_w, select.POLLOUT)

    def _wait(self, poller: select.poll, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poller.poll(remaining * 1000):
            raise _Timeout

    def read_exact(self, n: int, deadline: float) -> bytearray:
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            try:
                k = os.readv(self.resp_r, [view[got:]])
            except BlockingIOError:
                self._wait(self.poll_in, deadline)
                continue
            if k == 0:
                raise _Broken("the worker process ended")
            got += k
        return buf

    def recv(self, deadline: float) -> tuple[dict, dict[str, np.ndarray]]:
        try:
            return wire.read_message(lambda n: self.read_exact(n, deadline), REPLY_LIMITS)
        except wire.WireError as exc:
            raise _Broken(f"the worker sent malformed data ({exc})") from None

    def send(self, buffers: list, deadline: float) -> None:
        views = [memoryview(b).cast("B") for b in buffers if len(b)]
        while views:
            try:
                k = os.writev(self.req_w, views)
            except BlockingIOError:
                self._wait(self.poll_out, deadline)
                continue
            except (BrokenPipeError, ConnectionResetError):
                raise _Broken("the worker process ended") from None
            while k and views:
                if k >= len(views[0]):
                    k -= len(views.pop(0))
                else:
                    views[0], k = views[0][k:], 0

    def close(self) -> None:
        self.sb.kill_all()
        for fd in (self.req_w, self.resp_r):
            try:
                os.close(fd)
            except OSError:
                pass


def _cleanup(state: dict) -> None:
    """Kill the worker and remove the session's files (also run when a session is garbage-collected)."""
    worker = state.pop("worker", None)
    if worker is not None:
        worker.close()
    fd = state.pop("capture_fd", None)
    if fd is not None:
        os.close(fd)
    root = state.pop("root", None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


class WorkerSession:
    """Runs a submission's cells in a sandboxed worker and answers probe requests from it.

    The worker starts on ``start()`` (or the first ``call``). A call that times out
    or crashes kills every process of the worker and returns a ``timeout`` / ``crash``
    Response; the next call starts a fresh worker and re-runs the cells (minus any
    cell that stopped a worker while starting). Use one session from one thread:
    bubblewrap's --die-with-parent follows the thread that started the worker.

    Args:
        limits: the course limits (memory, processes, output, timeouts...).
        op_modules: worker-op files (see ``course/worker/runtime.py`` for the contract).
        cells: (cell id, source) in execution order.
        isolation: an IsolationLevel or its name; None for the strongest available.
        hide: more paths to blank out inside the sandbox (e.g. a corpus file under /usr).
        cell_timeout_s: wall time for each cell at start-up (default: the check timeout);
            importing the libraries before any cell gets IMPORT_TIMEOUT_S.
    """

    def __init__(self, limits: Limits, op_modules: Sequence[Path | str], cells: Sequence[tuple[str, str]],
                 isolation: IsolationLevel | str | None = None, hide: Sequence[Path | str] = (),
                 cell_timeout_s: float | None = None):
        self.limits = limits
        self.op_modules = [Path(p) for p in op_modules]
        self.cells = [(str(cid), str(src)) for cid, src in cells]
        self.isolation = probing.resolve(isolation)
        if not probing.level_available(self.isolation):
            raise SandboxError(f"isolation '{self.isolation}' does not work on this machine "
                                       f"(the strongest available is '{probing.probe_isolation()}')")
        self.hide = tuple(Path(p) for p in hide)
        self.cell_timeout_s = cell_timeout_s or limits.check_timeout_s
        self.starts: list[dict[str, float]] = []  # per worker start: seconds for "imports" and "cells"
        self.controls: list[str] = []
        self._reports: dict[int, CellReport] = {}
        self._poisoned: dict[int, CellReport] = {}
        self._failed: str | None = None
        self.max_poisoned = MAX_POISONED
        self._seq = 0
        root = Path(tempfile.mkdtemp(prefix="course-worker-"))
        capture = os.open(root / "output.log", os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self._state: dict[str, Any] = {"root": root, "capture_fd": capture}
        self._finalizer = weakref.finalize(self, _cleanup, self._state)

    # --- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> WorkerSession:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Kill every process of the worker and delete its files (idempotent)."""
        self._finalizer()

    @property
    def alive(self) -> bool:
        worker = self._state.get("worker")
        return worker is not None and worker.sb.alive()

    @property
    def cell_reports(self) -> list[CellReport]:
        """One report per cell, in order (cells never run are ``skipped``)."""
        out = []
        for index, (cell_id, _) in enumerate(self.cells):
            report = self._poisoned.get(index) or self._reports.get(index)
            out.append(report or CellReport(cell_id, "skipped", "Not run: earlier cells stopped the worker too often."))
        return out

    def start(self) -> list[CellReport]:
        """Start the worker (if not running) and run the cells; returns a report per cell."""
        if "root" not in self._state:
            raise RuntimeError("this session is closed")
        for _ in range(self.max_poisoned + 2):
            if "worker" in self._state or self._failed is not None:
                break
            self._boot()
        return self.cell_reports

    def _kill(self) -> None:
        worker = self._state.pop("worker", None)
        if worker is not None:
            worker.close()
            shutil.rmtree(worker.sb.root, ignore_errors=True)

    def _capture_size(self) -> int:
        return os.fstat(self._state["capture_fd"]).st_size

    def _tail(self, start: int, end: int) -> str:
        start = max(start, end - 4 * CELL_OUTPUT_TAIL)
        data = os.pread(self._state["capture_fd"], max(0, end - start), start)
        return data.decode("utf-8", "replace")[-CELL_OUTPUT_TAIL:]

    def _boot(self) -> None:
        """Start one worker and run the cells; a cell that stops it is poisoned (skipped from now on)."""
        root = self._state["root"]
        if self._reports or self._poisoned:
            os.write(self._state["capture_fd"], b"\n[the worker was restarted]\n")
        self.starts.append({"imports": 0.0, "cells": 0.0})
        sb = sandbox.Sandbox(self.isolation, self.limits, root / f"run{len(self.starts)}", hide=self.hide)
        self.controls = sb.controls
        if sb.as_nobody:
            os.chmod(root, 0o711)  # nobody may pass through to its work folder, not list ours
        fds: list[int] = []
        try:
            config = {
                "cells": self.cells, "skip": sorted(self._poisoned),
                "op_modules": _stage_runtime(sb.runtime_dir, self.op_modules),
                "output_cap": max(0, self.limits.max_output_bytes - self._capture_size()),
                "rlimits": sb.rlimits(), "threads": self.limits.worker_threads,
            }
            (sb.runtime_dir / "config.json").write_text(json.dumps(config))
            fds += os.pipe()
            fds += os.pipe()
            req_r, req_w, resp_r, resp_w = fds
            inner = [PYTHON, "-I", "-B", "-c", BOOT, sb.runtime_inside, str(req_r), str(resp_w)]
            sb.spawn(inner, pass_fds=(req_r, resp_w), stdout=self._state["capture_fd"])
        except BaseException:
            sb.kill_all()
            for fd in fds:
                os.close(fd)
            shutil.rmtree(sb.root, ignore_errors=True)
            raise
        os.close(req_r)
        os.close(resp_w)
        worker = self._state["worker"] = _Worker(sb, req_w, resp_r)
        self._run_cells(worker)

    def _run_cells(self, worker: _Worker) -> None:
        began = time.monotonic()
        try:
            header, _ = worker.recv(time.monotonic() + IMPORT_TIMEOUT_S)
            problem = None if header.get("kind") == "hello" else "its first message was not a greeting"
        except _Timeout:
            problem = f"no greeting within {IMPORT_TIMEOUT_S} s"
        except _Broken as exc:
            problem = str(exc)
        if problem is not None:  # no student code has run yet: a grader or sandbox problem
            tail = self._tail(0, self._capture_size())
            self._kill()
            raise SandboxError(f"the worker did not start ({problem}); its output ends with:\n{tail}")
        pending = [i for i in range(len(self.cells)) if i not in self._poisoned]
        mark = self._offset(header, 0)
        self.starts[-1]["imports"] = time.monotonic() - began
        began = time.monotonic()
        while True:
            index = pending[0] if pending else None
            try:
                header, _ = worker.recv(time.monotonic() + self.cell_timeout_s)
            except _Timeout:
                why = f"The cell did not finish within {self.cell_timeout_s:g} s (an endless loop, or too slow)"
                self._poison_or_fail(index, "timeout", why + "; it is skipped from now on.", mark)
                return
            except _Broken as exc:
                why = f"The cell stopped the worker ({exc}); it is skipped from now on. {self._death_note()}"
                self._poison_or_fail(index, "crash", why.strip(), mark)
                return
            end = self._offset(header, mark)
            if index is None and header.get("kind") == "ready":
                self.starts[-1]["cells"] = time.monotonic() - began
                return
            expected = header.get("kind") == "cell" and header.get("index") == index
            if not expected or header.get("status") not in ("ok", "error"):
                why = "The worker sent an unexpected message while running this cell."
                self._poison_or_fail(index, "crash", why, mark)
                return
            self._reports.setdefault(index, CellReport(
                self.cells[index][0], header["status"], _text(header.get("message")),
                _text(header.get("traceback")), self._tail(mark, end)))
            pending.pop(0)
            mark = end

    def _offset(self, header: dict, low: int) -> int:
        """The worker's capture-file offset from a frame, clamped to what is possible."""
        offset = header.get("offset")
        size = self._capture_size()
        return min(max(offset, low), size) if type(offset) is int else size

    def _poison_or_fail(self, index: int | None, status: str, message: str, mark: int | None = None) -> None:
        end = self._capture_size()
        self._kill()
        if index is None:  # after the last cell: nothing to skip, the worker itself is broken
            self._failed = "The worker stopped after running the cells; no check could run."
            return
        output = self._tail(mark, end) if mark is not None else ""
        self._poisoned[index] = CellReport(self.cells[index][0], status, message, "", output)
        if len(self._poisoned) > self.max_poisoned:
            self._failed = (f"{len(self._poisoned)} cells stopped the worker while it started; "
                            "no check could run. Fix the cells reported above.")

    def _death_note(self) -> str:
        """Why the worker died, as far as the grader can tell (call before killing it)."""
        worker = self._state.get("worker")
        if worker is None:
            return ""
        if worker.sb.oom_killed():
            return f"It used more than the memory limit ({self.limits.memory_limit_mb} MB)."
        try:
            code = worker.sb.proc.wait(timeout=0.5) if worker.sb.proc else None
        except Exception:
            return ""
        if code is None:
            return ""
        if code < 0 or code > 128:
            number = -code if code < 0 else code - 128
            try:
                return f"It was killed by {signal.Signals(number).name}."
            except ValueError:
                return f"It was killed by signal {number}."
        return f"It exited with code {code}."

    # --- probes ------------------------------------------------------------------------------

    def call(self, request: ProbeRequest, timeout_s: float | None = None) -> Response:
        """Run one probe in the worker; never raises for anything the submission does.

        Args:
            request: the op, its JSON params and numpy arrays.
            timeout_s: wall-time limit; default ``request.timeout_s`` or the course's check timeout.

        Returns:
            A validated Response: ok / error from the op, or timeout / crash (the worker is then
            killed and restarted by the next call).
        """
        timeout = timeout_s or request.timeout_s or self.limits.check_timeout_s
        frames = wire.encode({"seq": self._seq + 1, "op": request.op, "params": request.params}, request.arrays)
        if "worker" not in self._state:
            self.start()
        if self._failed is not None:
            return Response(request.id, "crash", message=self._failed)
        self._seq += 1
        worker = self._state["worker"]
        deadline = time.monotonic() + timeout
        try:
            worker.send(frames, deadline)
            header, arrays = worker.recv(deadline)
            if header.get("seq") != self._seq or header.get("status") not in ("ok", "error"):
                raise _Broken("the worker sent a reply that does not match the request")
            value = _clean(header.get("value"))
            if not isinstance(value, dict):
                raise _Broken("the worker sent a reply without a value")
        except _Timeout:
            self._kill()
            return Response(request.id, "timeout", message=f"The call did not finish within {timeout:g} s (an endless "
                            "loop, or much slower than expected); the worker was stopped.")
        except _Broken as exc:
            note = self._death_note()
            self._kill()
            return Response(request.id, "crash", message=f"The call stopped the worker: {exc}. {note}".strip())
        return Response(request.id, header["status"], value, arrays if header["status"] == "ok" else {},
                        _text(header.get("message")))

    def output(self) -> str:
        """What the submission printed (all workers), capped at the course's output limit."""
        fd = self._state.get("capture_fd")
        if fd is None:
            return ""
        cap = self.limits.max_output_bytes
        size = os.fstat(fd).st_size
        text = os.pread(fd, min(size, cap), 0).decode("utf-8", "replace")
        if size > cap:
            text += f"\n[output truncated: {size - cap:,} more bytes not shown]\n"
        return text
