"""course.authoring.solution: the source notebook's answer cells and the namespace they build."""
from __future__ import annotations

import random

import pytest
import torch

from course.authoring.solution import run_cells, setup_source, solution_namespace, solution_sources
from course.config import load_config
from course.student import notebook as nbc

CFG = load_config()
EXERCISES = [name for name in CFG.points if name != "threshold"]


def test_sources_are_the_answer_cells_in_notebook_order_with_their_solutions():
    sources = solution_sources(CFG)
    assert list(sources) == EXERCISES
    for name, source in sources.items():
        assert f"{name}(" in source and "### BEGIN SOLUTION" in source, name
    assert "import torch" in setup_source(CFG)


def test_sources_can_be_read_from_a_given_notebook():
    nb = {"cells": [{"cell_type": "code", "source": ["x = ", "1\n"],
                     "metadata": {"nbgrader": {"grade_id": nbc.SETUP_ID, "solution": False, "grade": False}}},
                    {"cell_type": "code", "source": "def f():\n    return 2\n",
                     "metadata": {"nbgrader": {"grade_id": "f", "solution": True, "grade": False}}}]}
    assert solution_sources(CFG, nb) == {"f": "def f():\n    return 2\n"}
    assert setup_source(CFG, nb) == "x = 1\n"
    with pytest.raises(KeyError, match="setup"):
        setup_source(CFG, {"cells": nb["cells"][1:]})


def test_namespace_holds_setup_names_and_every_solution():
    ns = solution_namespace(CFG)
    assert {"torch", "nn", "F", "math", "device", *EXERCISES} <= set(ns)
    assert ns["__name__"] == "__main__" and ns["CharLSTM"].__module__ == "__main__"
    torch.manual_seed(0)
    model = ns["CharLSTM"](7, 4, 8)
    logits, (h, c) = model(torch.randint(0, 7, (2, 5)))
    assert tuple(logits.shape) == (2, 5, 7) and tuple(h.shape) == tuple(c.shape) == (1, 2, 8)


def test_namespace_runs_only_the_chosen_cells_and_the_replacements():
    ns = solution_namespace(CFG, ["decode", "encode"])
    assert "encode" in ns and "decode" in ns and "MyRNN" not in ns and "torch" in ns
    constant = "def decode(indices, idx2char):\n    return 'x'\n"
    replaced = solution_namespace(CFG, ["decode"], replaced={"decode": constant})
    assert replaced["decode"]([0], ["a"]) == "x"
    assert ns["decode"]([0, 1], ["a", "b"]) == "ab"


@pytest.mark.parametrize("ids, replaced", [(["Decode"], None), (None, {"nonexistent": "pass"})])
def test_unknown_answer_ids_are_refused(ids, replaced):
    with pytest.raises(KeyError, match="no answer cells"):
        solution_namespace(CFG, ids, replaced)


def test_building_a_namespace_prints_nothing_and_leaves_the_generators_alone(capsys):
    random.seed(123)
    torch.manual_seed(456)
    expected_random, expected_torch = random.random(), torch.rand(3)
    random.seed(123)
    torch.manual_seed(456)
    solution_namespace(CFG, ["encode"])  # the setup cell prints and seeds both generators
    assert random.random() == expected_random and torch.equal(torch.rand(3), expected_torch)
    assert capsys.readouterr().out == ""


def test_run_cells_runs_in_order_in_a_fresh_namespace():
    ns = run_cells(["a = [1]", "a.append(2)\nprint('hidden')"], name="cells")
    assert ns["a"] == [1, 2] and ns["__name__"] == "cells"
    assert "a" not in run_cells([])
    with pytest.raises(ZeroDivisionError):
        run_cells(["1 / 0"])
