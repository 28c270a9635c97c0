"""Lab-independent helpers for worker ops: describe what student code returned, send tensors back.

Runs inside the sandboxed worker (it is staged with the rest of ``course/worker/``) and is
imported by a lab's op modules before any student code runs. It may import only the standard
library, numpy and torch. Nothing here decides a grade: the descriptions are plain data that
the trusted checks read.
"""
from __future__ import annotations

import math
import random

import numpy as np
import torch

MAX_ITEMS = 1024  # longest list, dict or string described back


# --- describing what the student returned ---------------------------------------------------------


def type_name(x) -> str:
    """``module.QualName`` of x's type, e.g. ``torch.Tensor`` or ``builtins.tuple``."""
    kind = type(x)
    return f"{kind.__module__}.{kind.__qualname__}"


def describe(x, depth: int = 0) -> dict:
    """A JSON description of x: its type, and its value when it is a plain Python value.

    Tensors get dtype and shape (their values travel as arrays); tuples, lists and
    torch.Size get their items; dicts their (key, value) pairs; numpy float scalars a value.
    """
    kind = type(x)
    out: dict = {"type": type_name(x)}
    if x is None or kind is bool or kind is str:
        out["value"] = x if kind is not str else x[: MAX_ITEMS * 64]
    elif kind is int:
        out["value"] = x if abs(x) < 2**62 else str(x)
    elif kind is float or kind is np.float64 or kind is np.float32:
        value = float(x)
        out["value"] = value if math.isfinite(value) else repr(value)
    elif kind is torch.Tensor:
        out.update(dtype=str(x.dtype), shape=[int(s) for s in x.shape], requires_grad=bool(x.requires_grad))
    elif (kind is tuple or kind is list or kind is torch.Size) and depth < 4:
        out["len"] = len(x)
        out["items"] = [describe(item, depth + 1) for item in list(x)[:MAX_ITEMS]]
    elif kind is dict and depth < 4:
        out["len"] = len(x)
        out["pairs"] = [[describe(k, depth + 1), describe(v, depth + 1)] for k, v in list(x.items())[:MAX_ITEMS]]
    return out


def to_numpy(t: torch.Tensor) -> np.ndarray | None:
    """An exact torch.Tensor's values as a wire-safe array (float32/float64, int64 or bool)."""
    try:
        t = t.detach().to("cpu").resolve_conj().resolve_neg()
        if t.is_complex() or t.is_sparse or t.is_quantized:
            return None
        if t.is_floating_point():
            t = t if t.dtype == torch.float32 else t.to(torch.float64)
        elif t.dtype != torch.bool:
            t = t.to(torch.int64)
        return np.ascontiguousarray(t.contiguous().numpy())
    except Exception:
        return None


class Reply:
    """What an op sends back: JSON values and numpy arrays."""

    def __init__(self):
        self.values: dict = {}
        self.arrays: dict[str, np.ndarray] = {}

    def tensor(self, name: str, x) -> None:
        """Describe x under ``name``; when it is exactly a torch.Tensor, send its values too."""
        self.values[name] = describe(x)
        if type(x) is torch.Tensor:
            arr = to_numpy(x)
            if arr is None:
                self.values[name]["unreadable"] = True
            else:
                self.arrays[name] = arr

    def structure(self, name: str, result, names) -> None:
        """Describe a returned tuple under ``name`` and send its tensors under ``names``.

        An entry of ``names`` is a string (a tensor) or ``(pair_name, names)`` (a nested tuple).
        """
        self.values[name] = describe(result)
        if (type(result) is tuple or type(result) is list) and len(result) == len(names):
            for part, sub in zip(result, names):
                if isinstance(sub, tuple):
                    self.structure(sub[0], part, sub[1])
                else:
                    self.tensor(sub, part)

    def done(self) -> tuple[dict, dict[str, np.ndarray]]:
        return self.values, self.arrays


# --- inputs ----------------------------------------------------------------------------------------


def tensor_in(arrays: dict[str, np.ndarray], name: str) -> torch.Tensor:
    """A fresh, writable tensor holding a grader array (same dtype)."""
    return torch.from_numpy(np.array(arrays[name]))


def item(result, index: int, what: str):
    """result[index] of a returned tuple, or a clear TypeError."""
    if not (type(result) is tuple or type(result) is list) or len(result) <= index:
        raise TypeError(f"{what} should return a tuple, got {type_name(result)}.")
    return result[index]


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
