"""Shared helpers of the RNN lab's hidden checks: read probe replies defensively, fail with a message.

Replies come from untrusted code: every value is checked for type before use, and only
numpy arrays received over the wire are compared, with numpy.
"""
from __future__ import annotations

import numpy as np
import pytest

FLOAT_DTYPES = ("torch.float32", "torch.float64", "torch.float16", "torch.bfloat16")
FLOAT_TYPES = ("builtins.float", "numpy.float64", "numpy.float32")  # what "a float" may be
ATOL, RTOL = 1e-4, 1e-4


def fail(message: str) -> None:
    """Fail the check with a message the student reads (no traceback, no check source)."""
    pytest.fail(message, pytrace=False)


def fmt_shape(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def short_type(name) -> str:
    """'builtins.tuple' -> 'tuple'; None -> 'nothing'."""
    if not isinstance(name, str):
        return "nothing"
    return name.removeprefix("builtins.")


def close(a: np.ndarray, b: np.ndarray, atol: float = ATOL, rtol: float = RTOL) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol, rtol=rtol))


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b))) if a.size and a.shape == b.shape else float("inf")


class Expect:
    """Readers of probe replies; each fails the check with an actionable message on a mismatch."""

    fail = staticmethod(fail)
    close = staticmethod(close)
    max_diff = staticmethod(max_diff)
    fmt_shape = staticmethod(fmt_shape)

    @staticmethod
    def ids(plan: dict, *prefixes: str) -> list[str]:
        """Probe ids starting with any prefix, in plan order (a missing group is a grader bug)."""
        found = [pid for pid in plan if pid.startswith(prefixes)]
        if not found:
            raise RuntimeError(f"the plan has no probes {prefixes}")
        return found

    @staticmethod
    def described(value) -> dict:
        """A worker description ({type, value, items, ...}) or {} when the reply is malformed."""
        return value if isinstance(value, dict) else {}

    def type_of(self, value) -> str:
        return short_type(self.described(value).get("type"))

    def sequence(self, value, what: str, length: int | None = None, kinds=("builtins.tuple",)) -> list[dict]:
        """The item descriptions of a returned tuple (or another allowed sequence type)."""
        d = self.described(value)
        if d.get("type") not in kinds:
            fail(f"{what} should be a {' or '.join(short_type(k) for k in kinds)}; got {short_type(d.get('type'))}.")
        items = d.get("items")
        if not isinstance(items, list) or (length is not None and (d.get("len") != length or len(items) != length)):
            fail(f"{what} should have {length} items; got {d.get('len')}.")
        return [self.described(i) for i in items]

    def tensor(self, resp, name: str, what: str, kind: str = "float", shape=None) -> np.ndarray:
        """An exact torch.Tensor the op sent back under ``name``: float64 (kind float) or int64 (kind long)."""
        info = self.described(resp.value.get(name))
        if info.get("type") != "torch.Tensor":
            fail(f"{what} should be a torch.Tensor; got {short_type(info.get('type'))}.")
        arr = resp.arrays.get(name)
        dtype = info.get("dtype")
        if not isinstance(arr, np.ndarray):
            fail(f"{what} could not be read back (dtype {dtype}); return a plain real-valued tensor.")
        if kind == "float" and (dtype not in FLOAT_DTYPES or arr.dtype.kind != "f"):
            fail(f"{what} should hold floating-point values; got dtype {dtype}.")
        if kind == "long" and (dtype != "torch.int64" or arr.dtype != np.int64):
            fail(f"{what} should have dtype torch.long (int64); got {dtype}.")
        if shape is not None and tuple(arr.shape) != tuple(shape):
            fail(f"{what} should have shape {fmt_shape(shape)}; got {fmt_shape(arr.shape)}.")
        if kind == "float" and not np.isfinite(arr).all():
            fail(f"{what} contains NaN or infinity.")
        return arr.astype(np.float64) if kind == "float" else arr

    def number(self, value, what: str) -> float:
        """A returned Python float (numpy float scalars accepted), finite."""
        d = self.described(value)
        if d.get("type") not in FLOAT_TYPES:
            hint = " (use .item() to turn a one-element tensor into a float)" if d.get("type") == "torch.Tensor" else ""
            fail(f"{what} should be a Python float; got {short_type(d.get('type'))}{hint}.")
        v = d.get("value")
        if not isinstance(v, float) or not np.isfinite(v):
            fail(f"{what} should be a finite float; got {v}.")
        return float(v)

    def string(self, value, what: str) -> str:
        d = self.described(value)
        if d.get("type") != "builtins.str" or not isinstance(d.get("value"), str):
            fail(f"{what} should be a str; got {short_type(d.get('type'))}.")
        return d["value"]

    def ints(self, value, what: str) -> tuple[int, ...]:
        """A tuple (or torch.Size) of Python ints."""
        items = self.sequence(value, what, kinds=("builtins.tuple", "torch.Size"))
        if not all(i.get("type") == "builtins.int" and isinstance(i.get("value"), int) for i in items):
            got = ", ".join(short_type(i.get("type")) for i in items)
            fail(f"{what} should hold Python ints; got ({got}).")
        return tuple(i["value"] for i in items)


@pytest.fixture(scope="session")
def expect() -> Expect:
    """Readers of probe replies that fail the check with a student-readable message."""
    return Expect()
