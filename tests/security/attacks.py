"""The adversarial campaign's catalogue: which attack goes into which answer cell, and the outcome it must get.

Every entry builds one file (a notebook, raw bytes or a link) for ``course grade``. Worker-run
attacks start from the released notebook (every exercise unsolved, so any point gained is
visible) and put an attack file of tests/files/attacks/ in answer cells; an attack that wants
to report what it saw calls ``verdict(...)``, which raises ``RuntimeError("VERDICT {json}
ENDVERDICT")`` and so reaches results.json as that cell's error. The harness that grades them
and reads them back is tests/harness.py.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbfactory
from harness import REPO, Graded, attack_code

from course.config import load_config
from course.corpus import load_course_corpus
from course.grader.cgroups import cgroup_controls
from course.grader.isolation import IsolationLevel

SECRET_NAME = "COURSE_ADV_SECRET"  # set in the grader's environment by the suite, never visible to workers
MAX_PROCESSES = load_config().limits.max_processes
MAX_FILE_BYTES = load_config().limits.max_file_size_mb << 20
TMPFS_BYTES = 4 * MAX_FILE_BYTES  # size of each private tmpfs at the bwrap level
SCRUBBED_ENV = {"PATH", "PWD", "HOME", "TMPDIR", "LANG", "LC_ALL", "USER", "LOGNAME", "OMP_NUM_THREADS",
                "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "MPLBACKEND",
                "MPLCONFIGDIR"}


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


def attack(**cells: str | tuple[str, str]) -> Callable[[Env, Path], None]:
    """A builder: the release (every exercise asked) with these answer cells replaced by attack files.

    Args:
        cells: grade_id -> the attack file's stem, or (stem, payload stem) for an attack that
            starts the payload file as a program of its own (``ADV["payload"]``).
    """

    def build(env: Env, path: Path) -> None:
        code = {}
        for gid, spec in cells.items():
            name, payload = spec if isinstance(spec, tuple) else (spec, None)
            code[gid] = attack_code(name, env.consts(), payload)
        nbfactory.write(nbfactory.with_answers(nbfactory.every_exercise_asked(), **code), path)

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
    return json.dumps(nbfactory.every_exercise_asked(), indent=1).encode()


def _many_cells(env: Env) -> dict:
    nb = nbfactory.every_exercise_asked()
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
    nb = nbfactory.every_exercise_asked()
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "MyRNN":
            cell["cell_type"] = "x\ud800" * 10_000  # a lone surrogate: not writable as UTF-8
    return nb


def _duplicated_ids(env: Env) -> dict:
    nb = nbfactory.every_exercise_asked()
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
    return nbfactory.with_answers(nbfactory.every_exercise_asked(), MyRNN="# " + "x" * 10_000_000 + payload)


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
    refused = ("setuid_0", "unshare_user_ns", "unshare_net_ns", "mount_tmpfs", "chroot", "cgroup_escape", "sudo", "su")
    for key in refused:
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
    extra = g.results["extra_data"]
    vocab = len(set(load_course_corpus(load_config()).train))
    recipe = json.loads(load_config().calibration_path.read_text())["recipe"]
    assert extra["threshold_steps"] == recipe["steps"]  # the forged step count is believed...
    assert abs(extra["perplexity"] - vocab) < 1e-6 * vocab, extra  # ...but uniform logits score exactly V
    assert "LOOKAHEAD calls=0 candidates=[]" in g.feedback and "LOOKAHEAD calls=150 candidates=[]" in g.feedback
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
    Entry("hostile-network-tcp-udp-dns-and-abstract-sockets-reach-nothing",
          attack(MyRNN="connect_tcp_and_abstract_socket", lstm_cell="resolve_names_and_send_dns_over_udp"),
          check=check_network, min_level=UNSHARE),
    # the grader's files, processes and secrets
    Entry("hostile-repository-and-solutions-are-out-of-reach",
          attack(MyRNN="read_grader_repository", lstm_cell="search_filesystem_for_solutions"),
          check=check_search, min_level=BWRAP),
    Entry("hostile-grader-processes-environment-and-secrets-out-of-sight",
          attack(MyRNN="scan_grader_processes", lstm_cell="read_environment_for_secrets"),
          check=check_environ, min_level=BWRAP),
    Entry("hostile-writes-outside-and-privilege-escalation-reach-nothing",
          attack(MyRNN="write_outside_the_sandbox", lstm_cell="escalate_privileges"),
          check=check_privilege, min_level=BWRAP),
    # resources
    Entry("hostile-fork-bomb-stopped-by-the-process-limit", attack(MyRNN="fork_bomb"), check=check_fork_bomb,
          skip_reason=process_bound_reason),
    Entry("hostile-thread-and-fd-bombs-stopped-by-limits",
          attack(MyRNN="thread_bomb", lstm_cell="file_descriptor_bomb"),
          check=check_thread_and_fd_bombs, skip_reason=process_bound_reason),
    Entry("hostile-10gb-file-and-filled-disks-stop-at-limits", attack(MyRNN="write_10gb_files", lstm_cell="fill_disks"),
          check=check_big_files, min_level=BWRAP),
    Entry("hostile-1gb-of-output-is-capped", attack(MyRNN="flood_output"), check=check_output_flood),
    Entry("hostile-setsid-daemon-ignoring-signals-is-killed",
          attack(MyRNN=("start_setsid_daemon", "daemon_outliving_its_worker")), check=check_daemon),
    Entry("hostile-signal-games-and-kill-all-reach-nothing",
          attack(MyRNN="ignore_block_and_send_signals", lstm_cell="kill_every_process"),
          check=check_signals, min_level=UNSHARE),
    # data crossing the boundary
    Entry("hostile-pickle-payloads-are-never-loaded",
          attack(MyRNN="plant_pickle_files", lstm_cell="send_pickled_frame"),
          messages=("malformed data", "dtype 'object' is not allowed"), check=check_pickles),
    Entry("hostile-recursion-bombs-in-cells-and-returned-structures-fail-cleanly",
          attack(MyRNN="segfault_by_deep_repr", lstm_cell="exceed_recursion_limit",
                 build_vocab="return_recursive_structures", encode="return_endlessly_recursive_tensor"),
          messages=("killed by SIGSEGV", "RecursionError", "should be a torch.Tensor; got __main__.Endless"),
          check=check_recursion),
    Entry("hostile-248mb-nan-inf-and-unreadable-replies-fail-cleanly",
          attack(lstm_cell="return_nan_and_inf", to_batch_first="return_12gb_expanded_tensor",
                 batch_sequences="return_complex_tensor", encode="return_248mb_tensor"),
          messages=("contains NaN or infinity", "could not be read back (dtype torch.float32)",
                    "could not be read back (dtype torch.complex64)", "62000000 elements (at most 4194304)"),
          check=check_huge_reply),
    Entry("hostile-rewritten-worker-runtime-gains-nothing", attack(MyRNN="rewrite_worker_runtime")),
    Entry("hostile-lying-torch-function-and-patched-grad-mode-gain-nothing",
          attack(train_epoch="forge_carried_state_with_torch_function", perplexity="forge_grad_mode_in_perplexity"),
          check=lambda g, env: (_all_failed(g, "train_epoch"), _all_failed(g, "perplexity"))),
    Entry("hostile-exceptions-with-lone-surrogates-and-broken-str-are-reported",
          attack(MyRNN="raise_lone_surrogate", lstm_cell="raise_unprintable_exception",
                 to_batch_first="raise_50mb_message"),
          messages=("a lone surrogate \ufffd in the message", "Unprintable: <message could not be shown>",
                    "RuntimeError: AAAA"), check=lambda g, env: _short(g)),
    # the grader-run training (graded with the threshold stage)
    Entry("hostile-threshold-lookahead-and-forged-steps-score-uniform",
          attack(CharLSTM="look_ahead_at_heldout_text", train_epoch="forge_optimizer_steps"), score=None,
          check=check_lookahead, threshold=True, min_level=BWRAP),
    Entry("hostile-threshold-nan-logits-are-refused",
          attack(CharLSTM="return_nan_logits", train_epoch="forge_optimizer_steps"),
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
