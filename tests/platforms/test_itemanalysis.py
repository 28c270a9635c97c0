"""Item analysis and diagnosed mistakes on a synthetic cohort whose statistics are worked out by hand below."""
from __future__ import annotations

import math

import pytest

from course.platforms.itemanalysis import analyse, pearson, upper_lower
from course.platforms.mistakes import category_key, check_mistakes, plain, variant_key

# Ten graded submissions s0 (strongest) .. s9; five checks in three exercises:
#   i1 (X, 1 pt)  everyone passes
#   i2 (X, 2 pts) s0..s5 pass
#   i3 (Y, 2 pts) s0..s3 and s6 pass
#   i4 (Y, 2 pts) s0..s4 pass
#   i5 (Z, 1 pt)  s7, s8, s9 pass: the weakest, a check that discriminates the wrong way
#   i6 (Z, 3 pts) nobody passes
# Totals T = 1 + 2 i2 + 2 i3 + 2 i4 + i5 = [7, 7, 7, 7, 5, 3, 3, 2, 2, 2].
CHECKS = [("i1", "X", 1.0), ("i2", "X", 2.0), ("i3", "Y", 2.0), ("i4", "Y", 2.0), ("i5", "Z", 1.0), ("i6", "Z", 3.0)]
PASSED = {"i1": set(range(10)), "i2": set(range(6)), "i3": {0, 1, 2, 3, 6}, "i4": set(range(5)), "i5": {7, 8, 9},
          "i6": set()}


def results(student: int, status: str = "graded", messages: dict[str, str] | None = None) -> dict:
    tests = []
    for name, exercise, points in CHECKS:
        ok = student in PASSED[name]
        tests.append({"name": name, "score": points if ok else 0.0, "max_score": points, "tags": [exercise],
                      "status": "passed" if ok else "failed",
                      "output": "Passed." if ok else (messages or {}).get(name, f"{name} failed")})
    return {"score": sum(t["score"] for t in tests), "tests": tests, "extra_data": {"status": status}}


COHORT = {f"s{i}": results(i) for i in range(10)}


def by_name(items):
    return {item.name: item for item in items}


def test_check_statistics_match_the_hand_computation():
    exercises, checks = analyse(COHORT, ["X", "Y", "Z"])
    got = by_name(checks)
    assert [c.name for c in checks] == ["i1", "i2", "i3", "i4", "i5", "i6"]
    # i2: rest R = T - 2 i2 = [5, 5, 5, 5, 3, 1, 3, 2, 2, 2]; mean 3.3; population variance 13.1 - 3.3^2 = 2.21.
    # Passers' mean rest M1 = 24 / 6 = 4, failers' M0 = 9 / 4 = 2.25, p = 0.6:
    # r_pb = (M1 - M0) / s * sqrt(p q) = 1.75 / sqrt(2.21) * sqrt(0.24) = 0.57669.
    i2 = got["i2"]
    assert (i2.n, i2.full, i2.difficulty) == (10, 6, 0.6)
    assert i2.r == pytest.approx(1.75 / math.sqrt(2.21) * math.sqrt(0.24)) == pytest.approx(0.57669, abs=1e-5)
    # Groups of round(0.27 * 10) = 3. Upper: three of the four tied at R = 5, all passing: 1.
    # Lower: s5 (R = 1, passes), then two of the three tied at R = 2, all failing: 1/3. D = 2/3.
    assert i2.d == pytest.approx(2 / 3)
    assert i2.flags == []
    # i5: R = T - i5 = [7, 7, 7, 7, 5, 3, 3, 1, 1, 1]; mean 4.2; variance 24.2 - 4.2^2 = 6.56.
    # M1 = 1, M0 = 39 / 7, p = 0.3: r_pb = (1 - 39/7) / sqrt(6.56) * sqrt(0.21) = -0.81792.
    i5 = got["i5"]
    assert i5.r == pytest.approx((1 - 39 / 7) / math.sqrt(6.56) * math.sqrt(0.21)) == pytest.approx(-0.81792, abs=1e-5)
    assert i5.d == pytest.approx(-1.0)  # the upper three all fail it, the lower three all pass
    assert i5.flags == ["negative"]
    # Everyone passes i1, nobody passes i6: no correlation, no difference between the groups.
    assert (got["i1"].difficulty, got["i1"].r, got["i1"].d, got["i1"].flags) == (1.0, None, 0.0, ["all_pass"])
    assert (got["i6"].difficulty, got["i6"].r, got["i6"].d, got["i6"].flags) == (0.0, None, 0.0, ["none_pass"])


def test_exercise_statistics_match_the_hand_computation():
    exercises, _ = analyse(COHORT, ["X", "Y", "Z"])
    y = by_name(exercises)["Y"]
    # Y = i3 + i4 out of 4: fractions [1, 1, 1, 1, .5, 0, .5, 0, 0, 0]; 4 full marks; mean fraction 0.5.
    # Rest = T - Y = [3, 3, 3, 3, 3, 3, 1, 2, 2, 2] (mean 2.5). Deviations give sxy = 1.5, sxx = 2, syy = 4.5:
    # r = 1.5 / sqrt(2 * 4.5) = 0.5.
    assert (y.points, y.n, y.full, y.mean_fraction) == (4.0, 10, 4, 0.5)
    assert y.r == pytest.approx(0.5)
    # Upper 3 places come from the six tied at rest 3 (mean fraction 4.5 / 6 = .75); lower: s6 (.5) and two of
    # the three at rest 2 (0): 1/6. D = .75 - 1/6 = 7/12.
    assert y.d == pytest.approx(7 / 12)
    assert [e.name for e in exercises] == ["X", "Y", "Z"]
    assert by_name(exercises)["Z"].flags == ["none_pass", "negative"]


def test_a_homework_check_worth_no_points_passes_by_its_status():
    """Of five, s0..s2 pass the graded g (1 pt) and only s0 the homework h (0 pts): h's difficulty is 1/5."""
    def homework(student: int) -> dict:
        g, h = student < 3, student == 0
        status = lambda ok: "passed" if ok else "failed"
        tests = [{"name": "g", "score": float(g), "max_score": 1.0, "tags": ["G"], "status": status(g)},
                 {"name": "h", "score": 0.0, "max_score": 0.0, "tags": ["H"], "status": status(h),
                  "extra_data": {"mode": "optional", "weight": 1.0}}]
        return {"score": float(g), "tests": tests, "extra_data": {"status": "graded"}}

    exercises, checks = analyse({f"s{i}": homework(i) for i in range(5)}, ["G", "H"])
    for h in (by_name(checks)["h"], by_name(exercises)["H"]):
        assert (h.points, h.n, h.full, h.difficulty, h.mean_fraction, h.flags) == (0.0, 5, 1, 0.2, 0.2, [])
        # frac [1, 0, 0, 0, 0] against rest [1, 1, 1, 0, 0]: sxy = 0.4, sxx = 0.8, syy = 1.2.
        assert h.r == pytest.approx(0.4 / math.sqrt(0.8 * 1.2))
    assert by_name(checks)["g"].difficulty == 0.6


def test_rejected_files_and_grader_errors_are_left_out():
    cohort = dict(COHORT, rejected={"score": 0, "tests": [], "extra_data": {"status": "rejected"}},
                  broken=results(0, status="error"))
    assert by_name(analyse(cohort)[1])["i2"].n == 10


def test_helpers_on_small_and_constant_samples():
    assert pearson([1.0], [2.0]) is None and pearson([1.0, 1.0], [0.0, 3.0]) is None
    assert pearson([0.0, 1.0, 2.0], [2.0, 4.0, 6.0]) == pytest.approx(1.0)
    assert upper_lower([1.0], [3.0]) is None
    assert upper_lower([0.0, 1.0], [1.0, 2.0]) == 1.0  # groups of one


# --- diagnosed mistakes ----------------------------------------------------------------------------

GATES = "lstm_cell reads the four stacked gate blocks as ({}); PyTorch stacks them as (input, forget, cell, output)."
SHAPE = ("top_layer_final_state for nn.{}(num_layers={}, bidirectional=True, batch_first={}) with batch={}, "
         "hidden_size={} should be [{}, {}], got [{}, {}] with different values: h_n[-1] is only the last layer's "
         "BACKWARD direction; for a bidirectional net concatenate h_n[-2] and h_n[-1].")


def test_messages_that_differ_only_in_numbers_shapes_and_settings_share_a_category():
    one = SHAPE.format("GRU", 2, False, 3, 5, 3, 10, 3, 5)
    two = SHAPE.format("LSTM", 3, True, 4, 7, 4, 14, 4, 7)
    assert variant_key(one) == variant_key(two) and category_key(one) == category_key(two)
    first, second = GATES.format("input, forget, output, cell"), GATES.format("forget, input, cell, output")
    assert variant_key(first) != variant_key(second), "each gate order is its own variant"
    assert category_key(first) == category_key(second), "but all of them are one mistake: permuted gates"
    assert category_key("lstm_cell returns (c_t, h_t); the order is (h_t, c_t).") != category_key(first)


def test_mistakes_are_counted_per_category_with_their_variants():
    messages = {  # what i2 said to each failing student (s6..s9), plus a rejected file that must not count
        "s6": GATES.format("input, forget, output, cell"),
        "s7": GATES.format("forget, input, cell, output"),
        "s8": GATES.format("input, forget, output, cell"),
        "s9": "`lstm_cell` is not done yet: it still raises NotImplementedError.",
    }
    cohort = {sid: results(int(sid[1:]), messages={"i2": messages.get(sid, "")}) for sid in COHORT}
    cohort["zz"] = {"score": 0, "tests": [], "extra_data": {"status": "rejected"}}
    found = {(m.exercise, m.name): m for m in check_mistakes(cohort, ["X", "Y", "Z"])}
    assert ("X", "i1") not in found, "a check nobody failed has no mistakes"
    i2 = found[("X", "i2")]
    assert (i2.failed, i2.ran) == (4, 10)
    gates, not_done = i2.categories
    assert gates.students == ["s6", "s7", "s8"] and not_done.students == ["s9"]
    assert gates.example == messages["s6"]  # the most frequent variant's message
    assert gates.variants == [(messages["s6"], 2), (messages["s7"], 1)]
    assert [m.name for m in check_mistakes(cohort)] == ["i2", "i3", "i4", "i5", "i6"]


def test_html_outputs_are_read_as_text():
    test = {"output": '<p>h_t &lt; 0</p><p><img src="data:image/png;base64,AAAA"></p>', "output_format": "html"}
    assert plain(test) == "h_t < 0"
