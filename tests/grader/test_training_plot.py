"""The training picture in each student's feedback: validated curve, honest sentence, a real PNG, links."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from course.config import load_config
from course.grader.assemble import Assembly
from course.grader.results import ANSWERS_NAME, write_submission
from course.grader.state import Context, Options, State
from course.grader.submission import Submission
from course.grader.training_plot import (
    LOSS_RANGE,
    PLOT_NAME,
    Band,
    describe,
    read_band,
    read_calibration,
    read_curve,
    render,
    training_picture,
)
from course.platforms.gradescope import embed_training_plot

REPO = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STEPS = list(range(25, 525, 25))  # one point per train_epoch call of 25 windows
REFERENCE = [1.4 + 3.2 * math.exp(-s / 120) for s in STEPS]  # a loss that falls like the reference runs'
BAND = {"steps": STEPS, "loss_low": [v - 0.1 for v in REFERENCE], "loss_high": [v + 0.1 for v in REFERENCE],
        "perplexity_low": 4.5, "perplexity_high": 4.7}


def curve(loss: list) -> dict:
    return {"steps": STEPS[: len(loss)], "loss": loss}


# --- reading what student code produced ----------------------------------------------------------


@pytest.mark.parametrize("value", [
    None, [], "curve", {"steps": [1, 2]}, {"steps": [], "loss": []},
    {"steps": [1, 2], "loss": [1.0]},  # lengths differ
    {"steps": [2, 1], "loss": [1.0, 1.0]},  # steps go back
    {"steps": [1, True], "loss": [1.0, 1.0]},  # a bool is not a step
    {"steps": [1.5, 2], "loss": [1.0, 1.0]},
    {"steps": [-1, 2], "loss": [1.0, 1.0]},
    {"steps": [1, 2], "loss": [1.0, "2.0"]},
    {"steps": list(range(30_000)), "loss": [1.0] * 30_000},  # more points than the grader's recipe can make
])
def test_unusable_curves_are_not_drawn(value):
    assert read_curve(value) is None


def test_curve_values_are_clipped_and_non_finite_ones_kept_as_such():
    got = read_curve({"steps": [10, 20, 30, 40, 50], "loss": [5, -3.0, 1e9, float("nan"), None]})
    assert got.steps == (10, 20, 30, 40, 50)
    assert got.loss[:3] == (5.0, LOSS_RANGE[0], LOSS_RANGE[1]) and math.isnan(got.loss[3]) and math.isnan(got.loss[4])
    assert got.clipped == 2 and got.first_bad_step == 40


def test_band_from_the_calibration_or_the_reference_runs_alone():
    band = read_band({"band": BAND, "threshold": 5.1})
    assert band.steps == tuple(STEPS) and band.perplexity_low == 4.5 and band.perplexity_high == 4.7
    low, high = band.loss_at(STEPS[-1])
    assert low == pytest.approx(REFERENCE[-1] - 0.1) and high == pytest.approx(REFERENCE[-1] + 0.1)
    assert band.loss_at(37) == pytest.approx((REFERENCE[0] + 0.48 * (REFERENCE[1] - REFERENCE[0]) - 0.1,
                                              REFERENCE[0] + 0.48 * (REFERENCE[1] - REFERENCE[0]) + 0.1))
    assert band.loss_at(STEPS[-1] + 1) is None
    # today's calibration.json: no band, but the reference runs' perplexities give the range
    runs_only = read_band({"threshold": 5.1, "runs": {"0": {"perplexity": 4.58}, "1": {"perplexity": 4.53}}})
    assert runs_only.steps == () and (runs_only.perplexity_low, runs_only.perplexity_high) == (4.53, 4.58)
    assert read_band({"threshold": 5.1}) is None
    assert read_band({"band": {**BAND, "loss_low": BAND["loss_low"][:-1]}}).steps == ()  # a broken band is left out


def test_calibration_missing_or_broken_gives_nothing(tmp_path):
    assert read_calibration(tmp_path / "missing.json") == (None, None)
    (tmp_path / "broken.json").write_text("{")
    assert read_calibration(tmp_path / "broken.json") == (None, None)


# --- what the student reads ------------------------------------------------------------------------


BAND_OBJ = Band(tuple(STEPS), tuple(BAND["loss_low"]), tuple(BAND["loss_high"]), 4.5, 4.7)


@pytest.mark.parametrize(("loss", "expected"), [
    (REFERENCE, "within the band of the reference runs"),
    ([v * 1.3 for v in REFERENCE], "more slowly than the reference runs"),
    ([4.6] * len(STEPS), "the training stalled"),
    ([4.6 + 0.05 * i for i in range(len(STEPS))], "rose from 4.60 to 5.55 nats per character: the training diverged"),
    (REFERENCE[:8] + [float("nan")] * 12, "became NaN or infinite by step 225: the training diverged"),
    (REFERENCE[:10] + [REFERENCE[9] + 0.15 * i for i in range(1, 11)], "then rose again"),
])
def test_the_sentence_says_how_the_model_learned(loss, expected):
    text = describe(read_curve(curve(loss)), BAND_OBJ, 4.6, 5.14)
    assert expected in text, text


def test_the_sentence_places_the_perplexity():
    good = describe(read_curve(curve(REFERENCE)), BAND_OBJ, 4.6, 5.14)
    assert "Held-out perplexity 4.600 (within the threshold 5.140; the reference runs reached 4.500 to 4.700)." in good
    bad = describe(read_curve(curve(REFERENCE)), None, 7.25, 5.14)
    assert "Held-out perplexity 7.250 (above the threshold 5.140)." in bad and "reference" not in bad


def test_render_is_a_small_real_png_even_for_broken_values():
    for loss, ppl in [(REFERENCE, 4.6), ([float("nan")] * len(STEPS), None), ([1e9] * 3, 1e12)]:
        png = render(read_curve(curve(loss)), BAND_OBJ, ppl, 5.14)
        assert png.startswith(PNG_MAGIC) and 5_000 < len(png) < 150_000
    assert render(read_curve(curve(REFERENCE)), BAND_OBJ, 4.6, 5.14) == render(
        read_curve(curve(REFERENCE)), BAND_OBJ, 4.6, 5.14), "the same data must give the same bytes"


def test_no_curve_no_picture(tmp_path):
    assert training_picture(None, tmp_path / "c.json") is None
    assert training_picture({"perplexity": 4.6, "status": "ok"}, tmp_path / "c.json") is None  # today's result


# --- the files beside results.json ------------------------------------------------------------------


@pytest.fixture
def course_with_band(tmp_path: Path, monkeypatch) -> Path:
    """A course whose calibration.json carries the reference band."""
    course = tmp_path / "course"
    (course / "autograder" / "lab_rnn").mkdir(parents=True)
    shutil.copy(REPO / "course_config.py", course / "course_config.py")
    (course / "autograder" / "lab_rnn" / "calibration.json").write_text(json.dumps({"threshold": 5.14, "band": BAND}))
    monkeypatch.setenv("COURSE_CONFIG", str(course / "course_config.py"))
    return course


def graded_state(tmp_path: Path, threshold: dict | None) -> State:
    cfg = load_config()
    ctx = Context(cfg=cfg, lab=SimpleNamespace(checks_dir=tmp_path), corpus=None, options=Options(),
                  isolation_name="bwrap", out_dir=tmp_path / "out")
    checks = [{"name": "Your CharLSTM reaches the threshold", "points": 17.0, "tags": ["threshold"], "visibility": None,
               "passed": False, "message": "Your model reaches a held-out perplexity 6.100."}]
    st = State(sub=Submission("alice", tmp_path / "alice.ipynb", "alice-id"), ctx=ctx, work=tmp_path, checks=checks)
    st.assembly = Assembly(answers={"encode": "def encode(text, char2idx):\n    return 1\n", "decode": ""})
    st.threshold = threshold
    return st


def test_feedback_embeds_the_picture_and_results_link_it(tmp_path, course_with_band):
    st = graded_state(tmp_path, {"status": "ok", "perplexity": 6.1, "steps_taken": 500,
                                 "training_curve": curve([v * 1.3 for v in REFERENCE])})
    write_submission(st)
    folder = tmp_path / "out" / "alice"
    png = (folder / PLOT_NAME).read_bytes()
    assert png.startswith(PNG_MAGIC)
    results = json.loads((folder / "results.json").read_text())
    assert results["extra_data"]["training_plot"] == PLOT_NAME
    assert "more slowly than the reference runs" in results["extra_data"]["training_summary"]
    feedback = (folder / "feedback.md").read_text()
    assert f"]({PLOT_NAME})" in feedback and "## How your model learned" in feedback
    assert results["extra_data"]["training_summary"] in feedback
    assert not list(folder.glob(".*")), "no temporary file left behind"


def test_without_a_curve_nothing_is_said_and_a_stale_picture_goes(tmp_path, course_with_band):
    folder = tmp_path / "out" / "alice"
    folder.mkdir(parents=True)
    (folder / PLOT_NAME).write_bytes(b"old")
    write_submission(graded_state(tmp_path, {"status": "ok", "perplexity": 4.6, "steps_taken": 500}))
    assert not (folder / PLOT_NAME).exists()
    results = json.loads((folder / "results.json").read_text())
    assert "training_plot" not in results["extra_data"] and "training_plot_error" not in results["extra_data"]
    assert "How your model learned" not in (folder / "feedback.md").read_text()


def test_answers_json_keeps_the_graded_cells(tmp_path):
    write_submission(graded_state(tmp_path, None))
    record = json.loads((tmp_path / "out" / "alice" / ANSWERS_NAME).read_text())
    assert record == {"format": 1, "submission_id": "alice", "student_id": "alice-id",
                      "answers": {"encode": "def encode(text, char2idx):\n    return 1\n", "decode": ""}}


def test_a_rejected_file_leaves_no_answers(tmp_path):
    st = graded_state(tmp_path, None)
    st.assembly, st.rejected, st.checks = None, "The file is not UTF-8 text.", []
    folder = tmp_path / "out" / "alice"
    folder.mkdir(parents=True)
    (folder / ANSWERS_NAME).write_text("{}")  # from an earlier grading of another file
    write_submission(st)
    assert not (folder / ANSWERS_NAME).exists()


def test_gradescope_shows_the_picture_inline_with_the_threshold_check(tmp_path, course_with_band):
    write_submission(graded_state(tmp_path, {"status": "ok", "perplexity": 6.1, "steps_taken": 500,
                                             "training_curve": curve(REFERENCE)}))
    folder = tmp_path / "out" / "alice"
    results = embed_training_plot(json.loads((folder / "results.json").read_text()), folder)
    test = next(t for t in results["tests"] if t["tags"][0] == "threshold")
    assert test["output_format"] == "html"
    assert test["output"].startswith("<p>Your model reaches a held-out perplexity 6.100.</p>")
    assert '<img src="data:image/png;base64,' in test["output"]
    # without a picture, results are left as they were
    plain = json.loads((folder / "results.json").read_text())
    (folder / PLOT_NAME).unlink()
    assert embed_training_plot(json.loads(json.dumps(plain)), folder) == plain
