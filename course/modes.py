"""What an exercise's mode (graded, optional or given) means, for every part of the course that follows it."""
# The one place that decides it: course/config.py validates EXERCISES with ``validate_modes``;
# the release (course/authoring/release.py) and the grader's template (course/grader/lab.py)
# turn the source notebook into the notebook of a split with ``apply_modes``; the plugin, the
# contract, the self-check, Classroom and the nbgrader export ask ``points``, ``has_checks`` and
# ``asks_for`` instead of deciding again.
#
# graded   as always: the release holds a stub and the visible test, the hidden checks run and
#          their points count toward the score.
# optional homework: released like a graded exercise (stub, visible test); the hidden checks run
#          and are reported in the feedback, but carry 0 points (Gradescope max_score 0,
#          Classroom max-score 0, nbgrader a test cell worth 0 points); the self-check reports
#          it without blocking READY.
# given    worked code: the solution stays in the release as a read-only cell (no stub), its
#          visible test stays as an ungraded, read-only demo (no hidden region, no points), no
#          hidden check runs, and the grader runs the template's solution, never the student's
#          edit of it.
from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

from course.errors import ConfigError
from course.student import notebook as nbc

GRADED, OPTIONAL, GIVEN = "graded", "optional", "given"
MODES = (GRADED, OPTIONAL, GIVEN)
THRESHOLD = "threshold"  # the grader-run training: a key of POINTS that is not a notebook exercise, always graded

# nbgrader's solution and hidden-test delimiters, as the notebook writes them.
_SOLUTION_LINE = re.compile(r"^\s*#+\s*(BEGIN|END) SOLUTION\s*$")
_HIDDEN_REGION = re.compile(r"^\s*#+\s*BEGIN HIDDEN TESTS\s*$.*?^\s*#+\s*END HIDDEN TESTS\s*$\n?", re.M | re.S)
# An exercise's heading in the markdown: "### Exercise 3: `to_batch_first`" and what follows it.
_HEADING = re.compile(r"^(?P<hashes>#{2,4}) Exercise \d+(?: \([^)]*\))?: `(?P<name>\w+)`(?P<rest>.*)$", re.M)
# The introduction's two lines that list the split, rewritten for the configured modes.
_SPLIT_LINE = re.compile(r"^(?P<label>\*\*(?:Homework|Worked code)\b[^*\n]*:\*\*)[^\n]*$", re.M)

GIVEN_NOTE = "*Worked code, not graded: read the solution in the next cell, then run it.*"
OPTIONAL_NOTE = ("*Homework, optional: for after the session. The grader checks it and reports it in your "
                 "feedback, for no points.*")
GIVEN_TEST_NOTE = "# Tests of the worked code `{name}` above: run them to see it work (not graded).\n"


def validate_modes(raw: Any, exercises: Iterable[str]) -> dict[str, str]:
    """Every exercise's mode, from course_config.py's EXERCISES (an exercise it leaves out is graded).

    Args:
        raw: the EXERCISES setting: a dict exercise -> mode.
        exercises: the notebook exercises (the keys of POINTS but the threshold), in order.

    Returns:
        exercise -> mode for every exercise, in the order given.
    Raises:
        ConfigError: not a dict, an unknown exercise, an unknown mode, or the threshold given a mode.
    """
    names = list(exercises)
    if not isinstance(raw, dict):
        raise ConfigError(f"course_config.py: EXERCISES must be a dict exercise -> mode, got {raw!r}.")
    for key, mode in raw.items():
        if key == THRESHOLD:
            raise ConfigError("course_config.py: EXERCISES cannot set the threshold's mode: the grader-run "
                              "training is always graded (set POINTS['threshold'] to change its weight).")
        if key not in names:
            raise ConfigError(f"course_config.py: EXERCISES names {key!r}, which is not an exercise of POINTS "
                              f"({', '.join(names)}).")
        if mode not in MODES:
            raise ConfigError(f"course_config.py: EXERCISES[{key!r}] must be one of {', '.join(MODES)}, got {mode!r}.")
    return {name: raw.get(name, GRADED) for name in names}


def mode_of(modes: Mapping[str, str], name: str) -> str:
    """The mode of a key of POINTS (the threshold and anything unlisted are graded)."""
    return modes.get(name, GRADED)


def counts(mode: str) -> bool:
    """Whether an exercise's points count toward the score."""
    return mode == GRADED


def has_checks(mode: str) -> bool:
    """Whether the hidden checks of an exercise run (and are reported)."""
    return mode != GIVEN


def asks_for(mode: str) -> bool:
    """Whether the student writes the exercise (a stub in the release, an answer cell the grader takes)."""
    return mode != GIVEN


def points(weights: Mapping[str, int], modes: Mapping[str, str]) -> dict[str, int]:
    """The points each key of POINTS is worth in the score: its weight when graded, else 0.

    Args:
        weights: POINTS.
        modes: exercise -> mode.

    Returns:
        key -> points, every key of ``weights``.
    """
    return {name: weight if counts(mode_of(modes, name)) else 0 for name, weight in weights.items()}


def all_graded(modes: Mapping[str, str]) -> dict[str, str]:
    """The same exercises, every one graded (the catalogue's view: every check, every point)."""
    return dict.fromkeys(modes, GRADED)


# --- the notebook of a split ---------------------------------------------------------------------------------


def strip_solution_markers(source: str) -> str:
    """A solution cell's source without its BEGIN/END SOLUTION lines (the code between them kept)."""
    return "".join(line for line in source.splitlines(keepends=True) if not _SOLUTION_LINE.match(line))


def strip_hidden_tests(source: str) -> str:
    """A test cell's source without its hidden-test regions."""
    return _HIDDEN_REGION.sub("", source).rstrip("\n") + "\n"


def _read_only(cell: dict, gid: str) -> None:
    """Make a cell nbgrader's read-only kind: locked, neither a solution nor graded."""
    cell.setdefault("metadata", {})["nbgrader"] = {"grade": False, "grade_id": gid, "locked": True,
                                                   "schema_version": 3, "solution": False}


def _heading(match: re.Match, modes: Mapping[str, str], number: list[int]) -> str:
    name = match["name"]
    if name not in modes:
        return match[0]
    mode = modes[name]
    if mode == GIVEN:
        return f"{match['hashes']} Worked code: `{name}`{match['rest']}\n\n{GIVEN_NOTE}"
    number[0] += 1
    label = " (homework)" if mode == OPTIONAL else ""
    text = f"{match['hashes']} Exercise {number[0]}{label}: `{name}`{match['rest']}"
    return text + (f"\n\n{OPTIONAL_NOTE}" if mode == OPTIONAL else "")


def _split_line(match: re.Match, modes: Mapping[str, str]) -> str:
    mode = OPTIONAL if match["label"].startswith("**Homework") else GIVEN
    names = [f"`{name}`" for name, m in modes.items() if m == mode]
    return f"{match['label']} {', '.join(names) if names else 'none'}."


def apply_modes(nb: Mapping[str, Any], modes: Mapping[str, str]) -> dict[str, Any]:
    """The source notebook of a split: what the release is generated from and what the grader's template is.

    Given exercises: the answer cell keeps its solution (markers removed) as a read-only cell;
    their test cell loses its hidden region and its points, becomes read-only and is tagged
    grader-skip (a demo the grader never runs). Optional exercises: their test cell is worth 0
    points. Graded exercises are left as they are. The markdown headings ``### Exercise N: `name```
    are renumbered over the exercises the student writes, and relabelled (homework, worked code);
    the introduction's lines ``**Homework ...**`` and ``**Worked code ...**`` list the split.

    Args:
        nb: the source notebook (not changed).
        modes: exercise -> mode (``validate_modes``).

    Returns:
        A new notebook.
    """
    out = copy.deepcopy(dict(nb))
    number = [0]
    for cell in out["cells"]:
        gid = nbc.grade_id(cell)
        kind = nbc.cell_type(cell)
        if kind == "markdown":
            text = _HEADING.sub(lambda m: _heading(m, modes, number), nbc.cell_source(cell))
            cell["source"] = _SPLIT_LINE.sub(lambda m: _split_line(m, modes), text)
            continue
        if not gid:
            continue
        if nbc.is_answer_cell(cell) and modes.get(gid) == GIVEN:
            cell["source"] = strip_solution_markers(nbc.cell_source(cell))
            _read_only(cell, gid)
        elif nbc.is_test_cell(cell) and gid.startswith(nbc.TEST_PREFIX):
            mode = modes.get(gid[len(nbc.TEST_PREFIX):])
            if mode == GIVEN:
                lines = strip_hidden_tests(nbc.cell_source(cell)).splitlines(keepends=True)
                if lines and lines[0].startswith("# Visible tests"):
                    lines = lines[1:]  # the note below says what they are now
                cell["source"] = GIVEN_TEST_NOTE.format(name=gid[len(nbc.TEST_PREFIX):]) + "".join(lines)
                _read_only(cell, gid)
                tags = cell["metadata"].setdefault("tags", [])
                if nbc.SKIP_TAG not in tags:
                    tags.append(nbc.SKIP_TAG)
            elif mode == OPTIONAL:
                cell["metadata"]["nbgrader"]["points"] = 0
    return out
