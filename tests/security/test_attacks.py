"""The attack files of tests/files/attacks/: each says what it attempts, each is used, each becomes cell code."""
from __future__ import annotations

import ast
import re

import pytest
from harness import ATTACKS, REPO, attack_code, parse_verdicts

FILES = sorted(p.stem for p in ATTACKS.glob("*.py") if p.stem != "attack_prelude")
# Where the attacks are put into submissions.
USERS = [REPO / "tests" / "security" / "attacks.py", REPO / "tests" / "lab" / "fixture_submissions.py",
         REPO / "tests" / "grader" / "test_resume.py"]


@pytest.mark.parametrize("name", FILES)
def test_attack_file_has_a_one_line_docstring_and_is_used(name):
    tree = ast.parse((ATTACKS / f"{name}.py").read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree)
    assert doc and doc.splitlines()[0].endswith("."), f"{name}.py: a one-line docstring saying what it attempts"
    assert any(re.search(rf"[\"']{name}[\"']", path.read_text(encoding="utf-8")) for path in USERS), \
        f"{name}.py is used by no entry or fixture"


@pytest.mark.parametrize("name", FILES)
def test_attack_file_becomes_cell_code_that_needs_nothing_from_the_repository(name):
    source = attack_code(name, {"marker": "m"}, payload="sleeper_ignoring_sigterm")
    compile(source, name, "exec")
    assert "attack_prelude" not in source
    imports = {n.module if isinstance(n, ast.ImportFrom) else a.name
               for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Import | ast.ImportFrom)
               for a in (n.names if isinstance(n, ast.Import) else [n])}
    assert not {m for m in imports if m and m.split(".")[0] in ("course", "autograder", "harness", "nbfactory")}


def test_the_prelude_defines_the_constants_and_a_verdict_the_harness_reads():
    source = attack_code("read_environment_for_secrets", {"marker": "m-1", "tcp_port": 5})
    namespace: dict = {}
    with pytest.raises(RuntimeError) as info:
        exec(source, namespace)
    assert namespace["ADV"] == {"marker": "m-1", "tcp_port": 5}
    verdicts = parse_verdicts(f"Cell `lstm_cell` raised an error: RuntimeError: {info.value}")
    assert set(verdicts) == {"lstm_cell"} and "names" in verdicts["lstm_cell"]


def test_a_payload_arrives_as_adv_payload():
    source = attack_code("start_setsid_and_new_session_daemons", {"marker": "m"}, payload="sleeper_ignoring_sigterm")
    payload = (ATTACKS / "sleeper_ignoring_sigterm.py").read_text(encoding="utf-8")
    assert f"ADV = {{'marker': 'm', 'payload': {payload!r}}}" in source
