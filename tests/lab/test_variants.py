"""The catalogue of variants (autograder/lab_rnn/variants.py): named for their outcome, patches that still fit."""
from __future__ import annotations

import ast
from collections import Counter

import pytest

from autograder.lab_rnn import variants as va
from course.authoring.solution import solution_sources
from course.config import load_config
from course.student import notebook as nbc

CFG = load_config()
EXERCISES = set(CFG.points) - {"threshold"}
SOLUTION = solution_sources(CFG)


def check_names() -> set[str]:
    """The hidden checks' function names."""
    names = set()
    for path in (CFG.autograder_dir / "checks").glob("test_*.py"):
        names |= {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)}
    return names


def test_names_are_unique_and_state_the_outcome():
    names = [v.name for v in va.VARIANTS]
    assert len(names) == len(set(names)) == len(va.BY_NAME)
    for v in va.MUTANTS:
        unit = v.loses - {va.THRESHOLD}
        assert v.name.startswith("fails-") and v.loses and (v.feedback or not unit), v.name
        assert v.zero <= unit <= EXERCISES and (set(v.edits) == unit or not unit), v.name
        assert v.notebook_tests in (va.VISIBLE, va.HIDDEN, None), v.name
    for v in va.ALTERNATIVES:
        assert v.name.startswith("passes-") and not v.loses and not v.zero and not v.feedback, v.name
        assert v.notebook_tests is None and set(v.edits) <= EXERCISES, v.name
    assert all(v.fails_checks <= check_names() for v in va.VARIANTS)


def test_the_calibration_families_are_pairs_of_charlstm_and_train_epoch():
    training = {"CharLSTM", "train_epoch"}
    assert va.FAMILY[0] is va.REFERENCE and va.REFERENCE.edits == {}
    for v in va.VARIANTS:
        assert v.family in (None, va.CORRECT, va.BROKEN, va.LEARNS_ANYWAY), v.name
        assert (va.THRESHOLD in v.loses) == (v.family == va.BROKEN), v.name  # only broken ones lose the threshold
        if v.family:
            assert set(v.edits) <= training and v in va.FAMILY, v.name
        if v.family == va.CORRECT:
            assert v in va.ALTERNATIVES, v.name
        if v.family == va.LEARNS_ANYWAY:  # the threshold cannot catch it: the unit checks named must
            assert v in va.MUTANTS and v.fails_checks and va.THRESHOLD not in v.loses, v.name
    families = Counter(v.family for v in va.FAMILY)
    assert families[va.CORRECT] >= 6 and families[va.BROKEN] >= 5 and families[va.LEARNS_ANYWAY] >= 3
    assert {"passes-charlstm-one-hot", "passes-charlstm-two-layer-output-network", "passes-charlstm-orthogonal-init",
            "passes-charlstm-lstm-cell-loop", "passes-train-epoch-log-softmax-and-nll-loss"} <= {
        v.name for v in va.FAMILY if v.family == va.CORRECT}


def test_every_exercise_has_a_mutant_and_the_counts_hold():
    per_exercise = Counter(e for v in va.MUTANTS for e in v.loses - {va.THRESHOLD})
    assert set(per_exercise) == EXERCISES
    assert len(va.MUTANTS) >= 30 and len(va.ALTERNATIVES) >= 10
    assert {e for v in va.ALTERNATIVES for e in v.edits} == EXERCISES  # every exercise has a right alternative


@pytest.mark.parametrize("name", sorted(va.BY_NAME))
def test_every_patch_fits_the_notebook_and_changes_what_it_edits(name):
    variant = va.BY_NAME[name]
    edited = variant.sources(SOLUTION)
    assert set(edited) == set(variant.edits)
    for gid, source in edited.items():
        assert source != SOLUTION[gid], f"{name}: {gid} is the solution"
        compile(source, f"{name}:{gid}", "exec")
    assert va.variant_sources(variant, CFG) == {**SOLUTION, **edited}
    assert list(va.variant_sources(variant, CFG)) == list(SOLUTION)


def test_a_patch_that_no_longer_fits_raises():
    variant = va.BY_NAME["fails-lstm-gate-order"]
    edited = {**SOLUTION, "lstm_cell": SOLUTION["lstm_cell"].replace("i, f, g, o = ", "i_g, f_g, g_g, o_g = ")}
    with pytest.raises(va.PatchError, match="fails-lstm-gate-order: lstm_cell: .* is not in the solution cell"):
        variant.sources(edited)
    with pytest.raises(va.PatchError, match="occurs 2 times"):
        va.apply_patch("a = 1\na = 1\n", (("a = 1", "a = 2"),))
    with pytest.raises(va.PatchError, match="no answer cell 'MyRNN'"):
        va.BY_NAME["fails-myrnn-without-bias"].sources({"lstm_cell": ""})


def test_patches_apply_in_order():
    assert va.apply_patch("x = 1\ny = 2\n", (("x = 1", "x = 3"), ("x = 3\ny", "x = 4\nz"))) == "x = 4\nz = 2\n"


def test_variant_notebook_holds_the_variant_answers_and_leaves_its_base_alone():
    variant = va.BY_NAME["passes-charlstm-one-hot"]
    release = nbc.read_notebook(CFG.release_notebook, 10**8, 10**4)
    nb = va.variant_notebook(variant, CFG, base=release)
    answers = {nbc.grade_id(c): nbc.cell_source(c) for c in nb["cells"] if nbc.is_answer_cell(c)}
    wanted = va.variant_sources(variant, CFG)
    asked = {gid for gid in wanted if CFG.mode(gid) != "given"}  # a given exercise is worked code in the release
    assert answers == {gid: wanted[gid] for gid in asked} and asked < set(wanted)
    with pytest.raises(KeyError, match="no answer cells \\['decode'\\]"):  # decode is given in the default split
        va.variant_notebook(va.BY_NAME["fails-decode-reversed"], CFG, base=release)
    assert [c.get("cell_type") for c in nb["cells"]] == [c.get("cell_type") for c in release["cells"]]
    assert "raise NotImplementedError" in "".join(nbc.cell_source(c) for c in release["cells"] if nbc.is_answer_cell(c))
    default = va.variant_notebook(va.BY_NAME["fails-decode-reversed"], CFG)
    assert "### BEGIN HIDDEN TESTS" in "".join(nbc.cell_source(c) for c in default["cells"])  # the source notebook


def test_variant_namespace_runs_the_variant():
    ns = va.variant_namespace(va.BY_NAME["fails-decode-reversed"], CFG)
    assert ns["decode"]([0, 1], ["a", "b"]) == "ba"
    assert ns["encode"]("ba", {"a": 0, "b": 1}).tolist() == [1, 0]  # the other cells are the solution's
