"""Hidden checks: the character vocabulary (build_vocab, encode, decode) and make_batches."""
from __future__ import annotations

import numpy as np
import pytest

from autograder.lab_rnn import reference as ref


def vocab_of(expect, plan, probe, pid):
    """(text, char2idx description, idx2char list) returned by build_vocab."""
    text = plan[pid].params["text"]
    what = f"build_vocab({text[:20]!r}{'...' if len(text) > 20 else ''})"
    result = probe(pid).value.get("result")
    char2idx, idx2char = expect.sequence(result, f"{what} should return (char2idx, idx2char); it", 2)
    if idx2char.get("type") != "builtins.list" or not isinstance(idx2char.get("items"), list):
        expect.fail(f"{what}: idx2char should be a list of characters; got {expect.type_of(idx2char)}.")
    items = map(expect.described, idx2char["items"])
    chars = [i.get("value") if i.get("type") == "builtins.str" else None for i in items]
    if char2idx.get("type") != "builtins.dict" or not isinstance(char2idx.get("pairs"), list):
        expect.fail(f"{what}: char2idx should be a dict; got {expect.type_of(char2idx)}.")
    return text, what, char2idx, chars


@pytest.mark.points(2)
@pytest.mark.tags("build_vocab")
def test_build_vocab_sorted(plan, probe, expect):
    """build_vocab's idx2char is the sorted list of distinct characters"""
    for pid in expect.ids(plan, "build_vocab/"):
        text, what, _, chars = vocab_of(expect, plan, probe, pid)
        expected = sorted(set(text))
        if chars == expected:
            continue
        if sorted(c for c in chars if isinstance(c, str)) == expected and len(chars) == len(expected):
            expect.fail(f"{what}: idx2char holds the right characters but not in sorted order; sort them.")
        if len(set(c for c in chars if isinstance(c, str))) != len(chars):
            expect.fail(f"{what}: idx2char should hold each distinct character once.")
        expect.fail(f"{what}: idx2char should be sorted(set(text)), {len(expected)} characters; "
                    f"got {len(chars)} entries.")


@pytest.mark.points(1)
@pytest.mark.tags("build_vocab")
def test_build_vocab_mapping(plan, probe, expect):
    """build_vocab's char2idx maps each character to its index in idx2char"""
    for pid in expect.ids(plan, "build_vocab/"):
        text, what, char2idx, chars = vocab_of(expect, plan, probe, pid)
        missing = sorted(set(text) - {c for c in chars if isinstance(c, str)})
        if missing:  # an empty or partial vocabulary maps nothing: no point for its consistency
            expect.fail(f"{what}: idx2char lacks {len(missing)} of the text's characters (e.g. {missing[0]!r}), so "
                        "char2idx cannot map every character of the text; build both from the text.")
        pairs = [(expect.described(k), expect.described(v)) for k, v in
                 (p if isinstance(p, list) and len(p) == 2 else (None, None) for p in char2idx["pairs"])]
        mapping = {k.get("value"): v.get("value") for k, v in pairs
                   if k.get("type") == "builtins.str" and v.get("type") == "builtins.int"}
        if len(mapping) != len(pairs) or len(pairs) != char2idx.get("len"):
            expect.fail(f"{what}: char2idx should map str characters to int indices.")
        if mapping != {c: i for i, c in enumerate(chars)}:
            expect.fail(f"{what}: char2idx[c] should be the index of c in idx2char, for every character.")


@pytest.mark.points(1)
@pytest.mark.tags("encode")
def test_encode_dtype(plan, probe, expect):
    """encode returns a 1-D torch.long tensor"""
    for pid in expect.ids(plan, "encode/"):
        text = plan[pid].params["text"]
        expect.tensor(probe(pid), "y", f"encode of a {len(text)}-character text", kind="long", shape=(len(text),))


@pytest.mark.points(1)
@pytest.mark.tags("encode")
def test_encode_values(plan, probe, expect):
    """encode maps each character through char2idx"""
    for pid in expect.ids(plan, "encode/"):
        text, mapping = plan[pid].params["text"], dict(plan[pid].params["char2idx"])
        y = expect.tensor(probe(pid), "y", f"encode of a {len(text)}-character text", kind="long", shape=(len(text),))
        if y.tolist() != [mapping[c] for c in text]:
            expect.fail("encode(text, char2idx)[i] should be char2idx[text[i]] (use the mapping given, "
                        "whatever its order).")


@pytest.mark.points(1)
@pytest.mark.tags("decode")
def test_decode_returns_str(plan, probe, expect):
    """decode returns a str"""
    for pid in expect.ids(plan, "decode/"):
        expect.string(probe(pid).value.get("result"), "decode(indices, idx2char)")


@pytest.mark.points(1)
@pytest.mark.tags("decode")
def test_decode_values(plan, probe, expect):
    """decode(encode(text)) gives the text back"""
    for pid in expect.ids(plan, "decode/"):
        req = plan[pid]
        text = expect.string(probe(pid).value.get("result"), "decode(indices, idx2char)")
        expected = "".join(req.params["idx2char"][i] for i in req.arrays["indices"])
        if text != expected:
            expect.fail(f"decode of {len(expected)} indices should join idx2char[i] for each index, "
                        f"giving {len(expected)} characters; got {len(text)} characters that differ.")


# --- make_batches ----------------------------------------------------------------------------------


def windows(expect, plan, probe, pid):
    """(X, Y [windows, batch, seq_len] as positions in data, reference positions, call description)."""
    req = plan[pid]
    data, b, t = req.arrays["data"], req.params["batch_size"], req.params["seq_len"]
    what = f"make_batches(data of length {len(data)}, batch_size={b}, seq_len={t})"
    resp = probe(pid)
    kind = expect.type_of(resp.value.get("result"))
    if kind not in ("list", "tuple"):
        expect.fail(f"{what} should return a list of (x, y) pairs; got {kind}.")
    pairs = resp.value.get("pairs") or []
    for pair in pairs:
        items = expect.sequence(pair, f"{what}: each window should be a pair (x, y); one", 2,
                                kinds=("builtins.tuple", "builtins.list"))
        for name, info in zip("xy", items):
            if info.get("type") != "torch.Tensor" or info.get("dtype") != "torch.int64" or info.get("shape") != [b, t]:
                expect.fail(f"{what}: each {name} should be a torch.long tensor [batch_size, seq_len] = [{b}, {t}]; "
                            f"got {expect.type_of(info)} {info.get('dtype', '')} "
                            f"{expect.fmt_shape(info.get('shape') or [])}.")
    X_ref, _ = ref.stream_windows(np.arange(len(data)), b, t)
    if "x" not in resp.arrays:
        expect.fail(f"{what} should give {len(X_ref)} windows; got {resp.value.get('count')}.")
    position = {int(v): p for p, v in enumerate(data)}  # data holds distinct values
    X = expect.tensor(resp, "x", f"{what}: x", kind="long")
    Y = expect.tensor(resp, "y", f"{what}: y", kind="long")
    if not all(int(v) in position for v in np.concatenate([X.ravel(), Y.ravel()])):
        expect.fail(f"{what}: x and y should hold values taken from data.")
    to_pos = np.vectorize(lambda v: position[int(v)], otypes=[np.int64])
    return to_pos(X), to_pos(Y), X_ref, what


def count_hint(data_len: int, b: int, t: int) -> str:
    n = (data_len - 1) // b
    return (f"n = (len(data) - 1) // batch_size = {n} characters per stream, cut into {n // t} windows of {t} "
            "from the start, a last partial window dropped")


@pytest.mark.points(3)
@pytest.mark.tags("make_batches")
def test_make_batches_layout(plan, probe, expect):
    """make_batches equals the specified stream layout"""
    for pid in expect.ids(plan, "make_batches/"):
        X, Y, X_ref, what = windows(expect, plan, probe, pid)
        if len(X) != len(X_ref):
            req = plan[pid]
            hint = count_hint(len(req.arrays["data"]), req.params["batch_size"], req.params["seq_len"])
            expect.fail(f"{what} should give {len(X_ref)} windows ({hint}); got {len(X)}.")
        for k in range(len(X_ref)):
            for row in range(X_ref.shape[1]):
                if X[k, row, 0] != X_ref[k, row, 0] or not np.array_equal(X[k, row], X_ref[k, row]):
                    start = X_ref[k, row, 0]
                    expect.fail(f"{what}: x of window {k}, row {row} should be data[{start}:{start + X.shape[2]}] "
                                f"(stream {row} is data[{row} * n : {row + 1} * n]); "
                                f"it starts at data[{X[k, row, 0]}].")
        if not np.array_equal(Y, X_ref + 1):
            expect.fail(f"{what}: each y should be its x shifted by one character in the stream.")


@pytest.mark.points(1)
@pytest.mark.tags("make_batches")
def test_make_batches_shift(plan, probe, expect):
    """make_batches' targets are the inputs shifted by one character"""
    for pid in expect.ids(plan, "make_batches/"):
        X, Y, _, what = windows(expect, plan, probe, pid)
        if not np.array_equal(Y, X + 1):
            expect.fail(f"{what}: y[b, t] should be the character after x[b, t] in data.")


@pytest.mark.points(1)
@pytest.mark.tags("make_batches")
def test_make_batches_continuity(plan, probe, expect):
    """make_batches' row b of window k+1 continues row b of window k"""
    for pid in expect.ids(plan, "make_batches/"):
        X, _, _, what = windows(expect, plan, probe, pid)
        if not np.array_equal(X[1:, :, 0], X[:-1, :, -1] + 1) or not np.all(np.diff(X, axis=2) == 1):
            expect.fail(f"{what}: row b of window k+1 should continue exactly where row b of window k ended, so "
                        "that the carried state matches the text.")


@pytest.mark.points(1)
@pytest.mark.tags("make_batches")
def test_make_batches_no_overlap(plan, probe, expect):
    """make_batches' windows do not overlap"""
    for pid in expect.ids(plan, "make_batches/"):
        X, _, _, what = windows(expect, plan, probe, pid)
        if len(np.unique(X)) != X.size:
            expect.fail(f"{what}: a character appears as input more than once; windows must not overlap.")
