"""Hostile and broken notebooks through `course grade`: they gain nothing, hurt no one and leave nothing behind.

One campaign grades every submission of tests/security/attacks.py in three `course grade`
runs (the controls alone; the hostile batch with the controls inside it; the attacks on the
grader-run training) from a private copy of the repository, then each test reads what it needs
back from the results.
"""
from __future__ import annotations

import csv
import os
import re
import secrets
import shutil
import socket
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import nbfactory
import pytest
from attacks import ENTRIES, SECRET_NAME, Entry, Env
from harness import (
    REPO,
    Graded,
    GraderRun,
    copy_repository,
    hash_tree,
    read_graded,
    run_course_grade,
    run_once,
    survivors,
)

from autograder.lab_rnn.variants import BY_NAME, variant_notebook
from course import cli
from course.config import load_config
from course.grader import probing
from course.grader.batch import build_context
from course.grader.isolation import IsolationLevel
from course.grader.submission import discover

LEVEL = probing.probe_isolation()
CONTROLS = {
    "control-solution": lambda: nbfactory.solution(),
    "control-mutant-myrnn-without-bias": lambda: variant_notebook(BY_NAME["fails-myrnn-without-bias"]),
}
GRADER_PEAK_RSS_KB = 1_500_000  # the grader keeps every probe reply until the checks run



def every_exercise_graded(repo: Path) -> Path:
    """The copy's course_config.py with every exercise graded: the attacks sit in the cells of every
    exercise, and a given exercise's cell is never run (the grader runs the release's worked code)."""
    path = repo / "course_config.py"
    text, count = re.subn(r"^EXERCISES = \{.*?^\}$", "EXERCISES = {}", path.read_text(encoding="utf-8"), count=1,
                          flags=re.M | re.S)
    assert count == 1, "course_config.py has no EXERCISES = {...} block"
    path.write_text(text, encoding="utf-8")
    return repo


def not_run_reason(entry: Entry) -> str | None:
    if entry.min_level > LEVEL:
        return f"the outcome needs '{entry.min_level}' isolation; this machine gives '{LEVEL}'"
    return entry.skip_reason() if entry.skip_reason else None


@dataclass
class Campaign:
    """Everything the tests read: the prepared environment, the runs and what was observed around them."""

    env: Env
    secret: str
    ids: dict[str, str]  # file name -> submission id
    outs: dict[str, str]
    runs: dict[str, GraderRun]
    hashes_before: dict[str, str]
    hashes_after: dict[str, str]
    survivors: list[str]
    arrived: dict[str, list[str]]  # what reached the suite's listeners

    @classmethod
    def from_dict(cls, data: dict) -> Campaign:
        runs = {k: GraderRun(**v) for k, v in data.pop("runs").items()}
        return cls(env=Env(**data.pop("env")), runs=runs, **data)

    def out(self, name: str) -> Path:
        return Path(self.outs[name])

    def graded(self, entry: Entry) -> Graded:
        return read_graded(self.out("threshold" if entry.threshold else "hostile"), self.ids[entry.filename])


class Listeners:
    """Loopback TCP and UDP ports and an abstract unix socket that record anything that arrives."""

    def __init__(self, marker: str):
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(64)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.abstract_name = f"adv-{marker}"
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind("\0" + self.abstract_name)
        self.unix.listen(64)
        for s in (self.tcp, self.udp, self.unix):
            s.setblocking(False)

    def arrived(self) -> dict[str, list[str]]:
        found: dict[str, list[bytes]] = {"tcp": [], "udp": [], "abstract_unix": []}
        for name, sock in (("tcp", self.tcp), ("abstract_unix", self.unix)):
            while True:
                try:
                    conn, _ = sock.accept()
                except BlockingIOError:
                    break
                conn.settimeout(1)
                try:
                    found[name].append(conn.recv(256) or b"<connected>")
                except OSError:
                    found[name].append(b"<connected>")
                conn.close()
        while True:
            try:
                found["udp"].append(self.udp.recv(512))
            except BlockingIOError:
                break
        return {k: [m.decode("utf-8", "replace") for m in v] for k, v in found.items()}

    def close(self) -> None:
        for s in (self.tcp, self.udp, self.unix):
            s.close()


def run_campaign(base: Path) -> Campaign:
    """Build every submission, grade the three batches, observe the machine before and after."""
    marker = f"adv{secrets.token_hex(8)}"
    secret = f"adv-secret-{secrets.token_hex(8)}"
    listeners = Listeners(marker)
    dirs = {name: base / name for name in ("alone", "hostile", "threshold", "canary", f"grader-tmp-{marker}")}
    for d in dirs.values():
        d.mkdir()
    outs = {name: base / f"out-{name}" for name in ("alone", "hostile", "threshold")}
    repo = every_exercise_graded(copy_repository(base / "repo"))
    env = Env(marker=marker, tcp_port=listeners.tcp.getsockname()[1], udp_port=listeners.udp.getsockname()[1],
              abstract=listeners.abstract_name, canary_dir=str(dirs["canary"]), out_dir=str(outs["hostile"]),
              tmpdir=str(dirs[f"grader-tmp-{marker}"]), control_id="control-solution", repo=str(repo))
    for name, make in CONTROLS.items():
        for where in ("alone", "hostile"):
            nbfactory.write(make(), dirs[where] / f"{name}.ipynb")
    for entry in ENTRIES:
        if not_run_reason(entry) is None:
            entry.build(env, dirs["threshold" if entry.threshold else "hostile"] / entry.filename)
    ids = {}
    for where in ("hostile", "threshold"):
        ids.update({sub.path.name: sub.id for sub in discover([dirs[where]], load_config().assignment)})

    grader_env = dict(os.environ, TMPDIR=env.tmpdir, **{SECRET_NAME: secret})
    before = hash_tree(repo)
    full = LEVEL == IsolationLevel.BWRAP
    runs = {
        "alone": run_course_grade([dirs["alone"]], outs["alone"], grader_env, repo=repo),
        "hostile": run_course_grade([dirs["hostile"]], outs["hostile"], grader_env, require_isolation=full, repo=repo),
    }
    if any(e.threshold and not_run_reason(e) is None for e in ENTRIES):
        runs["threshold"] = run_course_grade([dirs["threshold"]], outs["threshold"], grader_env, threshold=True,
                                             repo=repo)
    left = survivors(marker)
    after = hash_tree(repo)
    arrived = listeners.arrived()
    listeners.close()
    for name in ("alone", "hostile", "threshold"):
        shutil.rmtree(dirs[name], ignore_errors=True)  # tens of MB of hostile notebooks
    return Campaign(env, secret, ids, {k: str(v) for k, v in outs.items()}, runs, before, after, left, arrived)


@pytest.fixture(scope="session")
def campaign(tmp_path_factory) -> Campaign:
    return Campaign.from_dict(run_once(tmp_path_factory, "adversarial-campaign", lambda d: asdict(run_campaign(d))))


def _param(entry: Entry):
    marks = [pytest.mark.slow]
    if entry.known_defect:
        marks.append(pytest.mark.xfail(strict=True, reason=f"grader defect: {entry.known_defect}"))
    return pytest.param(entry, id=entry.name, marks=marks)


@pytest.mark.parametrize("entry", [_param(e) for e in ENTRIES])
def test_submission_meets_its_stated_outcome(campaign, entry):
    reason = not_run_reason(entry)
    if reason:
        pytest.skip(reason)
    graded = campaign.graded(entry)
    extra = graded.results["extra_data"]
    assert "internal_error" not in extra, extra.get("internal_error")
    assert graded.status == entry.status, graded.results["output"][:2000]
    if entry.score is not None:
        assert graded.results["score"] == entry.score, [(t["name"], t["status"]) for t in graded.results["tests"]]
    for message in entry.messages:
        assert message in graded.text, f"{message!r} not in:\n{graded.text[:3000]}"
    assert "Traceback (most recent call last)" not in graded.text and " object at 0x" not in graded.text
    assert extra["isolation"] == str(LEVEL)
    if entry.check:
        entry.check(graded, campaign.env)


@pytest.mark.parametrize("control", sorted(CONTROLS))
@pytest.mark.slow
def test_controls_score_as_when_graded_alone(campaign, control):
    alone = read_graded(campaign.out("alone"), control).results
    inside = read_graded(campaign.out("hostile"), control).results

    def summary(results: dict) -> tuple:
        return results["score"], [(t["name"], t["score"], t["status"], t["output"]) for t in results["tests"]]

    assert summary(inside) == summary(alone)
    assert alone["extra_data"]["fingerprint"] == inside["extra_data"]["fingerprint"]
    cfg = load_config(Path(campaign.env.repo) / "course_config.py")  # every exercise graded there
    full_without_threshold = cfg.autograded_points - cfg.points["threshold"]
    if control == "control-solution":
        assert alone["score"] == full_without_threshold
    else:
        assert 0 < alone["score"] < full_without_threshold


@pytest.mark.slow
def test_every_submission_has_a_result_and_the_gradebook_lists_them_all(campaign):
    for name, run in campaign.runs.items():
        assert run.code == 0, f"course grade ({name}) exited {run.code}:\n{run.output[-3000:]}"
        with open(campaign.out(name) / "gradebook.csv", newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        folders = [p for p in campaign.out(name).iterdir() if (p / "results.json").is_file()]
        assert len(rows) == len(folders) > 0
    assert "isolation: " + str(LEVEL) in campaign.runs["hostile"].output


@pytest.mark.slow
def test_no_process_outlives_the_batches(campaign):
    assert campaign.survivors == []


@pytest.mark.slow
def test_nothing_reaches_the_loopback_listeners(campaign):
    if LEVEL < IsolationLevel.UNSHARE:
        pytest.skip(f"at '{LEVEL}' isolation the worker shares the grader's network")
    assert campaign.arrived == {"tcp": [], "udp": [], "abstract_unix": []}


@pytest.mark.slow
def test_the_grader_secret_never_reaches_any_output(campaign):
    for name in campaign.outs:
        for path in campaign.out(name).rglob("*"):
            if path.is_file():
                assert campaign.secret not in path.read_text(errors="replace"), path


@pytest.mark.slow
def test_the_grader_files_are_unchanged(campaign):
    changed = sorted(k for k in campaign.hashes_before.keys() | campaign.hashes_after.keys()
                     if campaign.hashes_before.get(k) != campaign.hashes_after.get(k))
    assert changed == [] and len(campaign.hashes_before) > 50
    assert not list(REPO.glob("adv-*")) and not list(Path(campaign.env.repo).glob("adv-*"))


@pytest.mark.slow
def test_the_grader_memory_stays_bounded(campaign):
    peak = campaign.runs["hostile"].peak_rss_kb
    assert 0 < peak < GRADER_PEAK_RSS_KB, f"peak resident memory of the grader: {peak / 1e6:.2f} GB"


# --- --require-isolation --------------------------------------------------------------------------


@pytest.mark.parametrize("weaker", [IsolationLevel.RLIMITS, IsolationLevel.UNSHARE])
def test_require_isolation_refuses_below_full_isolation(tmp_path, monkeypatch, capsys, weaker):
    monkeypatch.setattr(probing, "probe_isolation", lambda: weaker)
    nbfactory.write(nbfactory.solution(), tmp_path / "alice.ipynb")
    code = cli.main(["grade", str(tmp_path / "alice.ipynb"), "--out", str(tmp_path / "out"), "--no-threshold",
                     "--require-isolation"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"isolation 'bwrap' is required but only '{weaker}' works here" in err
    assert "Install bubblewrap" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_require_isolation_grades_at_full_isolation(tmp_path, monkeypatch):
    monkeypatch.setattr(probing, "probe_isolation", lambda: IsolationLevel.BWRAP)
    ctx = build_context(load_config(), tmp_path / "out", threshold=False, require_isolation=True)
    assert ctx.isolation_name == "bwrap"


def main() -> None:  # pragma: no cover - a manual run prints every outcome
    """Run the campaign once and print what every entry got.

    Run as ``PYTHONPATH=tests python tests/security/test_adversarial.py`` (nbfactory and harness live in tests/).
    """
    camp = run_campaign(Path(tempfile.mkdtemp(prefix="adversarial-")))
    for name, run in camp.runs.items():
        print(f"{name}: exit {run.code}, {run.seconds:.0f} s, peak {run.peak_rss_kb / 1e3:.0f} MB")
    print("survivors", camp.survivors, "arrived", camp.arrived)
    for entry in ENTRIES:
        if not_run_reason(entry) is None:
            g = camp.graded(entry)
            print(f"\n== {entry.name}: {g.status} {g.results['score']}\n{g.results['output'][:1500]}")
            for t in g.results["tests"]:
                if t["status"] == "passed":
                    print("  PASSED", t["name"])


if __name__ == "__main__":  # pragma: no cover
    main()
