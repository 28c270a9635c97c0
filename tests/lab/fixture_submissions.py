"""Fixture submissions of the RNN lab, built in code from the source notebook, each named for its outcome.

Every fixture states what grading must give: which exercises (keys of POINTS in
course_config.py) lose points, exactly those; which of them must score 0; the status
(graded or rejected); what the feedback must say; and which honest fixtures it may
not beat, exercise by exercise. ``threshold`` is left out of every expectation: the
batch is graded without the grader-run training, so that exercise scores 0 for all.

The mutants and legitimate alternatives are the catalogue's (autograder/lab_rnn/variants.py),
each a notebook of its own; the other fixtures vary the notebook around right answers, or
attack the grader with the files of tests/files/attacks/. A builder gets a marker (a unique
string); hostile fixtures put it in the command line of any process they start, so that the
tests can look for survivors in /proc.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from textwrap import dedent

import nbfactory as nbf
from harness import attack_code

from autograder.lab_rnn import variants
from course.config import load_config

Built = dict | bytes  # a notebook dict, or raw bytes for files that are not notebooks
# The autograded exercises (POINTS in course_config.py) except the grader-run training.
EXERCISES = ("MyRNN", "lstm_cell", "to_batch_first", "batch_sequences", "rnn_output_shapes", "top_layer_final_state",
             "final_state_from_output", "build_vocab", "encode", "decode", "make_batches", "CharLSTM", "train_epoch",
             "perplexity", "generate")
# What the release still asks for: a given exercise of the configured split is worked code there,
# so the untouched release keeps its points (the batch grades every exercise).
ASKED = tuple(e for e in EXERCISES if load_config().mode(e) != "given")
SLEEPER = "sleeper_ignoring_sigterm"  # the payload of the attacks that start a child which outlives its worker


@dataclass(frozen=True)
class Fixture:
    """One submission and its expected outcome.

    Attributes:
        name: the file stem and submission id; says the expected outcome.
        build: marker -> the notebook dict (or the raw bytes of a broken file).
        loses: the exercises that lose points; every other exercise keeps full marks.
        zero: exercises (among ``loses``) that must score exactly 0.
        status: ``graded`` or ``rejected``.
        feedback: substrings feedback.md must contain ({marker} is replaced by the marker).
        absent: substrings feedback.md must not contain.
        honest: fixtures this one may not beat: per exercise, at most their lowest score.
    """

    name: str
    build: Callable[[str], Built]
    loses: frozenset[str] = frozenset()
    zero: frozenset[str] = frozenset()
    status: str = "graded"
    feedback: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    honest: tuple[str, ...] = ()


def _fx(name, build, loses=(), zero=(), **kw) -> Fixture:
    return Fixture(name, build, frozenset(loses), frozenset(zero), **kw)


def from_variant(variant: variants.Variant) -> Fixture:
    """The catalogue's variant as a notebook, with its expected outcome."""
    return Fixture(variant.name, lambda marker: variants.variant_notebook(variant),
                   variant.loses - {variants.THRESHOLD}, variant.zero, feedback=variant.feedback)


def patched(grade_id: str, *pairs: tuple[str, str], base: dict | None = None) -> dict:
    """The solution with several substrings of one answer cell replaced."""
    nb = base
    for old, new in pairs:
        nb = nbf.with_patched(grade_id, old, new, base=nb)
    return nb


def prepended(grade_id: str, code: str, base: dict | None = None) -> dict:
    """The solution with code put before one answer cell's own source."""
    src = nbf.answer_source(grade_id, base)
    return nbf.with_answers(base, **{grade_id: dedent(code) + src})


def code(name: str, marker: str, payload: str | None = None) -> str:
    """The attack file tests/files/attacks/<name>.py as cell code, with the marker as ``ADV["marker"]``."""
    return attack_code(name, {"marker": marker}, payload)


# --- mutants and alternatives: the catalogue ---------------------------------------------------------------

MUTANTS = [from_variant(v) for v in variants.MUTANTS]

# --- legitimate notebooks around right answers: full marks ---------------------------------------------------

CHATTY_LINE = "print('working on {gid} ...')\nimport sys as _sys; print('note on stderr: {gid}', file=_sys.stderr)\n"


def chatty(marker: str) -> dict:
    """Prints in every answer cell, inside the functions too, and a flood past the output limit."""
    nb = nbf.solution()
    for gid in EXERCISES:
        nb = prepended(gid, CHATTY_LINE.format(gid=gid), base=nb)
    nb = patched("MyRNN", ("batch, seq_len, _ = x.shape",
                           "batch, seq_len, _ = x.shape\n        print('MyRNN input', tuple(x.shape))"), base=nb)
    nb = patched("train_epoch", ("total += loss.item()",
                                 "total += loss.item()\n        print(f'window loss {loss.item():.4f}')"), base=nb)
    nb = patched("generate", ("chars.append(idx2char[idx])",
                              "chars.append(idx2char[idx])\n            print(idx2char[idx], end='')"), base=nb)
    nb = prepended("decode", "for _k in range(12_000):\n    print('chatty line', _k, '-' * 80)\n", base=nb)
    return nb


def slow(marker: str) -> dict:
    """Well within the limits (60 s per cell and per call), but slow."""
    nb = prepended("build_vocab", "import time as _time\n_time.sleep(20)  # a slow cell\n")
    return patched("decode", ('return "".join', 'import time\n    time.sleep(2)  # a slow call\n    return "".join'),
                   base=nb)


def extra_cells(marker: str) -> dict:
    """A helper cell and a note the student added; the answers are self-contained."""
    helper = nbf.new_cell("# my own helper\ndef squash(t):\n    return torch.tanh(t)\n\n"
                          f"print('{marker} extra cell ran')\n")
    nb = nbf.with_cell_after("MyRNN", helper)
    note = nbf.new_cell("Notes to self: the gate order is i, f, g, o.", "markdown")
    return nbf.with_cell_after("lstm_cell", note, base=nb)


def magics(marker: str) -> dict:
    """Colab habits: shell escapes, line and cell magics in answer cells."""
    nb = prepended("MyRNN", "!pip install torch\n%matplotlib inline\n")
    nb = prepended("encode", "%time _warmup = [ch for ch in 'abc']\n", base=nb)
    return nbf.with_answers(nb, decode="%%time\n" + nbf.answer_source("decode"))


def edited_tests(marker: str) -> dict:
    """Visible test cells rewritten, points changed, one test turned into markdown: nothing changes."""
    nb = nbf.with_test_cells("assert False, 'I edited this test'\n", points=0)
    return nbf.with_cell_type("test_MyRNN", "markdown", base=nb)


ALTERNATIVES = [
    *(from_variant(v) for v in variants.ALTERNATIVES),
    _fx("passes-slow-within-limits", slow),
    _fx("passes-chatty-prints", chatty, feedback=("output truncated",)),
    _fx("passes-extra-helper-cell", extra_cells, absent=("{marker} extra cell ran",)),
    _fx("passes-notebook-magics", magics),
    _fx("passes-edited-visible-tests-and-points", edited_tests, absent=("I edited this test",)),
]

# --- hostile submissions: gain nothing, break nothing, leave nothing running -----------------------

ALWAYS_EQUAL_CELLS = ("rnn_output_shapes", "decode", "generate")  # where always_equal_results.py goes


def forged(marker: str) -> dict:
    """The untouched release, plus a cell that prints passing lines and writes forged result files."""
    rel = nbf.release()
    return nbf.with_answers(rel, MyRNN=code("forge_results_and_passed_lines", marker) + "\n"
                            + nbf.answer_source("MyRNN", rel))


def daemons(marker: str) -> dict:
    """A double-fork setsid daemon and a start_new_session child, both ignoring SIGTERM."""
    return prepended("decode", code("start_setsid_and_new_session_daemons", marker, SLEEPER))


def ignores_sigterm(marker: str) -> dict:
    """The worker ignores SIGTERM and starts a child that ignores it too."""
    return prepended("build_vocab", code("ignore_sigterm_with_child", marker, SLEEPER))


def infinite_loop(marker: str) -> dict:
    """An endless loop at the top level of a cell, SIGTERM ignored."""
    return nbf.with_appended("make_batches", code("loop_forever_ignoring_sigterm", marker))


def memory_bomb(marker: str) -> dict:
    """Fills memory at the top level of one cell and inside another exercise's function."""
    nb = prepended("encode", code("fill_memory_in_cell", marker))
    return nbf.with_answers(nb, perplexity=code("fill_memory_in_perplexity", marker))


def sys_exit(marker: str) -> dict:
    """sys.exit before one answer is defined, and inside another exercise's function."""
    nb = prepended("MyRNN", code("sys_exit_in_cell", marker))
    return nbf.with_answers(nb, generate=code("sys_exit_in_generate", marker))


def os_exit(marker: str) -> dict:
    """os._exit after an answer's definition, and inside another exercise's function."""
    nb = nbf.with_appended("lstm_cell", code("os_exit_in_cell", marker))
    return nbf.with_answers(nb, decode=code("os_exit_in_decode", marker))


def monkeypatched_allclose(marker: str) -> dict:
    """The gate-order mistake behind comparisons patched to agree, and a train_epoch that never carries its state."""
    nb = variants.variant_notebook(variants.BY_NAME["fails-lstm-gate-order"])
    nb = prepended("lstm_cell", code("patch_comparisons_to_agree", marker), base=nb)
    return nbf.with_answers(nb, train_epoch=code("train_epoch_with_fresh_zero_states", marker))


def lying_eq(marker: str) -> dict:
    """Results that compare equal to anything, in three answer cells."""
    return nbf.with_answers(**{gid: code("always_equal_results", marker) for gid in ALWAYS_EQUAL_CELLS})


def edited_release_tests(marker: str) -> dict:
    """The untouched release with its tests gutted, points inflated and a bonus test added."""
    nb = nbf.with_test_cells("print('All tests passed')\n", points=1000, base=nbf.release())
    bonus = nbf.new_cell("assert True\n", nbgrader={"grade": True, "solution": False, "locked": True,
                                                    "grade_id": "test_bonus", "points": 1000})
    nb = nbf.with_cell_after("MyRNN", bonus, base=nb)
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "MyRNN":
            cell["metadata"]["nbgrader"].update(grade=True, points=1000)
    return nb


def truncated(marker: str) -> bytes:
    """The solution notebook cut in the middle of its JSON."""
    text = json.dumps(nbf.solution(), indent=1).encode()
    return text[: len(text) // 2]


def binary(marker: str) -> bytes:
    """A PNG header and binary bytes under an .ipynb name."""
    return b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64


HOSTILE = [
    _fx("hostile-sys-exit", sys_exit, {"MyRNN", "generate"}, {"MyRNN", "generate"}, feedback=("SystemExit",)),
    _fx("hostile-os-exit", os_exit, {"lstm_cell", "decode"}, {"lstm_cell", "decode"}, feedback=("stopped the worker",)),
    _fx("hostile-infinite-loop-ignoring-sigterm", infinite_loop, {"make_batches"}, {"make_batches"},
        feedback=("did not finish within",)),
    _fx("hostile-ignores-sigterm-with-child", ignores_sigterm, feedback=("{marker} alive",)),
    _fx("hostile-setsid-daemon", daemons, feedback=("{marker} alive",)),
    _fx("hostile-monkeypatched-allclose", monkeypatched_allclose, {"lstm_cell", "train_epoch"},
        honest=("fails-lstm-gate-order", "fails-train-epoch-resets-state")),
    _fx("hostile-lying-tensor-subclass", lambda m: nbf.with_answers(to_batch_first=code("lying_tensor_subclass", m)),
        {"to_batch_first"}, {"to_batch_first"}, honest=("fails-to-batch-first-reshape",)),
    _fx("hostile-lying-eq", lying_eq, ALWAYS_EQUAL_CELLS, ALWAYS_EQUAL_CELLS),
    _fx("hostile-forged-results-and-passed-lines", forged, ASKED, ASKED, honest=("release",),
        feedback=("All tests passed! Score: 100/100",)),
    _fx("hostile-memory-bomb", memory_bomb, {"encode", "perplexity"}, {"encode", "perplexity"}),
    _fx("hostile-deleted-answer-cell", lambda m: nbf.without_answer("build_vocab"), {"build_vocab"}, {"build_vocab"},
        feedback=("No answer cell for `build_vocab`",)),
    _fx("hostile-edited-tests-and-points-on-release", edited_release_tests, ASKED, ASKED, honest=("release",)),
    _fx("hostile-truncated-json", truncated, EXERCISES, EXERCISES, status="rejected",
        feedback=("its JSON is broken", "perhaps truncated")),
    _fx("hostile-binary-file", binary, EXERCISES, EXERCISES, status="rejected", feedback=("not UTF-8 text",)),
]

BASELINES = [
    _fx("solution", lambda m: nbf.solution()),
    _fx("release", lambda m: nbf.release(), ASKED, ASKED, feedback=("not done yet",)),
]

FIXTURES: list[Fixture] = [*BASELINES, *MUTANTS, *ALTERNATIVES, *HOSTILE]
BY_NAME = {f.name: f for f in FIXTURES}
