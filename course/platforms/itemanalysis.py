"""Item analysis of a graded cohort: difficulty and discrimination of every check and exercise, with flags."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# For an item (a check, or an exercise: the sum of its checks) and the n graded submissions that ran it:
#
# * difficulty p = the share of submissions with full marks on the item. A check worth 0 points (a
#   homework check: extra_data {"mode": "optional"}) has no marks to be full: it counts as passed when
#   its status is "passed", and its score fraction is 1 or 0 accordingly;
# * discrimination r = the Pearson correlation, over the submissions, of the item's score with the
#   rest score (the total autograded score minus the item's own points). For a check, scored 0 or
#   full, this is the point-biserial correlation r_pb = (M1 - M0) / s * sqrt(p (1 - p)), with M1 and
#   M0 the mean rest scores of those who pass and fail it and s the (population) standard deviation
#   of the rest score. It is undefined when the item or the rest score does not vary;
# * upper-lower index D = (mean item fraction in the upper group) - (mean in the lower group), the
#   groups being the 27 % of submissions with the highest and the lowest rest scores (at least one
#   each); submissions tied at a group's edge share the remaining places equally.
#
# An item everyone passes (p = 1) tells no one apart, and one with r < 0 rewards those who do worse
# on the rest: both are flagged for the instructor, as is an item no one passes.

GROUP_SHARE = 0.27  # Kelley's upper and lower groups
FLAGS = {
    "all_pass": "every submission gets full marks: it does not tell students apart",
    "none_pass": "no submission gets full marks: check the check, or the teaching",
    "negative": "negative discrimination: submissions that get it score lower on the rest",
}


@dataclass
class Item:
    """Statistics of one check or one exercise.

    Attributes:
        kind: "check" or "exercise".
        exercise: the exercise (the check's first tag).
        name: the check's name, or the exercise's.
        points: the item's maximum points.
        n: graded submissions that ran it.
        full: of those, how many got full marks (passed it, for a 0-point item).
        mean_fraction: mean of score / points.
        r: discrimination (correlation with the rest score), None when undefined.
        d: upper-lower index, None with fewer than 2 submissions.
        flags: keys of FLAGS.
    """

    kind: str
    exercise: str
    name: str
    points: float
    n: int
    full: int
    mean_fraction: float
    r: float | None
    d: float | None
    flags: list[str] = field(default_factory=list)

    @property
    def difficulty(self) -> float:
        return self.full / self.n if self.n else 0.0


def pearson(x: list[float], y: list[float]) -> float | None:
    """Pearson's correlation of two equally long samples (the point-biserial one when x is 0 or 1).

    Args:
        x, y: the samples.

    Returns:
        r in [-1, 1]; None with fewer than two values or when one sample does not vary.
    """
    n = len(x)
    if n < 2:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx < 1e-12 or syy < 1e-12:
        return None
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def _group_mean(ordered: list[tuple[float, float]], size: int) -> float:
    """Mean item value of the first ``size`` places of (rest, item) pairs sorted by rest; ties share places."""
    total, taken, i = 0.0, 0, 0
    while taken < size and i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j][0] == ordered[i][0]:
            j += 1
        block = [v for _, v in ordered[i:j]]
        places = min(size - taken, len(block))
        total += places * sum(block) / len(block)
        taken += places
        i = j
    return total / size


def upper_lower(item: list[float], rest: list[float], share: float = GROUP_SHARE) -> float | None:
    """The upper-lower discrimination index D of an item against the rest scores.

    Args:
        item: each submission's item score as a fraction of its points.
        rest: each submission's rest score.
        share: the size of each group, as a share of the submissions (at least one submission).

    Returns:
        Mean item fraction of the upper group minus that of the lower group; None below two submissions.
    """
    n = len(item)
    if n < 2:
        return None
    size = max(1, round(share * n))
    pairs = list(zip(rest, item))
    low = _group_mean(sorted(pairs, key=lambda p: p[0]), size)
    high = _group_mean(sorted(pairs, key=lambda p: -p[0]), size)
    return high - low


def graded(results: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The tests of every submission the grader graded (not rejected files, not grader errors).

    Args:
        results: submission id -> results.json dict.

    Returns:
        submission id -> its ``tests`` list, in id order.
    """
    return {sid: r.get("tests", []) for sid, r in sorted(results.items())
            if r.get("extra_data", {}).get("status", "graded") == "graded" and r.get("tests")}


Score = tuple[float, float, bool]  # (score, points, passed) of one submission on one item


def passed(test: dict[str, Any]) -> bool:
    """Whether a results.json test got full marks; a 0-point (homework) check, whether its status is passed."""
    score, points = float(test.get("score", 0.0)), float(test.get("max_score", 0.0))
    return test.get("status") == "passed" if points == 0 else score >= points - 1e-9


def _item(kind: str, exercise: str, name: str, scores: dict[str, Score], totals: dict[str, float]) -> Item:
    """Item statistics from student -> (score, points, passed) and student -> total score."""
    ids = sorted(scores)
    points = max(p for _, p, _ in scores.values())
    frac = [score / top if top else float(ok) for score, top, ok in (scores[s] for s in ids)]
    rest = [totals[s] - scores[s][0] for s in ids]
    full = sum(scores[s][2] for s in ids)
    item = Item(kind, exercise, name, points, len(ids), full, sum(frac) / len(ids),
                pearson(frac, rest), upper_lower(frac, rest))
    if item.full == item.n:
        item.flags.append("all_pass")
    elif item.full == 0:
        item.flags.append("none_pass")
    if item.r is not None and item.r < 0:
        item.flags.append("negative")
    return item


def analyse(results: dict[str, dict[str, Any]], exercise_order: list[str] = ()) -> tuple[list[Item], list[Item]]:
    """Item statistics of every exercise and every check of a cohort.

    Args:
        results: submission id -> results.json dict; only graded submissions count.
        exercise_order: exercises in the lab's order (others follow in the order they appear).

    Returns:
        (exercises, checks), each in exercise order, checks in the order the grader ran them.
    """
    tests = graded(results)
    totals = {sid: sum(float(t.get("score", 0.0)) for t in ts) for sid, ts in tests.items()}
    checks: dict[tuple[str, str], dict[str, Score]] = {}
    exercises: dict[str, dict[str, Score]] = {}
    for sid, ts in tests.items():
        for t in ts:
            exercise = t["tags"][0] if t.get("tags") else "other"
            score, points, ok = float(t.get("score", 0.0)), float(t.get("max_score", 0.0)), passed(t)
            checks.setdefault((exercise, t["name"]), {})[sid] = (score, points, ok)
            got, top, all_ok = exercises.setdefault(exercise, {}).get(sid, (0.0, 0.0, True))
            exercises[exercise][sid] = (got + score, top + points, all_ok and ok)
    order = list(dict.fromkeys([*exercise_order, *exercises]))
    ex_items = [_item("exercise", e, e, exercises[e], totals) for e in order if e in exercises]
    check_items = [_item("check", e, name, scores, totals) for (e, name), scores in checks.items()]
    check_items.sort(key=lambda item: order.index(item.exercise))
    return ex_items, check_items
