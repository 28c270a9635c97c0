"""The `course` command: bad arguments and user mistakes are one message, never a traceback."""
from __future__ import annotations

import pytest

from course import cli
from course.authoring import contract
from course.errors import UserError


@pytest.mark.parametrize("text, seeds", [("5", (5,)), ("0,1,2", (0, 1, 2)), (" 3, 4", (3, 4))])
def test_seeds_are_a_comma_separated_list_of_integers(text, seeds):
    assert cli.build_parser().parse_args(["calibrate", "--seeds", text]).seeds == seeds


@pytest.mark.parametrize("text, phrase", [
    ("a", "'a' is not a comma-separated list of integers"),
    ("0,,1", "'0,,1' is not a comma-separated list of integers"),
    ("", "'' is not a comma-separated list of integers"),
    ("1,1", "'1,1' repeats a seed"),
])
def test_bad_seeds_are_a_usage_error(capsys, text, phrase):
    with pytest.raises(SystemExit) as info:
        cli.main(["calibrate", "--seeds", text])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --seeds: {phrase}" in err and "Traceback" not in err


def interrupt(args):
    raise KeyboardInterrupt


def test_only_grade_says_its_results_are_kept_after_ctrl_c(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cli, "cmd_grade", interrupt)
    monkeypatch.setattr(cli, "cmd_calibrate", interrupt)
    assert cli.main(["grade", str(tmp_path), "--out", str(tmp_path / "out")]) == 130
    assert "course grade: interrupted; results written so far are kept (rerun with --resume)" in capsys.readouterr().err
    assert cli.main(["calibrate"]) == 130
    assert capsys.readouterr().err.strip() == "course calibrate: interrupted"


def test_a_source_notebook_the_contract_cannot_read_is_a_user_error(monkeypatch, capsys, tmp_path):
    def broken(cfg, source=None):
        raise contract.ContractError("the answer cell 'encode' of the source notebook does not define 'encode'")

    assert issubclass(contract.ContractError, UserError) and issubclass(contract.ContractError, ValueError)
    monkeypatch.setattr(contract, "build_contract", broken)
    assert cli.main(["check", str(tmp_path / "lab_rnn.ipynb")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("course check: error: the answer cell 'encode'") and "Traceback" not in err

