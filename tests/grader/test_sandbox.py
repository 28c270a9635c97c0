"""Isolation levels, their probes, and what each level really stops (small commands, no worker)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from procs import processes_with, wait_for

from course.config import REPO_ROOT, Limits
from course.grader import isolation, probing, sandbox
from course.grader.cgroups import cgroup_controls
from course.grader.isolation import IsolationLevel, SandboxError
from course.grader.sandbox import Sandbox

LIMITS = Limits(check_timeout_s=30, submission_timeout_s=120, threshold_timeout_s=60, memory_limit_mb=3072,
                max_processes=32, max_file_size_mb=8, max_output_bytes=10_000, max_notebook_bytes=1_000_000,
                max_cells=100, worker_threads=1)
LEVELS = [lv for lv in IsolationLevel if probing.level_available(lv)]
NAMESPACED = [lv for lv in LEVELS if lv >= IsolationLevel.UNSHARE]
needs_bwrap = pytest.mark.skipif(not probing.level_available(IsolationLevel.BWRAP),
                                 reason="bubblewrap unavailable here")


class Jail:
    """A Sandbox running one Python snippet, its output in a file."""

    def __init__(self, level, tmp_path: Path, code: str, limits: Limits = LIMITS, use_cgroups: bool = True):
        self.sb = Sandbox(level, limits, tmp_path / "sb", use_cgroups=use_cgroups)
        self.out_path = tmp_path / "out.txt"
        self.out = os.open(self.out_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self.proc = self.sb.spawn([sys.executable, "-I", "-c", code], pass_fds=(), stdout=self.out)

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout)

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def close(self) -> None:
        self.sb.kill_all()
        os.close(self.out)


def run(level, tmp_path: Path, code: str, **kwargs) -> tuple[int, str]:
    jail = Jail(level, tmp_path, code, **kwargs)
    try:
        return jail.wait(), jail.output()
    finally:
        jail.close()


# --- levels -------------------------------------------------------------------------------


def test_level_names_parse_and_order():
    assert isolation.parse_level("BWRAP") is IsolationLevel.BWRAP
    assert isolation.level_name(IsolationLevel.UNSHARE) == "unshare"
    assert isolation.is_full("bwrap") and not isolation.is_full("rlimits")
    assert IsolationLevel.RLIMITS < IsolationLevel.UNSHARE < IsolationLevel.BWRAP
    with pytest.raises(SandboxError, match="unknown isolation level 'docker'.*bwrap"):
        isolation.parse_level("docker")


def test_probe_picks_the_strongest_working_level_and_describe_names_it():
    level = probing.probe_isolation()
    assert level == max(LEVELS)
    assert probing.resolve(None) == level
    line = probing.describe()
    assert line.startswith(str(level)) and "\n" not in line
    assert probing.require_isolation(IsolationLevel.RLIMITS) == level


def test_require_isolation_refuses_a_weaker_machine_with_advice(monkeypatch):
    monkeypatch.setattr(probing, "probe_isolation", lambda: IsolationLevel.RLIMITS)
    with pytest.raises(SandboxError, match="'bwrap' is required but only 'rlimits'.*bubblewrap.*Docker"):
        probing.require_isolation("bwrap")


@pytest.mark.parametrize("level", LEVELS, ids=str)
def test_environment_is_scrubbed(level, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_GRADER_SECRET", "hunter2")
    code, out = run(level, tmp_path, "import os, json; print(json.dumps(dict(os.environ)))")
    env = json.loads(out.strip().splitlines()[-1])
    assert code == 0
    assert "COURSE_GRADER_SECRET" not in env and "hunter2" not in out
    expected = Sandbox(level, LIMITS, tmp_path / "x", use_cgroups=False)
    expected.kill_all()
    assert set(env) <= set(expected.env()) | {"PWD"}
    assert env["OMP_NUM_THREADS"] == "1" and env["HOME"] in (sandbox.WORK_INSIDE, str(tmp_path / "sb" / "work"))


# --- file system, network, processes (bubblewrap) --------------------------------------------


@needs_bwrap
def test_bwrap_hides_the_repository_and_the_corpus(tmp_path):
    probe = """
import json, os
repo = {repo!r}
paths = [os.path.join(repo, p) for p in ("course_config.py", "autograder", "source", ".git", "course")]
import sysconfig
pydoc = os.path.join(sysconfig.get_paths()["stdlib"], "pydoc_data")
print(json.dumps({{"visible": [p for p in paths if os.path.exists(p)], "pydoc": os.listdir(pydoc),
                  "uid": os.getuid(), "caps": open("/proc/self/status").read().split("CapEff:")[1].split()[0]}}))
"""
    code, out = run(IsolationLevel.BWRAP, tmp_path, probe.format(repo=str(REPO_ROOT)))
    seen = json.loads(out.strip().splitlines()[-1])
    assert code == 0
    assert (REPO_ROOT / "course_config.py").exists()  # the probe could have seen it
    assert seen["visible"] == [] and seen["pydoc"] == []
    assert seen["uid"] != 0 and int(seen["caps"], 16) == 0


@needs_bwrap
def test_bwrap_allows_writes_only_to_private_tmpfs(tmp_path):
    target = tmp_path / "grader_file.txt"
    target.write_text("original")
    marker = f"course-test-{uuid.uuid4().hex}"
    code_text = f"""
import os
results = {{}}
for path in ({str(target)!r}, "/usr/evil", {str(sys.prefix)!r} + "/evil", "/grader/evil"):
    try:
        open(path, "w").write("owned")
        results[path] = "written"
    except OSError as exc:
        results[path] = type(exc).__name__
open("/tmp/{marker}", "w").write("x")
open(os.path.expanduser("~/notes.txt"), "w").write("home is writable")
print(results)
"""
    code, out = run(IsolationLevel.BWRAP, tmp_path, code_text)
    assert code == 0, out
    assert "written" not in out
    assert target.read_text() == "original"
    assert not (Path("/tmp") / marker).exists() and not (Path(sys.prefix) / "evil").exists()


@pytest.mark.parametrize("level", NAMESPACED, ids=str)
def test_network_is_cut_even_to_loopback(level, tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.3)
    port = server.getsockname()[1]
    code_text = f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3)
    print("CONNECTED")
except OSError as exc:
    print("refused", type(exc).__name__)
try:
    socket.getaddrinfo("example.com", 80)
    print("RESOLVED")
except OSError as exc:
    print("no dns", type(exc).__name__)
"""
    try:
        code, out = run(level, tmp_path, code_text)
        with pytest.raises(socket.timeout):
            server.accept()  # nobody connected
    finally:
        server.close()
    assert code == 0 and "refused" in out and "no dns" in out
    assert "CONNECTED" not in out and "RESOLVED" not in out


@pytest.mark.parametrize("level", NAMESPACED, ids=str)
def test_grader_processes_are_out_of_reach(level, tmp_path):
    code_text = f"""
import os
try:
    os.kill({os.getpid()}, 0)
    print("CAN SIGNAL")
except ProcessLookupError:
    print("no such process")
print("proc", os.path.exists("/proc/{os.getpid()}/environ"))
"""
    code, out = run(level, tmp_path, code_text)
    assert code == 0 and "no such process" in out and "proc False" in out


# --- kill-all ---------------------------------------------------------------------------------

DAEMON = """
import os, sys, time
marker = {reversed_marker!r}[::-1]  # the marker itself must not appear in this process's command line
if os.fork() == 0:          # double fork + setsid: a daemon no process group reaches
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(120)", marker])
    os._exit(0)
if os.fork() == 0:          # and a plain child
    os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(120)", marker])
print("ready", flush=True)
time.sleep({linger})
"""


@pytest.mark.parametrize("use_cgroups", [True, False], ids=["cgroups", "no-cgroups"])
@pytest.mark.parametrize("level", LEVELS, ids=str)
def test_kill_all_takes_setsid_daemons_and_double_forks(level, use_cgroups, tmp_path):
    marker = f"course-test-{uuid.uuid4().hex}"
    jail = Jail(level, tmp_path, DAEMON.format(reversed_marker=marker[::-1], linger=120), use_cgroups=use_cgroups)
    try:
        assert wait_for(lambda: len(processes_with(marker)) == 2), jail.output()
    finally:
        jail.close()
    assert wait_for(lambda: not processes_with(marker), 5), "a process survived kill_all"
    assert jail.proc.returncode is not None


@pytest.mark.parametrize("level", LEVELS, ids=str)
def test_worker_exit_takes_its_daemons_with_it(level, tmp_path):
    marker = f"course-test-{uuid.uuid4().hex}"
    jail = Jail(level, tmp_path, DAEMON.format(reversed_marker=marker[::-1], linger=0), use_cgroups=False)
    try:
        jail.wait()
        assert wait_for(lambda: not processes_with(marker), 5), "the daemon outlived its worker"
    finally:
        jail.close()


@pytest.mark.skipif("pids cgroup" not in cgroup_controls(), reason="no pids cgroup here")
def test_pids_cgroup_bounds_a_fork_bomb(tmp_path):
    bomb = """
import os, time
n = 0
for _ in range(300):  # bounded, so that a machine without the limit survives the test
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    n += 1
print("forked", n, flush=True)
"""
    limits = replace(LIMITS, max_processes=16)
    jail = Jail(probing.probe_isolation(), tmp_path, bomb, limits=limits)
    try:
        jail.wait()
        forked = int(jail.output().split("forked")[1].split()[0])
        assert 0 < forked < 16
    finally:
        jail.close()
    assert not jail.sb.cgroups.dirs  # the cgroups were removed


@pytest.mark.skipif("memory cgroup" not in cgroup_controls(), reason="no memory cgroup here")
def test_memory_cgroup_stops_the_whole_tree(tmp_path):
    limits = replace(LIMITS, memory_limit_mb=200)
    jail = Jail(probing.probe_isolation(), tmp_path, "block = b'x' * (600 << 20)\nprint('ALLOCATED')", limits=limits)
    try:
        code = jail.wait()
        assert code != 0 and "ALLOCATED" not in jail.output()
        assert jail.sb.oom_killed()
    finally:
        jail.close()


def test_cgroup_folders_are_cleaned_up(tmp_path):
    jail = Jail(probing.probe_isolation(), tmp_path, "print('hi')")
    folders = list(jail.sb.cgroups.dirs.values())
    jail.wait()
    jail.close()
    assert all(not d.exists() for d in folders)


def test_rlimits_for_the_worker_follow_the_course_limits(tmp_path):
    sb = Sandbox(IsolationLevel.RLIMITS, LIMITS, tmp_path, use_cgroups=False)
    limits = sb.rlimits()
    assert limits["RLIMIT_AS"] == [3072 << 20] * 2
    assert limits["RLIMIT_FSIZE"] == [8 << 20] * 2 and limits["RLIMIT_CORE"] == [0, 0]
    assert limits["RLIMIT_CPU"][0] == 120
    if os.geteuid() != 0 or sb.as_nobody:
        assert limits["RLIMIT_NPROC"][0] >= LIMITS.max_processes


def test_probe_of_a_missing_tool_is_a_clean_no(monkeypatch):
    probing.level_available.cache_clear()
    monkeypatch.setattr(probing.shutil, "which", lambda name: None)
    try:
        assert not probing.level_available(IsolationLevel.BWRAP)
        assert probing.level_available(IsolationLevel.RLIMITS)
    finally:
        probing.level_available.cache_clear()


def test_keeper_ignores_sigterm_but_not_its_control_pipe(tmp_path):
    jail = Jail(IsolationLevel.RLIMITS, tmp_path, "import time; print('up', flush=True); time.sleep(120)",
                use_cgroups=False)
    try:
        assert wait_for(lambda: "up" in jail.output())
        jail.proc.terminate()  # SIGTERM to the keeper: ignored
        with pytest.raises(subprocess.TimeoutExpired):
            jail.proc.wait(0.5)
    finally:
        jail.close()
    assert jail.proc.returncode is not None


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/python3").exists(), reason="needs root and a system Python")
def test_keeper_runs_the_worker_as_nobody_when_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "drop_to_nobody", lambda: True)
    sb = Sandbox(IsolationLevel.RLIMITS, LIMITS, tmp_path / "sb", use_cgroups=False)
    out = os.open(tmp_path / "out.txt", os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        assert sb.as_nobody and "runs as nobody" in sb.controls
        code = "import os; open('mine.txt', 'w').write('x'); print(os.getuid(), os.getgid(), os.getgroups())"
        proc = sb.spawn(["/usr/bin/python3", "-I", "-c", code], pass_fds=(), stdout=out)
        assert proc.wait(30) == 0
    finally:
        sb.kill_all()
        os.close(out)
    assert (tmp_path / "out.txt").read_text().split() == ["65534", "65534", "[]"]
    assert (sb.work_dir / "mine.txt").stat().st_uid == isolation.NOBODY


@needs_bwrap
def test_bwrap_blanks_extra_hidden_paths(tmp_path):
    import sysconfig

    zen = Path(sysconfig.get_paths()["stdlib"]) / "this.py"
    code = f"print(len(open({str(zen)!r}).read()))"
    sb = Sandbox(IsolationLevel.BWRAP, LIMITS, tmp_path / "sb", use_cgroups=False, hide=(zen,))
    out = os.open(tmp_path / "out.txt", os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        assert sb.spawn([sys.executable, "-I", "-c", code], pass_fds=(), stdout=out).wait(30) == 0
    finally:
        sb.kill_all()
        os.close(out)
    assert (tmp_path / "out.txt").read_text().strip() == "0"
    printed = run(IsolationLevel.BWRAP, tmp_path / "plain", code, use_cgroups=False)[1]
    assert printed.strip() == str(len(zen.read_text()))


@needs_bwrap
def test_bwrap_sees_a_python_installed_under_tmp(tmp_path, monkeypatch):
    extra = tmp_path / "venv-under-tmp"
    extra.mkdir()
    (extra / "marker.txt").write_text("visible")
    real_roots = sandbox._python_roots()
    monkeypatch.setattr(sandbox, "_python_roots", lambda: [*real_roots, extra])
    code, out = run(IsolationLevel.BWRAP, tmp_path, f"print(open({str(extra / 'marker.txt')!r}).read())",
                    use_cgroups=False)
    assert code == 0 and out.strip() == "visible"
