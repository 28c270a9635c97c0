"""Diagnosed mistakes: each check's failure messages grouped into categories, students counted per category."""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w])")
_GROUP = (re.compile(r"\([^()\[\]]*\)"), re.compile(r"\[[^()\[\]]*\]"))
_CALL = re.compile(r"[A-Za-z_][\w.]*\(…\)")
_KEY_VALUE = re.compile(r"\b([A-Za-z_]\w*)=(?!…)[^\s,;:)\]]+")
_TAG = re.compile(r"<[^>]*>")
MAX_MESSAGE = 600  # characters of a message kept for grouping and display
PASSED = "passed"


@dataclass
class Category:
    """One diagnosed mistake of one check.

    Attributes:
        key: the normalised message.
        students: submission ids whose failure falls in it (sorted).
        example: a real message of its most frequent variant.
        variants: (example message, students) per variant, most frequent first.
    """

    key: str
    students: list[str]
    example: str
    variants: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class CheckMistakes:
    """The failures of one check, by category (most students first)."""

    exercise: str
    name: str
    failed: int
    ran: int
    categories: list[Category]


def plain(test: dict[str, Any]) -> str:
    """A test's output as one line of plain text (an HTML output loses its tags and pictures).

    Args:
        test: one entry of results.json's ``tests``.

    Returns:
        At most MAX_MESSAGE characters, whitespace collapsed.
    """
    text = str(test.get("output", ""))
    if test.get("output_format") == "html":
        text = html.unescape(_TAG.sub(" ", text))
    return " ".join(text.split())[:MAX_MESSAGE]


def _collapse(text: str, groups: tuple[re.Pattern, ...], only_settings: bool) -> str:
    """Replace bracketed groups, innermost first, by (…) / […]; with only_settings, only groups holding a '='."""
    marks = {"(": "(…)", "[": "[…]"}
    for _ in range(8):
        new = text
        for pattern in groups:
            new = pattern.sub(lambda m: m[0] if only_settings and "=" not in m[0] else marks[m[0][0]], new)
        if new == text:
            break
        text = new
    return text


def variant_key(message: str) -> str:
    """The message with what changes between probes normalised: the same mistake on other probes.

    Numbers become ``#``, a group of settings ``(batch=3, hidden_size=4)`` becomes ``(…)``, a call
    description ``nn.GRU(…)`` becomes ``…(…)`` and ``name=value`` becomes ``name=…``.

    Args:
        message: a failure message.

    Returns:
        The variant key.
    """
    key = _NUMBER.sub("#", " ".join(message.split()))
    key = _CALL.sub("…(…)", _collapse(key, _GROUP, only_settings=True))
    return _KEY_VALUE.sub(r"\1=…", key)


def category_key(message: str) -> str:
    """The variant key with every other (...) and [...] group normalised too: one key per mistake.

    For example all the gate orders that are not PyTorch's form one category, "the gates are
    permuted", whose variants are the orders.

    Args:
        message: a failure message.

    Returns:
        The category key.
    """
    return _CALL.sub("…(…)", _collapse(variant_key(message), _GROUP, only_settings=False))


def check_mistakes(results: dict[str, dict[str, Any]], exercise_order: list[str] = ()) -> list[CheckMistakes]:
    """The diagnosed mistakes of every check that some graded submission failed.

    The hidden checks name the mistake in their message ("lstm_cell reads the four stacked gate
    blocks as (input, forget, output, cell); ..."); the numbers, shapes and settings in it vary with
    each student's probes, so messages are grouped by ``category_key`` and, within a category, by
    ``variant_key``.

    Args:
        results: submission id -> results.json dict (graded submissions only count).
        exercise_order: exercises in the lab's order.

    Returns:
        One entry per check with failures, in exercise order, then by checks' order of appearance.
    """
    ran: dict[tuple[str, str], int] = {}
    failures: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for sid, res in sorted(results.items()):
        if res.get("extra_data", {}).get("status", "graded") != "graded":
            continue
        for test in res.get("tests", []):
            key = (test["tags"][0] if test.get("tags") else "other", test["name"])
            ran[key] = ran.get(key, 0) + 1
            if test.get("status") != PASSED:
                failures.setdefault(key, []).append((sid, plain(test) or "(no message)"))
    order = list(dict.fromkeys([*exercise_order, *(k[0] for k in ran)]))
    found = []
    for key in sorted(failures, key=lambda k: order.index(k[0])):
        groups: dict[str, dict[str, list[tuple[str, str]]]] = {}
        for sid, message in failures[key]:
            groups.setdefault(category_key(message), {}).setdefault(variant_key(message), []).append((sid, message))
        categories = []
        for cat, variants in groups.items():
            ranked = sorted(variants.values(), key=lambda v: (-len(v), v[0][1]))
            students = sorted(sid for v in ranked for sid, _ in v)
            categories.append(Category(cat, students, ranked[0][0][1], [(v[0][1], len(v)) for v in ranked]))
        categories.sort(key=lambda c: (-len(c.students), c.key))
        found.append(CheckMistakes(key[0], key[1], len(failures[key]), ran[key], categories))
    return found
