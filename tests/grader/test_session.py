"""WorkerSession end to end: cells, probes, hostile submissions; the grader stays intact and nothing survives."""
from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from procs import processes_with, wait_for

from course.config import REPO_ROOT, Limits
from course.grader import probing
from course.grader.inprocess import InProcessSession
from course.grader.isolation import IsolationLevel, SandboxError
from course.grader.probes import ProbeRequest
from course.grader.session import WorkerSession, _stage_runtime

OPS = Path(__file__).resolve().parents[1] / "files" / "sandbox_ops.py"
LIMITS = Limits(check_timeout_s=30, submission_timeout_s=300, threshold_timeout_s=60, memory_limit_mb=3072,
                max_processes=32, max_file_size_mb=4, max_output_bytes=20_000, max_notebook_bytes=1_000_000,
                max_cells=100, worker_threads=1)
BEST = probing.probe_isolation()
LEVELS = [lv for lv in IsolationLevel if probing.level_available(lv)]
needs_bwrap = pytest.mark.skipif(not probing.level_available(IsolationLevel.BWRAP),
                                 reason="bubblewrap unavailable here")


def gone(marker: str, seconds: float = 5.0) -> bool:
    return wait_for(lambda: not processes_with(marker), seconds)


def spawn_daemon_code(marker: str) -> str:
    """Cell code leaving a setsid double-forked daemon and a plain child, both tagged with ``marker``."""
    return f"""
import os, sys
_m = {marker[::-1]!r}[::-1]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(300)", _m])
    os._exit(0)
if os.fork() == 0:
    os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(300)", _m])
"""


def reports_by_id(session: WorkerSession) -> dict:
    return {r.cell_id: r for r in session.cell_reports}


# --- one worker full of misbehaving but survivable cells --------------------------------------------

FORGED = ("import json, os, struct\nhead = json.dumps({'kind': 'ready'}).encode()\n"
          "os.write(1, struct.pack('>I', len(head)) + head)\nprint('All tests passed!')\n")
SURVIVABLE = [
    ("setup", "import numpy as np\nimport torch\nprint('setup done')"),
    ("raises", "def helper():\n    return 1 / 0\nhelper()"),
    ("exits", "import sys\nsys.exit(3)"),
    ("syntax", "def broken(:\n    pass"),
    ("magics", "%matplotlib inline\n!pip install numpy\nfiles = !ls\nx_magic = 7\n"),
    ("timed", "%%time\nx_timed = 8\n"),
    ("forged", FORGED),
    ("recursion", "def down(n):\n    return down(n + 1)\ndown(0)"),
    ("memory", "block = bytearray(16 << 30)"),
    ("torch_memory", "import torch\nbig = torch.empty(2**34)"),
    ("threads", "import threading, time\nfor _ in range(500):\n"
                "    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()"),
    ("big_file", "with open('big.bin', 'wb') as f:\n    f.write(b'x' * (64 << 20))"),
    ("spam", "for i in range(200_000):\n    print('spam', i)"),
    ("defs", "def double(x):\n    return x * 2\nvalue = 41"),
]


@pytest.fixture(scope="module")
def survivor():
    with WorkerSession(LIMITS, [OPS], SURVIVABLE) as session:
        session.start()
        yield session


def test_each_cell_gets_its_own_report_and_errors_do_not_stop_later_cells(survivor):
    reports = reports_by_id(survivor)
    assert list(reports) == [cid for cid, _ in SURVIVABLE]
    assert reports["setup"].status == "ok" and reports["setup"].output == "setup done\n"
    assert reports["raises"].status == "error"
    assert reports["raises"].message == "ZeroDivisionError: division by zero"
    tb = reports["raises"].traceback
    assert '"<cell raises>", line 2, in helper' in tb and "return 1 / 0" in tb
    assert "runtime.py" not in tb and "course" not in tb  # only the student's lines
    assert reports["syntax"].status == "error" and reports["syntax"].message.startswith("SyntaxError")
    assert reports["defs"].status == "ok"
    doubled = survivor.call(ProbeRequest("d", "call", {"name": "double"}, {"x": np.arange(3)}))
    assert doubled.arrays["result"].tolist() == [0, 2, 4]


def test_sys_exit_in_a_cell_is_an_error_not_an_exit(survivor):
    assert reports_by_id(survivor)["exits"].message == "SystemExit: 3"
    assert survivor.alive


def test_magics_and_shell_lines_are_harmless(survivor):
    reports = reports_by_id(survivor)
    assert reports["magics"].status == "ok" and reports["timed"].status == "ok"
    resp = survivor.call(ProbeRequest("m", "call", {"name": "double"}, {"x": np.array([3.5])}))
    assert resp.ok and resp.arrays["result"].tolist() == [7.0]


def test_limits_turn_bombs_into_errors(survivor):
    reports = reports_by_id(survivor)
    assert reports["recursion"].message.startswith("RecursionError")
    assert reports["memory"].message.startswith("MemoryError")
    assert reports["torch_memory"].status == "error" and "allocate" in reports["torch_memory"].message
    assert reports["big_file"].message == "OSError: [Errno 27] File too large"
    if "pids cgroup" in survivor.controls:
        assert "can't start new thread" in reports["threads"].message


def test_forged_protocol_bytes_on_stdout_are_only_output(survivor):
    reports = reports_by_id(survivor)
    assert reports["forged"].status == "ok" and "All tests passed!" in reports["forged"].output
    assert reports["defs"].status == "ok"  # the forged 'ready' ended nothing
    assert survivor.call(ProbeRequest("e", "echo", {"k": [1, 2]})).value == {"k": [1, 2]}


def test_output_is_capped_with_a_note(survivor):
    out = survivor.output()
    assert out.startswith("setup done\n")
    assert len(out.encode()) <= LIMITS.max_output_bytes + 200
    assert "[output truncated" in out
    assert reports_by_id(survivor)["spam"].status == "ok"


def test_op_errors_and_bad_results_keep_the_worker(survivor):
    missing = survivor.call(ProbeRequest("x", "call", {"name": "not_defined"}))
    assert missing.status == "error" and missing.message.startswith("NameError: name 'not_defined' is not defined")
    bad = survivor.call(ProbeRequest("b", "bad_dtype"))
    assert bad.status == "error" and "float16" in bad.message and bad.arrays == {}
    unknown = survivor.call(ProbeRequest("u", "no_such_op"))
    assert unknown.status == "error" and "unknown op" in unknown.message
    added = survivor.call(ProbeRequest("ok", "add_one", {}, {"x": np.zeros(2, np.float32)}))
    assert added.arrays["y"].tolist() == [1, 1]


def test_streaming_many_small_calls(survivor):
    column = np.arange(64, dtype=np.float32)
    for step in range(200):
        resp = survivor.call(ProbeRequest(f"s{step}", "add_one", {"step": step}, {"x": column + step}))
        assert resp.ok and resp.value == {"n": 64}
        assert resp.arrays["y"].dtype == np.float32 and resp.arrays["y"][0] == step + 1


# --- cells and ops that kill or hang the worker -------------------------------------------------


def test_cells_that_stop_the_worker_are_skipped_on_restart():
    cells = [
        ("first", "print('first')\nfirst = 1"),
        ("hard_exit", "import os\nos._exit(7)"),
        ("endless", "while True:\n    pass"),
        ("last", "last = 2"),
        ("check", "def both():\n    return first + last"),
    ]
    with WorkerSession(LIMITS, [OPS], cells, cell_timeout_s=3) as session:
        reports = {r.cell_id: r for r in session.start()}
        assert reports["hard_exit"].status == "crash" and "exited with code 7" in reports["hard_exit"].message
        assert reports["endless"].status == "timeout" and "3 s" in reports["endless"].message
        assert [reports[c].status for c in ("first", "last", "check")] == ["ok"] * 3
        assert len(session.starts) == 3
        assert session.call(ProbeRequest("b", "call", {"name": "both"})).value == {"result": 3}


def test_too_many_crashing_cells_fail_every_call_with_a_message():
    cells = [(f"exit{i}", "import os\nos._exit(1)") for i in range(4)]
    with WorkerSession(LIMITS, [OPS], cells) as session:
        session.max_poisoned = 2
        reports = session.start()
        assert [r.status for r in reports] == ["crash"] * 3 + ["skipped"]
        resp = session.call(ProbeRequest("e", "echo"))
        assert resp.status == "crash" and "stopped the worker while it started" in resp.message


def test_hanging_crashing_and_exiting_ops(tmp_path):
    marker = f"course-test-{uuid.uuid4().hex}"
    cells = [("defs", f"""
import os, signal
signal.signal(signal.SIGTERM, signal.SIG_IGN)
def hang():
{spawn_daemon_code(marker).replace(chr(10), chr(10) + '    ')}
    while True:
        pass
def hard_exit():
    os._exit(5)
def soft_exit():
    raise SystemExit('bye')
def ok(x):
    return x + 1
""")]
    with WorkerSession(LIMITS, [OPS], cells) as session:
        session.start()
        hang = session.call(ProbeRequest("h", "call", {"name": "hang"}), timeout_s=2)
        assert hang.status == "timeout" and "2 s" in hang.message
        assert gone(marker), "the timed-out call left processes behind"
        ok = session.call(ProbeRequest("o", "call", {"name": "ok"}, {"x": np.ones(2)}))
        assert ok.ok and ok.arrays["result"].tolist() == [2.0, 2.0]  # restarted transparently
        crash = session.call(ProbeRequest("c", "call", {"name": "hard_exit"}))
        assert crash.status == "crash" and "exited with code 5" in crash.message
        soft = session.call(ProbeRequest("s", "call", {"name": "soft_exit"}))
        assert soft.status == "error" and soft.message == "SystemExit: bye"
        assert session.call(ProbeRequest("o2", "call", {"name": "ok"}, {"x": np.zeros(1)})).ok
        assert len(session.starts) == 3


@pytest.mark.parametrize("level", LEVELS, ids=str)
def test_close_leaves_no_process_behind(level):
    marker = f"course-test-{uuid.uuid4().hex}"
    spawn = f"def spawn():\n    exec({spawn_daemon_code(marker + 'op')!r})\n    return 1"
    cells = [("daemon", spawn_daemon_code(marker)), ("op_daemon", spawn)]
    session = WorkerSession(LIMITS, [OPS], cells, isolation=level)
    with session:
        assert [r.status for r in session.start()] == ["ok", "ok"]
        assert session.isolation == level
        assert session.call(ProbeRequest("s", "call", {"name": "spawn"})).value == {"result": 1}
        assert wait_for(lambda: len(processes_with(marker)) == 4)  # the daemons really run (incl. the op's)
    assert gone(marker), f"{level}: a process survived close()"
    assert not session.alive
    session.close()  # idempotent


def test_forged_frames_on_the_protocol_pipe_cost_only_that_cell():
    forge = ("import json, os, struct, sys\n"
             "head = json.dumps({'seq': 1, 'status': 'ok', 'value': {'result': 'forged'}, 'arrays': []}).encode()\n"
             "os.write(int(sys.argv[3]), struct.pack('>I', len(head)) + head)")
    cells = [("forge", forge), ("defs", "def real():\n    return 'real'")]
    with WorkerSession(LIMITS, [OPS], cells) as session:
        reports = session.start()
        assert reports[0].status == "crash" and "unexpected message" in reports[0].message
        assert session.call(ProbeRequest("r", "call", {"name": "real"})).value == {"result": "real"}


def test_a_broken_op_module_is_a_grader_error_not_a_student_one(tmp_path):
    bad = tmp_path / "broken_ops.py"
    bad.write_text("raise ImportError('grader bug')\n")
    with WorkerSession(LIMITS, [bad], [("a", "x = 1")]) as session, \
            pytest.raises(SandboxError, match="(?s)did not start.*ImportError: grader bug"):
        session.start()


def test_unavailable_level_is_refused(monkeypatch):
    monkeypatch.setattr(probing, "level_available", lambda level: level == IsolationLevel.RLIMITS)
    with pytest.raises(SandboxError, match="'bwrap' does not work"):
        WorkerSession(LIMITS, [OPS], [], isolation="bwrap")


# --- the sandbox as the submission sees it (full isolation) ------------------------------------------


@needs_bwrap
def test_bwrap_worker_cannot_reach_repository_network_or_grader_files(tmp_path):
    precious = tmp_path / "grader_output.json"
    precious.write_text('{"score": 0}')
    config_hash = hashlib.sha256((REPO_ROOT / "course_config.py").read_bytes()).hexdigest()
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    cells = [
        ("read_config", f"open({str(REPO_ROOT / 'course_config.py')!r}).read()"),
        ("list_checks", f"import os\nos.listdir({str(REPO_ROOT / 'autograder')!r})"),
        ("corpus", "from pydoc_data.topics import topics"),
        ("network", f"import socket\nsocket.create_connection(('127.0.0.1', {server.getsockname()[1]}), timeout=2)"),
        ("overwrite", f"open({str(precious)!r}, 'w').write('{{\"score\": 100}}')"),
        ("grader_env", f"open('/proc/{os.getpid()}/environ').read()"),
        ("home", "import os\nopen(os.path.expanduser('~/scratch.txt'), 'w').write('ok')"),
    ]
    try:
        with WorkerSession(LIMITS, [OPS], cells, isolation="bwrap") as session:
            reports = {r.cell_id: r for r in session.start()}
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()
    for cid in ("read_config", "list_checks", "overwrite", "grader_env"):
        assert reports[cid].status == "error" and "FileNotFoundError" in reports[cid].message, cid
    assert reports["corpus"].message.startswith("ModuleNotFoundError")
    assert reports["network"].message.startswith("ConnectionRefusedError")
    assert reports["home"].status == "ok"
    assert precious.read_text() == '{"score": 0}'
    assert hashlib.sha256((REPO_ROOT / "course_config.py").read_bytes()).hexdigest() == config_hash


# --- in-process sessions (trusted code only) -------------------------------------------------------


def test_in_process_session_matches_the_worker(survivor):
    ns: dict = {}
    exec("def double(x):\n    return x * 2", ns)
    local = InProcessSession(ns, [OPS])
    request = ProbeRequest("d", "call", {"name": "double"}, {"x": np.arange(4, dtype=np.int32)})
    here, there = local.call(request), survivor.call(request)
    assert here.status == there.status == "ok"
    np.testing.assert_array_equal(here.arrays["result"], there.arrays["result"])
    assert here.arrays["result"].dtype == there.arrays["result"].dtype == np.int32
    assert local.call(ProbeRequest("b", "bad_dtype")).status == "error"
    assert local.call(ProbeRequest("x", "call", {"name": "nope"})).message.startswith("NameError")


def test_limits_are_respected_by_a_fresh_session_with_smaller_output():
    small = replace(LIMITS, max_output_bytes=50)
    with WorkerSession(small, [OPS], [("talk", "print('x' * 1000)")]) as session:
        session.start()
        out = session.output()
    assert out.startswith("x" * 50) and "[output truncated" in out and "xx" * 40 not in out


def test_staged_worker_code_is_readable_by_the_worker_whatever_the_source_modes(tmp_path):
    """Gradescope's setup.sh makes the bundle root-only; the worker, running as nobody, must still read its copy."""
    ops = tmp_path / "my_ops.py"
    ops.write_text("X = 1\n")
    ops.chmod(0o600)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    assert _stage_runtime(runtime, [ops]) == ["my_ops.py"]
    modes = {p.relative_to(runtime).as_posix(): p.stat().st_mode & 0o777 for p in [runtime, *runtime.rglob("*")]}
    assert modes["ops/my_ops.py"] == 0o644 and modes["."] == 0o755
    assert {m for p, m in modes.items() if (runtime / p).is_dir()} == {0o755}
    assert {m for p, m in modes.items() if (runtime / p).is_file()} == {0o644}
