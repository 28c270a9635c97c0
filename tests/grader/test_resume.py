"""A grader killed half way through a batch loses nothing: --resume finishes it without regrading, nothing survives."""
from __future__ import annotations

import csv
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import nbfactory
import pytest
from harness import REPO, attack_code, run_course_grade, survivors
from procs import wait_for

pytestmark = pytest.mark.slow


def build_batch(folder: Path, marker: str) -> list[str]:
    """Four submissions graded in this order at --jobs 1: broken, run in a worker with a sleeper, empty, binary.

    Only the second runs in a worker: the grader is killed while it does, and the resumed run
    grades it and the two after it.
    """
    folder.mkdir()
    (folder / "a-broken.ipynb").write_text("{not json")
    sleeper = attack_code("setsid_sleeper", {"marker": marker})  # a process that would outlive its worker
    nbfactory.write(nbfactory.with_appended("MyRNN", sleeper, nbfactory.release()), folder / "b-sleeper.ipynb")
    (folder / "c-empty.ipynb").write_bytes(b"")
    (folder / "d-binary.ipynb").write_bytes(b"\xff\xfe\x00binary")
    return ["a-broken", "b-sleeper", "c-empty", "d-binary"]


def snapshot(path: Path) -> tuple[int, int, bytes]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, path.read_bytes()


def test_sigkilled_grader_resumes_without_regrading_and_leaves_no_process(tmp_path):
    marker = f"resume{secrets.token_hex(8)}"
    ids = build_batch(tmp_path / "in", marker)
    out = tmp_path / "out"
    grader_tmp = tmp_path / f"tmp-{marker}"  # worker roots and judge folders: bwrap, keeper and pytest argv carry it
    grader_tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(grader_tmp))
    cmd = [sys.executable, "-m", "course", "grade", str(tmp_path / "in"), "--out", str(out), "--jobs", "1",
           "--no-threshold"]
    with open(tmp_path / "killed.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            half_way = wait_for(lambda: (out / ids[0] / "results.json").exists() and survivors(marker, 0), 300)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert half_way, (tmp_path / "killed.log").read_text()[-2000:]
    assert survivors(marker) == [], "processes outlived the SIGKILL of the grader"
    done = {sid: snapshot(out / sid / "results.json") for sid in ids if (out / sid / "results.json").exists()}
    assert ids[0] in done and ids[1] not in done and not (out / "gradebook.csv").exists()

    resumed = run_course_grade([tmp_path / "in"], out, env, jobs=1, resume=True)
    assert resumed.code == 0, resumed.output[-3000:]
    for sid, before in done.items():
        assert snapshot(out / sid / "results.json") == before, f"{sid} was graded again"
    assert all((out / sid / "results.json").exists() for sid in ids)
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh)}
    assert sorted(rows) == ids
    assert rows["a-broken"]["status"] == "rejected" and rows["b-sleeper"]["status"] == "graded"
    assert "(kept)" in resumed.output
    assert survivors(marker) == []
