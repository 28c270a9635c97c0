"""The worker: runs the submission's cells in one namespace, then answers probe requests over the wire.

Op contract (for the op modules in ``autograder/<assignment>/worker/``)
---------------------------------------------------------------------
An op module is a plain Python file that the grader copies into every worker
and imports *before* any student code runs. It may import only the standard
library, numpy, torch and this module, with exactly::

    from course.worker.runtime import op

Each op is a module-level function marked with ``@op("name")``::

    @op("myrnn_forward")
    def myrnn_forward(ns, params, arrays):
        MyRNN = symbol(ns, "MyRNN")          # the student's symbol, or a NameError
        ...
        return {"shape": list(out.shape)}, {"output": out.detach().numpy()}

* ``ns``: the namespace dict the cells ran in (the student's globals).
* ``params``: the request's JSON values (dict); ``arrays``: name -> numpy array.
* Returns ``(value, arrays)``, or only ``value``: ``value`` a dict of plain JSON
  values (numpy scalars and tuples are converted), ``arrays`` a dict name ->
  numpy array or torch tensor (converted with ``.detach().cpu().numpy()``) of
  dtype float32, float64, int64, int32, bool or uint8.
* Any exception (including SystemExit) becomes ``status: error`` with the message
  ``"TypeName: message"``; never put grader secrets in messages. A hang is cut by
  the grader's timeout, a crash by the worker's death; both restart the worker.

Everything the worker sends is untrusted by the grader: student code shares this
process and can change any of it. The worker's protection is the sandbox around
it; this module only keeps honest submissions and the protocol apart.
"""
from __future__ import annotations

import builtins
import ctypes
import importlib.util
import io
import json
import linecache
import os
import re
import resource
import signal
import sys
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from course.worker import wire

OpFunc = Callable[[dict, dict, dict], Any]
MAX_MESSAGE = 2000  # characters of an error message sent back
MAX_TRACEBACK = 4000
RECURSION_LIMIT = 5000
# Only cells with a magic, a shell escape or a help query go through IPython's transformer.
_MAGIC = re.compile(r"^\s*[%!]|=\s*[%!]|\?\s*$", re.M)
_BODY_MAGICS = {"time", "timeit", "capture"}  # cell magics whose body still runs once


def op(name: str) -> Callable[[OpFunc], OpFunc]:
    """Mark a module-level function as the worker op ``name`` (see the module docstring)."""

    def mark(fn: OpFunc) -> OpFunc:
        fn.__worker_op__ = name  # type: ignore[attr-defined]
        return fn

    return mark


def symbol(ns: dict, name: str) -> Any:
    """The student's ``name`` from the namespace, or a NameError a student can act on."""
    if name not in ns:
        raise NameError(f"name '{name}' is not defined (did its cell run without errors?)")
    return ns[name]


def collect_ops(modules: list[types.ModuleType]) -> dict[str, OpFunc]:
    """name -> function for every ``@op`` in the modules; a name defined twice is an error."""
    ops: dict[str, OpFunc] = {}
    for module in modules:
        for value in vars(module).values():
            name = getattr(value, "__worker_op__", None)
            if isinstance(name, str) and callable(value):
                if name in ops and ops[name] is not value:
                    raise ValueError(f"worker op {name!r} is defined twice")
                ops[name] = value
    return ops


def load_op_module(path: Path) -> types.ModuleType:
    """Import an op module from its file (registered in sys.modules under its stem)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import op module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


# --- results and errors ------------------------------------------------------------------


def exception_message(exc: BaseException) -> str:
    """``"TypeName: message"``, capped; never raises, whatever the exception's __str__ does."""
    try:
        text = str(exc)
    except BaseException:
        text = "<message could not be shown>"
    name = type(exc).__name__
    message = f"{name}: {text}" if text else name
    return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE] + " ..."


def plain(value: Any, depth: int = 0) -> Any:
    """JSON-plain copy of ``value``: numpy scalars to Python, tuples to lists; anything else is a TypeError."""
    if depth > wire.MAX_DEPTH:
        raise TypeError("the result nests too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    raise TypeError(f"a {type(value).__name__} cannot be sent back as plain data")


def _as_array(name: str, value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return np.asarray(value)
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    raise TypeError(f"result array {name!r} is a {type(value).__name__}, not an array or tensor")


def call_op(
    ops: dict[str, OpFunc], ns: dict, name: str, params: dict, arrays: dict[str, np.ndarray]
) -> tuple[str, dict, dict[str, np.ndarray], str]:
    """Run one op; returns (status, value, arrays, message) and never raises."""
    fn = ops.get(name)
    if fn is None:
        return "error", {}, {}, f"unknown op {name!r}"
    try:
        out = fn(ns, params, arrays)
        value, out_arrays = out if isinstance(out, tuple) and len(out) == 2 else (out, {})
        if not isinstance(value, dict) or not isinstance(out_arrays, dict):
            raise TypeError("an op returns (dict of values, dict of arrays)")
        return "ok", plain(value), {str(k): _as_array(str(k), v) for k, v in out_arrays.items()}, ""
    except BaseException as exc:
        return "error", {}, {}, exception_message(exc)


# --- cells ------------------------------------------------------------------------------


class ShellStub:
    """Enough of IPython's shell for transformed cells: magics and shell escapes do nothing."""

    def __init__(self, ns: dict):
        self.user_ns = ns
        self.cell_name = "<cell>"

    def run_line_magic(self, name: str, line: str, *args: Any, **kwargs: Any) -> None:
        return None

    def run_cell_magic(self, name: str, line: str, cell: str) -> None:
        if name in _BODY_MAGICS:
            exec(compile(cell, self.cell_name, "exec"), self.user_ns)
        return None

    def system(self, cmd: str) -> None:
        return None

    def getoutput(self, cmd: str, *args: Any, **kwargs: Any) -> list[str]:
        return []

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def transform_cell(source: str) -> str:
    """IPython syntax (magics, ``!cmd``, ``x?``) to plain Python, when IPython is importable."""
    if not _MAGIC.search(source):
        return source
    try:  # imported here: IPython is optional in the worker and only cells with magics need it
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def new_namespace() -> dict:
    """A fresh ``__main__`` namespace, like a notebook kernel's, with ``get_ipython`` and ``display``."""
    module = types.ModuleType("__main__")
    sys.modules["__main__"] = module
    ns = module.__dict__
    shell = ShellStub(ns)
    ns.update({"__builtins__": builtins, "get_ipython": lambda: shell, "display": lambda *objs, **kw: print(*objs)})
    return ns


def student_traceback(exc: BaseException, limit: int = 5) -> str:
    """The traceback restricted to frames of the submission's cells, capped."""
    if isinstance(exc, SyntaxError):
        lines = traceback.format_exception_only(type(exc), exc)
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<cell ")]
        lines = traceback.format_list(frames[-limit:]) + [exception_message(exc) + "\n"]
    text = "".join(lines)
    return text if len(text) <= MAX_TRACEBACK else "...\n" + text[-MAX_TRACEBACK:]


def run_cell(ns: dict, cell_id: str, source: str) -> dict[str, Any]:
    """Execute one cell in ``ns``; returns {status, message, traceback}; never raises."""
    name = f"<cell {cell_id}>"
    try:
        ns["get_ipython"]().cell_name = name
        code = transform_cell(source)
        linecache.cache[name] = (len(code), None, code.splitlines(True), name)
        exec(compile(code, name, "exec"), ns)
    except BaseException as exc:
        return {"status": "error", "message": exception_message(exc), "traceback": student_traceback(exc)}
    return {"status": "ok", "message": "", "traceback": ""}


# --- process set-up ------------------------------------------------------------------------


class CappedStream(io.TextIOBase):
    """stdout / stderr writing straight to a descriptor until a shared byte budget is spent."""

    def __init__(self, fd: int, budget: list[int]):
        self._fd, self._budget = fd, budget

    def write(self, text: str) -> int:
        if self._budget[0] > 0:
            data = str(text).encode("utf-8", "replace")
            if len(data) > self._budget[0]:
                data = data[: self._budget[0]] + b"\n[output truncated: the output limit was reached]\n"
            self._budget[0] -= len(data)
            try:
                while data:
                    data = data[os.write(self._fd, data):]
            except OSError:
                self._budget[0] = 0
        return len(text)

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    @property
    def encoding(self) -> str:
        return "utf-8"


def apply_rlimits(limits: dict[str, list[int]]) -> None:
    """Lower this process's resource limits (inherited by everything it starts)."""
    for name, (soft, hard) in limits.items():
        kind = getattr(resource, name)
        _, old_hard = resource.getrlimit(kind)
        if old_hard != resource.RLIM_INFINITY:
            hard, soft = min(hard, old_hard), min(soft, old_hard)
        resource.setrlimit(kind, (soft, hard))


def _no_new_privileges() -> None:
    try:
        ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: setuid binaries gain nothing
    except (OSError, AttributeError):
        pass


class Channel:
    """Blocking framed messages over two pipe descriptors."""

    def __init__(self, read_fd: int, write_fd: int):
        self.read_fd, self.write_fd = read_fd, write_fd

    def read_exact(self, n: int) -> bytearray:
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            k = os.readv(self.read_fd, [view[got:]])
            if k == 0:
                raise EOFError("the grader closed the channel")
            got += k
        return buf

    def recv(self) -> tuple[dict, dict]:
        return wire.read_message(self.read_exact, wire.WireLimits(max_header_bytes=64 << 20, max_total_bytes=1 << 30))

    def send(self, header: dict, arrays: dict | None = None) -> None:
        try:
            buffers = wire.encode(header, arrays)
        except wire.WireError as exc:
            keep = {k: header[k] for k in ("kind", "seq") if k in header}
            message = f"the result could not be sent back: {exc}"
            buffers = wire.encode({**keep, "status": "error", "value": {}, "message": message})
        data = b"".join(bytes(b) for b in buffers) if sum(len(b) for b in buffers) < 65536 else None
        if data is not None:
            while data:
                data = data[os.write(self.write_fd, data):]
            return
        for buf in buffers:
            view = memoryview(buf).cast("B")
            while len(view):
                view = view[os.write(self.write_fd, view):]


def torch_threads(threads: int) -> None:
    """Pin torch's thread pools once torch is imported (by an op module or a cell); no import here."""
    torch = sys.modules.get("torch")
    if torch is None or getattr(torch_threads, "done", False):
        return
    try:
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
    except (RuntimeError, AttributeError):  # a pool already started by a cell keeps its size
        pass
    torch_threads.done = True  # type: ignore[attr-defined]


def _output_offset() -> int:
    """Bytes in the capture file so far (the grader cuts each cell's output there)."""
    try:
        return os.fstat(1).st_size
    except OSError:
        return 0


def main(argv: list[str]) -> int:
    """Worker entry point: ``RUNTIME_DIR REQUEST_FD RESPONSE_FD``; settings in RUNTIME_DIR/config.json."""
    runtime, read_fd, write_fd = Path(argv[0]), int(argv[1]), int(argv[2])
    config = json.loads((runtime / "config.json").read_text(encoding="utf-8"))
    apply_rlimits(config["rlimits"])
    _no_new_privileges()
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large file fails with EFBIG instead of killing
    for fd in (read_fd, write_fd):
        os.set_inheritable(fd, False)  # programs the student starts never get the protocol
    budget = [int(config["output_cap"])]
    sys.stdout, sys.stderr = CappedStream(1, budget), CappedStream(2, budget)
    chan = Channel(read_fd, write_fd)

    sys.setrecursionlimit(RECURSION_LIMIT)
    ops = collect_ops([load_op_module(runtime / "ops" / name) for name in config["op_modules"]])
    ops.setdefault("__echo__", lambda ns, params, arrays: (params, arrays))
    threads = int(config["threads"])
    torch_threads(threads)
    chan.send({"kind": "hello", "offset": _output_offset()})

    ns = new_namespace()
    for index, (cell_id, source) in enumerate(config["cells"]):
        if index in config["skip"]:
            continue
        report = run_cell(ns, cell_id, source)
        torch_threads(threads)
        chan.send({"kind": "cell", "index": index, "offset": _output_offset(), **report})
    chan.send({"kind": "ready"})

    while True:
        try:
            header, arrays = chan.recv()
        except EOFError:
            return 0
        name, params = header.get("op"), header.get("params")
        if name == "__exit__":
            return 0
        status, value, out, message = call_op(ops, ns, str(name), params if isinstance(params, dict) else {}, arrays)
        chan.send({"seq": header.get("seq"), "status": status, "value": value, "message": message}, out)
