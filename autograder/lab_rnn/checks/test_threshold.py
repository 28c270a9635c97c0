"""Hidden check: the held-out perplexity of the student's CharLSTM after grader-run training."""
from __future__ import annotations

import pytest


@pytest.mark.points(17)
@pytest.mark.tags("threshold", "CharLSTM", "train_epoch")
def test_perplexity_threshold(threshold_result, calibration, course_cfg, expect, record_property):
    """Your CharLSTM, trained by your train_epoch, reaches the held-out perplexity threshold"""
    if threshold_result is None:
        expect.fail("The grader-run training was not run for this submission, so this check could not pass.")
    if not isinstance(threshold_result, dict) or not isinstance(calibration, dict):
        expect.fail("The grader-run training left no usable result.")
    threshold = calibration.get("threshold")
    if not isinstance(threshold, (int, float)):
        raise RuntimeError("calibration.json has no threshold: run `course calibrate`")
    ppl = threshold_result.get("perplexity")
    measured = f"held-out perplexity {ppl:.3f}" if isinstance(ppl, (int, float)) else "no held-out perplexity"
    rule = f"the threshold is {threshold:.3f} ({calibration.get('rule', 'from the reference solution')})"
    if threshold_result.get("status") != "ok":
        message = threshold_result.get("message") or f"the training stopped ({threshold_result.get('status')})"
        expect.fail(f"{message} ({measured}; {rule}).")
    if not isinstance(ppl, (int, float)):
        expect.fail("The grader-run training gave no perplexity.")
    if threshold_result.get("suspicious"):
        record_property("flag", f"suspicious: {measured} is better than compressing the text; flagged for review")
    if ppl > threshold:
        recipe = calibration.get("recipe") if isinstance(calibration.get("recipe"), dict) else {}
        t = course_cfg.threshold
        expect.fail(f"After {recipe.get('steps')} training steps (Adam lr {recipe.get('lr')}, batch "
                    f"{recipe.get('batch')}, seq_len {t.seq_len}, embed {t.embed}, hidden {t.hidden}), your model "
                    f"reaches a {measured}; {rule}. Check that train_epoch carries and detaches the state, zeroes "
                    "the gradients, clips and steps once per window, and that CharLSTM feeds its input and the "
                    "state through the LSTM. The optional estimate cell at the end of the notebook runs this "
                    "same training on your machine.")
