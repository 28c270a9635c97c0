"""Hidden checks: to_batch_first and batch_sequences move values, not only shapes."""
from __future__ import annotations

import numpy as np
import pytest


def moved(expect, plan, probe, pid):
    """(x [seq, batch, feat], returned y) of one to_batch_first probe."""
    x = plan[pid].arrays["x"]
    return x, expect.tensor(probe(pid), "y", f"to_batch_first(x) for x of shape {expect.fmt_shape(x.shape)}")


@pytest.mark.points(1)
@pytest.mark.tags("to_batch_first")
def test_to_batch_first_shape(plan, probe, expect):
    """to_batch_first turns [seq_len, batch, features] into [batch, seq_len, features]"""
    for pid in expect.ids(plan, "to_batch_first/"):
        x, y = moved(expect, plan, probe, pid)
        t, b, f = x.shape
        if y.shape != (b, t, f):
            expect.fail(f"to_batch_first(x) for x of shape {expect.fmt_shape(x.shape)} should have shape "
                        f"{expect.fmt_shape((b, t, f))}; got {expect.fmt_shape(y.shape)}.")


@pytest.mark.points(2)
@pytest.mark.tags("to_batch_first")
def test_to_batch_first_values(plan, probe, expect):
    """to_batch_first moves the values: y[b, t] == x[t, b]"""
    for pid in expect.ids(plan, "to_batch_first/"):
        x, y = moved(expect, plan, probe, pid)
        t, b, f = x.shape
        relabelled = x.reshape(b, t, f)
        if expect.close(y, relabelled, atol=0, rtol=0) and not np.array_equal(relabelled, x.transpose(1, 0, 2)):
            expect.fail("to_batch_first only relabels the dimensions (a reshape or view): the values must move, "
                        "so that y[b, t] == x[t, b]; swap the first two dimensions instead.")
        if not expect.close(y, x.transpose(1, 0, 2), atol=0, rtol=0):
            expect.fail(f"to_batch_first(x)[b, t] should equal x[t, b] (x of shape {expect.fmt_shape(x.shape)}).")


def stacked(expect, plan, probe, pid):
    """(expected [batch, seq, feat], returned y) of one batch_sequences probe."""
    req = plan[pid]
    seqs = [req.arrays[f"s{k}"] for k in range(req.params["count"])]
    what = f"batch_sequences of {len(seqs)} sequences of shape {expect.fmt_shape(seqs[0].shape)}"
    return np.stack(seqs), expect.tensor(probe(pid), "y", what), what


@pytest.mark.points(1)
@pytest.mark.tags("batch_sequences")
def test_batch_sequences_shape(plan, probe, expect):
    """batch_sequences returns [batch, seq_len, features]"""
    for pid in expect.ids(plan, "batch_sequences/"):
        ref, y, what = stacked(expect, plan, probe, pid)
        b, t, f = ref.shape
        if y.shape == (t, b, f) and b != t:
            expect.fail(f"{what} has shape {expect.fmt_shape(y.shape)}: the sequences are stacked along dimension 1; "
                        "the batch is a new first dimension (dim=0).")
        if y.shape == (b * t, f) and b > 1:
            expect.fail(f"{what} has shape {expect.fmt_shape(y.shape)}: joining along an existing dimension loses "
                        "the batch; stack them along a new first dimension.")
        if y.shape != ref.shape:
            expect.fail(f"{what} should have shape {expect.fmt_shape(ref.shape)}; got {expect.fmt_shape(y.shape)}.")


@pytest.mark.points(2)
@pytest.mark.tags("batch_sequences")
def test_batch_sequences_values(plan, probe, expect):
    """batch_sequences keeps each sequence as one row: y[b] == sequences[b]"""
    for pid in expect.ids(plan, "batch_sequences/"):
        ref, y, what = stacked(expect, plan, probe, pid)
        if not expect.close(y, ref, atol=0, rtol=0):
            expect.fail(f"{what}: row b should be sequences[b], unchanged and in order.")
