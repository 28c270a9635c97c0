"""Property-based tests of the loader and assembler: malformed notebooks never crash the grader.

Generated files (random bytes, random JSON, notebook-shaped JSON with wrong types, missing keys,
odd strings and nesting at every level) go through ``read_notebook``, ``assemble`` and, with the
worker and the hidden checks stubbed, through ``grade_one`` up to results.json.
"""
from __future__ import annotations

import dataclasses
import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course.authoring.contract import build_contract
from course.config import load_config
from course.grader import grade
from course.grader.assemble import answer_ids, assemble
from course.grader.lab import load_lab
from course.grader.state import Context, Options, State
from course.grader.submission import Submission, discover
from course.student import selfcheck
from course.student.notebook import NotebookError, read_notebook

FUZZ = settings(max_examples=200, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MAX_BYTES, MAX_CELLS = 200_000, 50
# What a student must never read: Python's own error machinery and object reprs.
NOISE = re.compile(r"Traceback|object at 0x|<class |<built-in|NoneType|KeyError|TypeError|AttributeError|IndexError"
                   r"|[{}\[\]]")  # brackets: a Python container printed into the message

CFG = load_config()
LAB = load_lab(CFG)
ANSWER_IDS = answer_ids(LAB.template)

# Odd strings: any code point but brackets (so that a student's text cannot look like a repr), lone surrogates too.
chars = st.characters(exclude_characters="<>{}[]")
odd_strings = st.one_of(st.text(chars, min_size=1, max_size=30),
                        st.tuples(st.text(chars, max_size=10), st.characters(categories=["Cs"])).map("".join))
texts = st.one_of(odd_strings, st.sampled_from(["", "code", "markdown", "raw", "python", "R", *ANSWER_IDS]))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=20,
)


def maybe(right, odds: int = 3):
    """Usually the right kind of value (``odds`` to one), sometimes any JSON value."""
    return st.integers(0, odds).flatmap(lambda k: right if k else json_values)


@st.composite
def cells(draw):
    """A cell: usually every key present, sometimes an odd type or keys missing, rarely not a dict."""
    gid = draw(maybe(st.sampled_from([*ANSWER_IDS, *ANSWER_IDS, "setup", "test_MyRNN"])))
    nbgrader = draw(maybe(st.fixed_dictionaries({"grade_id": st.just(gid), "solution": maybe(st.booleans()),
                                                 "grade": maybe(st.booleans())}, optional={"points": json_values})))
    fields = {
        "cell_type": maybe(st.sampled_from(["code", "code", "markdown", "raw"]), 6).flatmap(
            lambda t: st.one_of(st.just(t), texts) if isinstance(t, str) else st.just(t)),
        "metadata": maybe(st.fixed_dictionaries({"nbgrader": st.just(nbgrader)}, optional={"tags": json_values})),
        "source": maybe(st.one_of(texts, st.lists(maybe(texts), max_size=4))),
    }
    kind = draw(st.integers(0, 19))
    if kind < 17:
        return draw(st.fixed_dictionaries(fields))
    return draw(st.fixed_dictionaries({}, optional=fields)) if kind < 19 else draw(json_values)


notebooks = st.integers(0, 9).flatmap(lambda k: st.fixed_dictionaries(
    {"cells": maybe(st.lists(cells(), max_size=8), 6), "nbformat": maybe(st.sampled_from([4, 4, 4, 4, 3, 5]), 6),
     "metadata": maybe(st.fixed_dictionaries({}, optional={
         "kernelspec": maybe(st.fixed_dictionaries(
             {}, optional={"language": maybe(st.sampled_from(["python", "julia"]))})),
         "language_info": maybe(st.fixed_dictionaries({}, optional={"name": texts})),
     }))},
    optional={"nbformat_minor": json_values, "worksheets": json_values},
) if k else st.fixed_dictionaries({}, optional={"cells": json_values, "nbformat": json_values,
                                              "metadata": json_values}))


def assert_clear(message: str) -> None:
    """A message a student can act on: short, plain text, writable as UTF-8."""
    message.encode("utf-8")
    assert message and len(message) < 1000, message[:200]
    assert not NOISE.search(message), message


def read_bytes(data: bytes):
    """read_notebook on a file holding ``data``: (notebook or None, refusal message or None)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "submission.ipynb"
        path.write_bytes(data)
        try:
            return read_notebook(path, MAX_BYTES, MAX_CELLS), None
        except NotebookError as exc:
            return None, str(exc)


def check_read_and_assemble(data: bytes) -> None:
    nb, refusal = read_bytes(data)
    if refusal is not None:
        assert_clear(refusal)
        return
    assembly = assemble(LAB.template, nb)
    assert set(assembly.answers) == set(ANSWER_IDS)
    assert all(isinstance(cid, str) and isinstance(src, str) for cid, src in assembly.cells)
    for note in assembly.notes:
        assert_clear(note)


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_are_read_or_refused_clearly(data):
    check_read_and_assemble(data)


@FUZZ
@given(json_values)
def test_random_json_is_read_or_refused_clearly(value):
    check_read_and_assemble(json.dumps(value).encode())


@FUZZ
@given(notebooks)
def test_malformed_notebooks_are_assembled_or_refused_clearly(nb):
    check_read_and_assemble(json.dumps(nb).encode())


@FUZZ
@given(notebooks, st.integers(0, 3))
def test_truncated_and_padded_notebooks(nb, how):
    data = json.dumps(nb).encode()
    variants = [data[: len(data) // 2], data + b"\x00", b"\xef\xbb\xbf" + data, data.replace(b'"', b"'", 1)]
    check_read_and_assemble(variants[how])


def answer_cells_notebook(specs: list[tuple[str, object, object]]) -> dict:
    """A valid notebook frame around answer cells with the given (grade_id, cell_type, source)."""
    cells_ = [{"cell_type": kind, "metadata": {"nbgrader": {"grade_id": gid, "solution": True, "grade": False}},
               "source": source} for gid, kind, source in specs]
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells_}


answer_specs = st.lists(st.tuples(st.sampled_from(ANSWER_IDS),
                                  st.one_of(st.sampled_from(["code", "markdown", "raw"]), odd_strings, json_values),
                                  st.one_of(texts, st.lists(texts, max_size=3), json_values)), min_size=1, max_size=6)


@FUZZ
@given(answer_specs)
def test_answer_cells_of_odd_types_and_sources_are_assembled_or_refused_clearly(specs):
    check_read_and_assemble(json.dumps(answer_cells_notebook(specs)).encode())


# --- the grader and the self-check agree on every file ------------------------------------------------------

CONTRACT = build_contract(CFG)


def verdicts(data: bytes, link: bool = False, limits: tuple[int, int] = (MAX_BYTES, MAX_CELLS),
             ) -> tuple[tuple[bool, list[str]], tuple[bool, list[str]]]:
    """(gradable, exercises without a runnable answer) as the grader and as the self-check see ``data``.

    Args:
        data: the file's bytes.
        link: submit a symbolic link to the file instead of the file.
        limits: (largest file in bytes, most cells), the same on both sides.
    """
    contract = dataclasses.replace(CONTRACT, limits=dataclasses.replace(
        CONTRACT.limits, max_notebook_bytes=limits[0], max_cells=limits[1]))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lab_rnn.ipynb"
        target = Path(tmp) / "real.ipynb" if link else path
        target.write_bytes(data)
        if link:
            path.symlink_to(target)
        try:
            grader = (True, assemble(LAB.template, read_notebook(path, *limits)).missing)
        except NotebookError:
            grader = (False, [])
        report = selfcheck.check_notebook(path, contract, run=False)
        missing = [e.name for e in report.exercises if e.status == selfcheck.MISSING]
    return grader, (report.readable, missing)


def assert_same_verdict(data: bytes, link: bool = False) -> None:
    grader, student = verdicts(data, link)
    assert grader == student, (grader, student)


@FUZZ
@given(st.one_of(notebooks, answer_specs.map(answer_cells_notebook)))
def test_grader_and_self_check_agree_on_malformed_notebooks(nb):
    assert_same_verdict(json.dumps(nb).encode())


@FUZZ
@given(st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def test_grader_and_self_check_agree_on_random_files(data):
    assert_same_verdict(data)


@pytest.mark.parametrize("name", ["symlink", "nbformat3-worksheets", "julia-language-info", "answer-as-markdown",
                                  "too-many-cells", "too-large", "solution", "release"])
def test_grader_and_self_check_agree_on_the_known_refusals(name):
    solution = json.loads(CFG.source_notebook.read_text(encoding="utf-8"))
    odd = json.loads(json.dumps(solution))
    if name == "nbformat3-worksheets":
        odd = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": []}]}
    elif name == "julia-language-info":
        odd["metadata"] = {"language_info": {"name": "julia"}}
    elif name == "answer-as-markdown":
        next(c for c in odd["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "generate")[
            "cell_type"] = "markdown"  # an exercise the configured split asks for
    elif name == "too-many-cells":
        odd["cells"] = odd["cells"] * (CFG.limits.max_cells // len(odd["cells"]) + 1)
    elif name == "release":
        odd = json.loads(CFG.release_notebook.read_text(encoding="utf-8"))
    data = json.dumps(odd).encode() + (b" " * CFG.limits.max_notebook_bytes if name == "too-large" else b"")
    limits = (CFG.limits.max_notebook_bytes, CFG.limits.max_cells)  # the course's own
    grader, student = verdicts(data, link=name == "symlink", limits=limits)
    assert grader == student
    expect_readable = name in ("solution", "release", "answer-as-markdown")
    assert grader[0] is expect_readable, name
    assert grader[1] == (["generate"] if name == "answer-as-markdown" else [])


def fake_checks(st_: State) -> None:
    """The judge step without pytest: one check per exercise, passed when an answer was found."""
    answers = st_.assembly.answers if st_.assembly else {}
    st_.checks = [{"name": f"{gid} answered", "points": 1.0, "tags": [gid], "visibility": None,
                   "passed": bool(answers.get(gid)), "message": "" if answers.get(gid) else f"no answer for {gid}"}
                  for gid in ANSWER_IDS]


def no_worker(st_: State) -> None:
    """The worker steps stubbed out: this test covers the trusted path only."""


@FUZZ
@given(st.one_of(notebooks, answer_specs.map(answer_cells_notebook)))
def test_grade_one_always_writes_a_result_with_a_clear_message(nb):
    steps = [grade.step_read, grade.step_assemble, no_worker, grade.step_stop_worker, fake_checks, grade.step_write]
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setattr(grade, "GRADING_STEPS", steps)
        path = Path(tmp) / "in" / "student.ipynb"
        path.parent.mkdir()
        path.write_text(json.dumps(nb), encoding="utf-8")
        ctx = Context(cfg=CFG, lab=LAB, corpus=None, options=Options(threshold=False), isolation_name="stub",
                      out_dir=Path(tmp) / "out")
        row = grade.grade_one(ctx, Submission("student", path, "student"))
        results = json.loads((ctx.out_dir / "student" / "results.json").read_text(encoding="utf-8"))
        assert (ctx.out_dir / "student" / "feedback.md").read_text(encoding="utf-8").startswith("# Feedback")
    status = results["extra_data"]["status"]
    assert status in ("graded", "rejected") and row["status"] == status
    assert 0 <= results["score"] <= len(ANSWER_IDS)
    if results["extra_data"]["status"] == "rejected":
        assert results["score"] == 0 and results["tests"] == []
    for part in results["output"].split("\n\n"):
        assert_clear(part)


@settings(max_examples=100, derandomize=True, database=None, deadline=None)
@given(st.lists(st.text(st.characters(exclude_characters="/\x00", codec="utf-8"), min_size=1, max_size=40),
                min_size=1, max_size=6, unique=True))
def test_any_file_names_give_safe_unique_ids(names):
    with tempfile.TemporaryDirectory() as tmp:
        made = []
        for name in names:
            if name in (".", ".."):
                continue
            try:
                (Path(tmp) / f"{name}.ipynb").write_text("{}")
                made.append(name)
            except OSError:  # a name too long for the file system
                pass
        subs = discover([Path(tmp)], CFG.assignment)
    ids = [s.id for s in subs]
    assert len(ids) == len(set(ids)) == len(made)
    for sub_id in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", sub_id)  # one path component, never hidden or ".."
        # never the name of a batch-level output file
        assert not re.search(r"\.(csv|html|png|json|md|txt)$", sub_id, re.IGNORECASE), sub_id
