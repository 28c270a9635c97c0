"""Wire format between grader and worker: a JSON header plus raw numpy arrays, never pickle.

A message is::

    4-byte big-endian length N | N bytes of UTF-8 JSON header | raw array bytes

The header is a JSON object of plain values; its ``arrays`` key lists
``{"name", "dtype", "shape", "nbytes"}`` for the arrays that follow, in order,
as C-contiguous little-endian bytes. The reader trusts nothing: it checks sizes
before it allocates, and every name, dtype and shape before it builds an array.

This module depends only on the standard library and numpy: it is copied into
the worker's sandbox as well.
"""
from __future__ import annotations

import io
import json
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# dtype name -> little-endian numpy dtype; nothing else crosses the boundary.
DTYPES = {name: np.dtype(name).newbyteorder("<") for name in ("float32", "float64", "int64", "int32", "bool", "uint8")}
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")
MAX_NDIM = 8
MAX_DEPTH = 32  # nesting of lists / dicts in the header
_LEN = struct.Struct(">I")


class WireError(ValueError):
    """A message that breaks the wire format or its limits (the sender is at fault)."""


@dataclass(frozen=True)
class WireLimits:
    """Caps the reader enforces before it allocates anything.

    Attributes:
        max_header_bytes: largest JSON header.
        max_total_bytes: largest sum of array bytes in one message.
        max_array_elements: most elements in one array.
        max_arrays: most arrays in one message.
    """

    max_header_bytes: int = 4 << 20
    max_total_bytes: int = 256 << 20
    max_array_elements: int = 32 << 20
    max_arrays: int = 64


DEFAULT_LIMITS = WireLimits()


def _plain(value: Any, depth: int = 0) -> None:
    """Raise WireError unless value is JSON-plain: dict[str, ...], list, str, int, float, bool, None."""
    if depth > MAX_DEPTH:
        raise WireError(f"header nests deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, list):
        for item in value:
            _plain(item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise WireError(f"header keys must be strings, got {type(key).__name__}")
            _plain(item, depth + 1)
    else:
        raise WireError(f"header values must be plain JSON, got {type(value).__name__}")


def _array_meta(name: Any, arr: Any) -> tuple[dict[str, Any], np.ndarray]:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise WireError(f"array name {name!r} is not a simple name (letters, digits, _ . -; at most 64)")
    if not isinstance(arr, np.ndarray):
        raise WireError(f"array {name!r} is a {type(arr).__name__}, not a numpy array")
    dtype_name = arr.dtype.name
    if dtype_name not in DTYPES or arr.dtype.kind not in "fiub":
        raise WireError(f"array {name!r} has dtype {arr.dtype}; allowed: {', '.join(DTYPES)}")
    if arr.ndim > MAX_NDIM:
        raise WireError(f"array {name!r} has {arr.ndim} dimensions (at most {MAX_NDIM})")
    data = np.asarray(arr, dtype=DTYPES[dtype_name], order="C")  # keeps 0-d arrays 0-d
    return {"name": name, "dtype": dtype_name, "shape": list(data.shape), "nbytes": data.nbytes}, data


def encode(header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> list[bytes | memoryview]:
    """Encode one message as a list of buffers (for ``os.writev`` or ``b"".join``).

    Args:
        header: plain JSON values; must not contain the key ``arrays``.
        arrays: name -> numpy array of a whitelisted dtype, any shape.

    Returns:
        [length prefix, header bytes, array bytes...].
    """
    if not isinstance(header, dict):
        raise WireError("the header must be a dict")
    if "arrays" in header:
        raise WireError("'arrays' is reserved in the header; pass arrays separately")
    _plain(header)
    metas, buffers = [], []
    for name, arr in (arrays or {}).items():
        meta, data = _array_meta(name, arr)
        metas.append(meta)
        buffers.append(memoryview(data).cast("B") if data.nbytes else b"")
    try:
        head = json.dumps({**header, "arrays": metas}, separators=(",", ":")).encode()
    except (ValueError, RecursionError) as exc:
        raise WireError(f"header is not JSON-serialisable: {exc}") from None
    return [_LEN.pack(len(head)), head, *buffers]


def encode_bytes(header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> bytes:
    """The whole message as one bytes object (tests and small messages)."""
    return b"".join(bytes(b) for b in encode(header, arrays))


ArraySpec = tuple[str, np.dtype, tuple[int, ...], int]  # name, dtype, shape, nbytes


def _parse_header(raw: bytes, limits: WireLimits) -> tuple[dict[str, Any], list[ArraySpec]]:
    try:
        header = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise WireError("header is not UTF-8") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, int too long, too deep
        raise WireError(f"header is not valid JSON ({str(exc)[:120]})") from None
    if not isinstance(header, dict):
        raise WireError(f"header must be a JSON object, got {type(header).__name__}")
    _plain(header)
    metas = header.pop("arrays", [])
    if not isinstance(metas, list):
        raise WireError("header 'arrays' must be a list")
    if len(metas) > limits.max_arrays:
        raise WireError(f"{len(metas)} arrays in one message (at most {limits.max_arrays})")
    specs, names, total = [], set(), 0
    for meta in metas:
        if not isinstance(meta, dict) or set(meta) != {"name", "dtype", "shape", "nbytes"}:
            raise WireError("each array entry needs exactly name, dtype, shape and nbytes")
        name, dtype_name, shape, nbytes = meta["name"], meta["dtype"], meta["shape"], meta["nbytes"]
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise WireError(f"array name {str(name)[:80]!r} is not a simple name")
        if name in names:
            raise WireError(f"array name {name!r} appears twice")
        names.add(name)
        if not isinstance(dtype_name, str) or dtype_name not in DTYPES:
            raise WireError(f"array {name!r}: dtype {str(dtype_name)[:40]!r} is not allowed ({', '.join(DTYPES)})")
        if not isinstance(shape, list) or len(shape) > MAX_NDIM:
            raise WireError(f"array {name!r}: shape must be a list of at most {MAX_NDIM} sizes")
        if not all(type(s) is int and s >= 0 for s in shape):
            raise WireError(f"array {name!r}: shape sizes must be non-negative integers")
        if type(nbytes) is not int or nbytes < 0:
            raise WireError(f"array {name!r}: nbytes must be a non-negative integer")
        count = math.prod(shape)
        if count > limits.max_array_elements:
            raise WireError(f"array {name!r}: {count} elements (at most {limits.max_array_elements})")
        dtype = DTYPES[dtype_name]
        if count * dtype.itemsize != nbytes:
            need = count * dtype.itemsize
            raise WireError(f"array {name!r}: shape {shape} of {dtype_name} needs {need} bytes, header says {nbytes}")
        total += nbytes
        if total > limits.max_total_bytes:
            raise WireError(f"arrays total more than {limits.max_total_bytes} bytes")
        specs.append((name, dtype, tuple(shape), nbytes))
    return header, specs


def read_message(
    read_exact: Callable[[int], bytes | bytearray], limits: WireLimits = DEFAULT_LIMITS
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and validate one message.

    Args:
        read_exact: ``read_exact(n)`` returns exactly n bytes, or raises (EOFError, a timeout...).
        limits: caps checked before anything large is allocated.

    Returns:
        (header without ``arrays``, name -> array); arrays are writable, aligned, native byte order.

    Raises:
        WireError: the message breaks the format or a limit.
    """
    (size,) = _LEN.unpack(bytes(read_exact(_LEN.size)))
    if size > limits.max_header_bytes:
        raise WireError(f"header of {size} bytes (at most {limits.max_header_bytes})")
    header, specs = _parse_header(bytes(read_exact(size)), limits)
    payload = read_exact(sum(s[3] for s in specs)) if specs else b""
    payload = payload if isinstance(payload, bytearray) else bytearray(payload)
    arrays, offset = {}, 0
    for name, dtype, shape, nbytes in specs:
        arr = np.frombuffer(payload, dtype=dtype, count=nbytes // dtype.itemsize, offset=offset).reshape(shape)
        if dtype.kind == "b" and arr.size and arr.view(np.uint8).max() > 1:
            raise WireError(f"array {name!r}: bool bytes must be 0 or 1")
        arr = arr.astype(dtype.newbyteorder("="), copy=False)
        arrays[name] = arr if arr.flags.aligned else arr.copy()
        offset += nbytes
    return header, arrays


def decode(data: bytes | bytearray) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Decode one complete message held in memory; trailing or missing bytes are errors."""
    stream = io.BytesIO(data)

    def read_exact(n: int) -> bytes:
        chunk = stream.read(n)
        if len(chunk) != n:
            raise WireError(f"message truncated: wanted {n} more bytes, got {len(chunk)}")
        return chunk

    header, arrays = read_message(read_exact)
    if stream.tell() != len(data):
        raise WireError(f"{len(data) - stream.tell()} bytes after the end of the message")
    return header, arrays
