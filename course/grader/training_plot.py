"""The student's grader-run training as a small picture: its loss over the steps next to the reference runs."""
from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

PLOT_NAME = "training.png"  # written beside feedback.md; a stable name, linked from feedback.md and results.json
MAX_POINTS = 20_000  # a longer curve is not drawn (the grader's recipe gives one point per train_epoch call)
MAX_STEP = 10**9
LOSS_RANGE = (0.0, 12.0)  # nats per character drawn; a uniform guess over 100 characters is ln(100) = 4.6
PERPLEXITY_RANGE = (1.0, 1e4)  # perplexities drawn; the value written beside the point is the real one
STALLED = 0.95  # a final loss above this share of the first one barely moved
ROSE = 1.02  # a final loss above this share of the first one went up
COLORS = {"student": "#4c72b0", "band": "#c8d6e5", "threshold": "#c44e52", "bad": "#c44e52"}


@dataclass(frozen=True)
class Curve:
    """A validated training curve.

    Attributes:
        steps: optimizer steps done after each train_epoch call (non-decreasing).
        loss: the mean loss that call returned, clipped into LOSS_RANGE; NaN where it was not finite.
        clipped: how many values were outside LOSS_RANGE.
    """

    steps: tuple[int, ...]
    loss: tuple[float, ...]
    clipped: int = 0

    @property
    def finite(self) -> list[tuple[int, float]]:
        return [(s, v) for s, v in zip(self.steps, self.loss) if not math.isnan(v)]

    @property
    def first_bad_step(self) -> int | None:
        return next((s for s, v in zip(self.steps, self.loss) if math.isnan(v)), None)


@dataclass(frozen=True)
class Band:
    """What the calibration's correct reference runs reached under the grader's recipe.

    Attributes:
        steps, loss_low, loss_high: the band of their training losses (empty when the calibration has none).
        perplexity_low, perplexity_high: the range of their held-out perplexities (None when unknown).
    """

    steps: tuple[int, ...] = ()
    loss_low: tuple[float, ...] = ()
    loss_high: tuple[float, ...] = ()
    perplexity_low: float | None = None
    perplexity_high: float | None = None

    def loss_at(self, step: int) -> tuple[float, float] | None:
        """The band's (low, high) loss at ``step``, linearly interpolated; None outside the band's steps."""
        if not self.steps or step < self.steps[0] or step > self.steps[-1]:
            return None
        for i in range(len(self.steps) - 1):
            s0, s1 = self.steps[i], self.steps[i + 1]
            if s0 <= step <= s1:
                t = 0.0 if s1 == s0 else (step - s0) / (s1 - s0)
                low, high = self.loss_low, self.loss_high
                return low[i] + t * (low[i + 1] - low[i]), high[i] + t * (high[i + 1] - high[i])
        return self.loss_low[-1], self.loss_high[-1]


@dataclass(frozen=True)
class Picture:
    """The PNG to write beside feedback.md and the sentence that goes with it."""

    png: bytes
    summary: str


# --- reading (the curve's values come from student code) -------------------------------------------


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _steps(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, list) or not value or len(value) > MAX_POINTS:
        return None
    if not all(_is_int(s) and 0 <= s <= MAX_STEP for s in value):
        return None
    if any(b < a for a, b in zip(value, value[1:])):
        return None
    return tuple(value)


def read_curve(value: Any) -> Curve | None:
    """The ``training_curve`` of a threshold result, validated, or None when it is absent or unusable.

    Args:
        value: ``{"steps": [int, ...], "loss": [float, ...]}`` as the grader-run training reported it;
            a loss that is NaN, infinite or null (JSON's NaN) counts as not finite.

    Returns:
        A Curve with the finite losses clipped into LOSS_RANGE, or None.
    """
    if not isinstance(value, dict):
        return None
    steps, loss = _steps(value.get("steps")), value.get("loss")
    if steps is None or not isinstance(loss, list) or len(loss) != len(steps):
        return None
    values, clipped = [], 0
    for v in loss:
        if v is None or (_is_number(v) and not math.isfinite(v)):
            values.append(math.nan)
        elif _is_number(v):
            c = min(max(float(v), LOSS_RANGE[0]), LOSS_RANGE[1])
            clipped += c != v
            values.append(c)
        else:
            return None
    return Curve(steps, tuple(values), clipped)


def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    if not isinstance(value, list) or len(value) != n or not all(_is_number(v) and math.isfinite(v) for v in value):
        return None
    return tuple(float(v) for v in value)


def _positive(value: Any) -> float | None:
    return float(value) if _is_number(value) and math.isfinite(value) and value > 0 else None


def read_band(calibration: Any) -> Band | None:
    """The reference band of a calibration.json dict, or None when it has nothing to draw.

    Args:
        calibration: the calibration.json dict. Its ``band`` (``steps``, ``loss_low``, ``loss_high``,
            ``perplexity_low``, ``perplexity_high``) is read; without the band's perplexities, the range
            of the reference ``runs``' perplexities stands in for them.

    Returns:
        The Band (without a loss band when that part is missing or malformed), or None.
    """
    if not isinstance(calibration, dict):
        return None
    raw = calibration.get("band") if isinstance(calibration.get("band"), dict) else {}
    steps = _steps(raw.get("steps"))
    low = _floats(raw.get("loss_low"), len(steps)) if steps else None
    high = _floats(raw.get("loss_high"), len(steps)) if steps else None
    curve_ok = steps is not None and low is not None and high is not None
    if curve_ok:
        low, high = tuple(min(a, b) for a, b in zip(low, high)), tuple(max(a, b) for a, b in zip(low, high))
    p_low, p_high = _positive(raw.get("perplexity_low")), _positive(raw.get("perplexity_high"))
    if p_low is None or p_high is None:
        runs = calibration.get("runs")
        found = [_positive(r.get("perplexity")) for r in runs.values() if isinstance(r, dict)] \
            if isinstance(runs, dict) else []
        found = [p for p in found if p is not None]
        p_low, p_high = (min(found), max(found)) if found else (None, None)
    if not curve_ok and p_low is None:
        return None
    return Band(steps if curve_ok else (), low if curve_ok else (), high if curve_ok else (),
                min(p_low, p_high) if p_low else None, max(p_low, p_high) if p_high else None)


def read_calibration(path: Path) -> tuple[float | None, Band | None]:
    """The threshold and the reference band of a calibration file.

    Args:
        path: calibration.json.

    Returns:
        (threshold, band), each None when missing; (None, None) when the file is missing or unreadable.
    """
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    if not isinstance(record, dict):
        return None, None
    threshold = _positive(record.get("threshold"))
    return threshold, read_band(record)


# --- the sentence --------------------------------------------------------------------------------------


def describe(curve: Curve, band: Band | None, perplexity: float | None, threshold: float | None) -> str:
    """One or two sentences for the student: did the model learn, slowly, stall or diverge?

    Args:
        curve: the validated training curve.
        band: the reference runs (None: the comparison is left out).
        perplexity: the held-out perplexity the grader measured (None when it could not).
        threshold: the calibrated threshold (None when unknown).

    Returns:
        Plain text (numbers formatted here, nothing copied from the submission).
    """
    finite = curve.finite
    parts: list[str] = []
    if curve.first_bad_step is not None:
        parts.append(f"Your training loss became NaN or infinite by step {curve.first_bad_step}: "
                     "the training diverged.")
    elif len(finite) >= 2:
        (_, start), (last_step, end) = finite[0], finite[-1]
        lowest = min(v for _, v in finite)
        ref = band.loss_at(last_step) if band else None
        if end > start * ROSE:
            parts.append(f"Your training loss rose from {start:.2f} to {end:.2f} nats per character: the training "
                         "diverged.")
        elif end > lowest * 1.2 and end - lowest > 0.3:
            parts.append(f"Your training loss fell to {lowest:.2f} and then rose again to {end:.2f} nats per "
                         "character: the training became unstable.")
        elif end >= start * STALLED:
            parts.append(f"Your training loss stayed near where it started ({start:.2f} to {end:.2f} nats per "
                         "character): the training stalled.")
        elif ref and end > ref[1]:
            parts.append(f"Your training loss fell from {start:.2f} to {end:.2f} nats per character, more slowly than "
                         f"the reference runs ({ref[0]:.2f} to {ref[1]:.2f} at step {last_step}).")
        elif ref:
            where = "below" if end < ref[0] else "within"
            parts.append(f"Your training loss fell from {start:.2f} to {end:.2f} nats per character, {where} the band "
                         f"of the reference runs ({ref[0]:.2f} to {ref[1]:.2f} at step {last_step}).")
        else:
            parts.append(f"Your training loss fell from {start:.2f} to {end:.2f} nats per character.")
    elif finite:
        parts.append(f"Your training loss was {finite[0][1]:.2f} nats per character after {finite[0][0]} steps.")
    if perplexity is not None:
        text = f"Held-out perplexity {perplexity:.3f}"
        if threshold is not None:
            text += f" ({'within' if perplexity <= threshold else 'above'} the threshold {threshold:.3f}"
            if band and band.perplexity_low is not None:
                text += f"; the reference runs reached {band.perplexity_low:.3f} to {band.perplexity_high:.3f}"
            text += ")"
        parts.append(text + ".")
    if curve.clipped:
        parts.append(f"{curve.clipped} loss value(s) outside {LOSS_RANGE[0]:g} to {LOSS_RANGE[1]:g} are drawn at the "
                     "edge.")
    return " ".join(parts)


# --- the picture ---------------------------------------------------------------------------------------


def render(curve: Curve, band: Band | None, perplexity: float | None, threshold: float | None) -> bytes:
    """The PNG: training loss over the steps (left) and the held-out perplexity against the threshold (right).

    Uses matplotlib's object API only (no pyplot state): batches grade on threads.

    Args:
        curve: the validated curve.
        band: the reference runs, or None.
        perplexity: the held-out perplexity, or None.
        threshold: the calibrated threshold, or None.

    Returns:
        The PNG's bytes (the same data gives the same bytes).
    """
    fig = Figure(figsize=(7.5, 3.0), layout="constrained")
    ax, bx = fig.subplots(1, 2, width_ratios=[2.7, 1.3])
    if band and band.steps:
        ax.fill_between(band.steps, band.loss_low, band.loss_high, color=COLORS["band"], label="reference runs")
    finite = curve.finite
    if finite:
        ax.plot([s for s, _ in finite], [v for _, v in finite], color=COLORS["student"], label="your model",
                marker="o" if len(finite) <= 40 else None, markersize=3)
    bad = [s for s, v in zip(curve.steps, curve.loss) if math.isnan(v)]
    if bad:
        top = max([v for _, v in finite] + list(band.loss_high if band and band.steps else []) + [1.0])
        ax.scatter(bad, [top] * len(bad), marker="x", color=COLORS["bad"], zorder=3, label="NaN or infinite loss")
    ax.set(xlabel="optimizer steps", ylabel="training loss (nats / character)",
           title="Training loss (what your train_epoch returned)")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _perplexity_panel(bx, band, perplexity, threshold)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    return buf.getvalue()


def _perplexity_panel(bx, band: Band | None, perplexity: float | None, threshold: float | None) -> None:
    """The held-out perplexity as a point on a scale, with the threshold and the reference range labelled."""
    bx.set_xticks([])
    bx.set_title("Held-out perplexity", fontsize=9)
    values = [v for v in (perplexity, threshold, band.perplexity_high if band else None) if v is not None]
    if not values:
        bx.text(0.5, 0.5, "no perplexity", ha="center", va="center", color="gray", transform=bx.transAxes)
        bx.set_yticks([])
        return
    label = {"fontsize": 7, "va": "bottom", "ha": "right"}
    if band and band.perplexity_low is not None:
        bx.axhspan(band.perplexity_low, band.perplexity_high, color=COLORS["band"])
        bx.text(0.95, band.perplexity_low, "reference runs", color="#555", **{**label, "va": "top"})
    if threshold is not None:
        bx.axhline(threshold, color=COLORS["threshold"], linestyle="--")
        bx.text(0.95, threshold, f"threshold {threshold:.2f}", color=COLORS["threshold"], **label)
    if perplexity is not None:
        shown = min(max(perplexity, PERPLEXITY_RANGE[0]), PERPLEXITY_RANGE[1])
        bx.scatter([-0.4], [shown], color=COLORS["student"], zorder=3, s=30)
        bx.annotate(f"yours {perplexity:.2f}", (-0.4, shown), xytext=(0, 5), textcoords="offset points",
                    color=COLORS["student"], fontsize=7, ha="center", va="bottom")
    low = min(values + ([band.perplexity_low] if band and band.perplexity_low else []))
    high = max(min(v, PERPLEXITY_RANGE[1]) for v in values)
    if high / max(low, 1e-9) > 5:
        bx.set_yscale("log")
    bx.set_xlim(-1, 1)
    bx.set_ylim(max(PERPLEXITY_RANGE[0], low * 0.92), high * (1.6 if high / max(low, 1e-9) > 5 else 1.12))


def training_picture(threshold_result: Any, calibration_path: Path) -> Picture | None:
    """The picture of one submission's grader-run training, or None when there is no curve to draw.

    Args:
        threshold_result: the grader-run training result (its ``training_curve``, ``perplexity``).
        calibration_path: calibration.json (threshold and reference band; both optional).

    Returns:
        The PNG and its sentence, or None when the result carries no usable ``training_curve``.
    """
    if not isinstance(threshold_result, dict):
        return None
    curve = read_curve(threshold_result.get("training_curve"))
    if curve is None:
        return None
    perplexity = _positive(threshold_result.get("perplexity"))
    threshold, band = read_calibration(calibration_path)
    return Picture(render(curve, band, perplexity, threshold), describe(curve, band, perplexity, threshold))
