"""The wire codec: exact round trips, and a clear WireError for every malformed frame."""
from __future__ import annotations

import json
import pickle
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course.worker.wire import DTYPES, WireError, WireLimits, decode, encode, encode_bytes, read_message


def frame(header: dict | bytes, payload: bytes = b"") -> bytes:
    """A raw frame built by hand (bypassing the encoder's checks)."""
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack(">I", len(head)) + head + payload


def meta(name="x", dtype="float32", shape=(2,), nbytes=8) -> dict:
    return {"name": name, "dtype": dtype, "shape": list(shape), "nbytes": nbytes}


# --- round trips ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_round_trip_every_dtype_keeps_values_dtype_and_shape(dtype):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal((3, 4, 5)) * 10).astype(dtype)
    header, arrays = decode(encode_bytes({"k": 1}, {"a": arr}))
    assert header == {"k": 1}
    assert arrays["a"].dtype == np.dtype(dtype) and arrays["a"].shape == (3, 4, 5)
    np.testing.assert_array_equal(arrays["a"], arr)


def test_round_trip_scalars_empty_views_and_big_endian():
    arrays = {
        "scalar": np.array(3.5),
        "empty": np.zeros((0, 7), np.int64),
        "view": np.arange(20, dtype=np.float64).reshape(4, 5)[:, ::2],  # not contiguous
        "be": np.arange(4, dtype=">i4"),  # big-endian input is sent little-endian
    }
    _, out = decode(encode_bytes({}, arrays))
    for name, arr in arrays.items():
        assert out[name].shape == arr.shape
        np.testing.assert_array_equal(out[name], arr)
    assert out["be"].dtype == np.dtype("int32")
    out["view"][0, 0] = 99.0  # decoded arrays are writable


def test_plain_header_values_survive_including_nan_and_nesting():
    header = {"s": "ünïcode", "i": -(2**62), "f": 1.5, "b": True, "n": None, "nan": float("nan"),
              "list": [1, [2, {"deep": "x"}]]}
    out, arrays = decode(encode_bytes(header))
    assert arrays == {}
    assert np.isnan(out.pop("nan")) and np.isnan(header.pop("nan"))
    assert out == header


@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from(sorted(DTYPES)),
    shape=st.lists(st.integers(0, 5), max_size=4),
    seed=st.integers(0, 2**32 - 1),
)
def test_round_trip_property(dtype, shape, seed):
    arr = np.random.default_rng(seed).integers(0, 2, size=shape).astype(dtype)
    part = arr.T[::2] if arr.ndim else arr  # a strided view
    header, out = decode(encode_bytes({"seed": seed}, {"a": arr, "b": part}))
    assert header == {"seed": seed}
    assert out["a"].shape == arr.shape and out["b"].shape == part.shape
    np.testing.assert_array_equal(out["a"], arr)
    np.testing.assert_array_equal(out["b"], part)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_ever_raise_wire_error(data):
    try:
        decode(data)
    except WireError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_any_truncation_of_a_valid_frame_is_a_wire_error(data):
    whole = encode_bytes({"v": [1, 2]}, {"a": np.arange(6, dtype=np.int32).reshape(2, 3)})
    cut = data.draw(st.integers(0, len(whole) - 1))
    with pytest.raises(WireError):
        decode(whole[:cut])


def test_encode_gives_buffers_for_writev_and_read_message_reads_from_a_stream():
    parts = encode({"a": 1}, {"x": np.ones(3, np.float32)})
    assert len(parts) == 3 and struct.unpack(">I", parts[0])[0] == len(parts[1])
    data = b"".join(bytes(p) for p in parts) * 2  # two messages back to back
    pos = 0

    def read_exact(n):
        nonlocal pos
        pos += n
        return data[pos - n:pos]

    for _ in range(2):
        header, arrays = read_message(read_exact)
        assert header == {"a": 1} and arrays["x"].tolist() == [1.0, 1.0, 1.0]
    assert pos == len(data)


# --- encoder refusals -------------------------------------------------------------------


@pytest.mark.parametrize("arrays, words", [
    ({"x": np.zeros(2, np.float16)}, "dtype float16"),
    ({"x": np.array(["a"])}, "dtype"),
    ({"x": np.array([object()])}, "dtype object"),
    ({"x": np.zeros(2, np.complex64)}, "dtype complex64"),
    ({"x": [1.0, 2.0]}, "not a numpy array"),
    ({"bad name!": np.zeros(1)}, "simple name"),
    ({"": np.zeros(1)}, "simple name"),
    ({"x": np.zeros((1,) * 9)}, "dimensions"),
])
def test_encoder_refuses_what_the_reader_would_refuse(arrays, words):
    with pytest.raises(WireError, match=words):
        encode({}, arrays)


@pytest.mark.parametrize("header, words", [
    ({"x": object()}, "plain JSON"),
    ({"x": np.float32(1)}, "plain JSON"),
    ({1: "x"}, "keys must be strings"),
    ({"arrays": []}, "reserved"),
    ({"x": b"bytes"}, "plain JSON"),
])
def test_encoder_refuses_non_plain_headers(header, words):
    with pytest.raises(WireError, match=words):
        encode(header)


# --- malformed frames -------------------------------------------------------------------


def test_truncated_frames():
    whole = encode_bytes({"a": 1}, {"x": np.ones(4, np.float64)})
    for cut, words in [(2, "truncated"), (10, "truncated"), (len(whole) - 1, "truncated")]:
        with pytest.raises(WireError, match=words):
            decode(whole[:cut])
    with pytest.raises(WireError, match="after the end"):
        decode(whole + b"\0")


def test_oversize_header_is_refused_before_reading_it():
    asked = []

    def read_exact(n):
        asked.append(n)
        return struct.pack(">I", 2**31) if len(asked) == 1 else b""

    with pytest.raises(WireError, match="header of 2147483648 bytes"):
        read_message(read_exact)
    assert asked == [4]  # the huge header was never requested


def test_oversize_arrays_are_refused_before_reading_the_payload():
    limits = WireLimits(max_total_bytes=100, max_array_elements=1000)
    too_many = frame({"arrays": [meta(dtype="uint8", shape=(1001,), nbytes=1001)]})
    with pytest.raises(WireError, match="1001 elements"):
        read_message(iter_reader(too_many), limits)
    too_big = frame({"arrays": [meta(dtype="float64", shape=(20,), nbytes=160)]})
    with pytest.raises(WireError, match="more than 100 bytes"):
        read_message(iter_reader(too_big), limits)
    huge = frame({"arrays": [meta(dtype="uint8", shape=(2**40, 2**40), nbytes=2**80)]})
    with pytest.raises(WireError, match="elements"):
        decode(huge)
    many = frame({"arrays": [meta(name=f"a{i}", dtype="uint8", shape=(0,), nbytes=0) for i in range(65)]})
    with pytest.raises(WireError, match="65 arrays"):
        decode(many)


def iter_reader(data: bytes):
    pos = 0

    def read_exact(n):
        nonlocal pos
        chunk = data[pos:pos + n]
        pos += n
        if len(chunk) != n:
            raise EOFError
        return chunk

    return read_exact


@pytest.mark.parametrize("dtype", ["object", "O", "float16", "<f8", "complex128", "V8", "S4", "U1", 7, None])
def test_dtypes_outside_the_whitelist(dtype):
    with pytest.raises(WireError, match="dtype"):
        decode(frame({"arrays": [meta(dtype=dtype, shape=(1,), nbytes=8)]}, b"\0" * 8))


@pytest.mark.parametrize("shape, nbytes, words", [
    ((3,), 8, "needs 12 bytes"),
    ((2,), 12, "needs 8 bytes"),
    ((-2,), -8, "non-negative"),
    ((True, 2), 8, "non-negative integers"),
    ((2.0,), 8, "non-negative integers"),
    ("2", 8, "shape must be a list"),
    ((1,) * 9, 4, "at most 8"),
    ((2,), "8", "nbytes"),
])
def test_shape_and_nbytes_must_agree(shape, nbytes, words):
    entry = {"name": "x", "dtype": "float32", "shape": shape if isinstance(shape, str) else list(shape),
             "nbytes": nbytes}
    with pytest.raises(WireError, match=words):
        decode(frame({"arrays": [entry]}, b"\0" * 16))


@pytest.mark.parametrize("entries, words", [
    ([meta(name="../etc"), meta()], "simple name"),
    ([meta(name=1)], "simple name"),
    ([meta(), meta()], "twice"),
    (["x"], "exactly name"),
    ([{**meta(), "extra": 1}], "exactly name"),
    ({"x": 1}, "must be a list"),
])
def test_array_entries_must_be_well_formed(entries, words):
    with pytest.raises(WireError, match=words):
        decode(frame({"arrays": entries}, b"\0" * 16))


@pytest.mark.parametrize("head, words", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[1, 2]", "JSON object"),
    (b'"text"', "JSON object"),
    (b"[" * 100_000 + b"]" * 100_000, "not valid JSON|JSON object|deeper"),
    (b'{"a": ' + b'{"b": ' * 40 + b"1" + b"}" * 41, "deeper"),
    (b'{"n": ' + b"9" * 5000 + b"}", "not valid JSON"),
])
def test_headers_that_are_not_plain_json(head, words):
    with pytest.raises(WireError, match=words):
        decode(frame(head))


def test_pickle_payloads_are_never_unpickled():
    class Boom:
        def __reduce__(self):
            return (print, ("unpickled!",))

    payload = pickle.dumps(Boom())
    with pytest.raises(WireError, match="not valid JSON|not UTF-8"):
        decode(struct.pack(">I", len(payload)) + payload)  # a pickle where the header belongs
    with pytest.raises(WireError, match="dtype"):  # a pickled object array
        decode(frame({"arrays": [meta(dtype="object", shape=(1,), nbytes=len(payload))]}, payload))
    # raw pickle bytes declared as uint8 stay inert bytes
    _, arrays = decode(frame({"arrays": [meta(dtype="uint8", shape=(len(payload),), nbytes=len(payload))]}, payload))
    assert arrays["x"].tobytes() == payload


def test_bool_arrays_hold_only_zero_or_one():
    with pytest.raises(WireError, match="bool bytes"):
        decode(frame({"arrays": [meta(dtype="bool", shape=(2,), nbytes=2)]}, b"\x00\x07"))
    _, arrays = decode(frame({"arrays": [meta(dtype="bool", shape=(2,), nbytes=2)]}, b"\x00\x01"))
    assert arrays["x"].tolist() == [False, True]
