"""Probe requests and responses: the plain data that crosses the trust boundary."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

Status = Literal["ok", "error", "timeout", "crash", "skipped"]


@dataclass
class ProbeRequest:
    """One grader-chosen call on the student's symbols.

    Attributes:
        id: unique name, used by checks to find the response (e.g. ``"myrnn/h0"``).
        op: name of a worker op in ``autograder/<assignment>/worker/``.
        params: JSON-able parameters (ints, floats, strings, lists, dicts).
        arrays: named numpy input arrays.
        timeout_s: wall-time limit for this probe; None means the course default.
    """

    id: str
    op: str
    params: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    timeout_s: float | None = None


@dataclass
class Response:
    """What came back for one probe, already validated by the wire layer.

    Attributes:
        status: ``ok``; ``error`` (the student's code raised); ``timeout``; ``crash``
            (the worker died or sent malformed data); ``skipped`` (never run).
        value: JSON-able values returned by the op.
        arrays: numpy arrays returned by the op.
        message: for a non-ok status, what a student should read (never grader source).
    """

    id: str
    status: Status
    value: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _save(path_json: Path, path_npz: Path, records: dict[str, dict], arrays: dict[str, np.ndarray]) -> None:
    path_json.write_text(json.dumps(records, indent=1, sort_keys=True))
    np.savez(path_npz, **arrays)


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def save_plan(directory: Path, plan: list[ProbeRequest]) -> None:
    """Write a probe plan to ``plan.json`` + ``plan_arrays.npz`` (no pickle)."""
    records, arrays = {}, {}
    for req in plan:
        records[req.id] = {"op": req.op, "params": req.params, "arrays": sorted(req.arrays), "timeout_s": req.timeout_s}
        for name, arr in req.arrays.items():
            arrays[f"{req.id}//{name}"] = arr
    _save(directory / "plan.json", directory / "plan_arrays.npz", records, arrays)


def load_plan(directory: Path) -> dict[str, ProbeRequest]:
    """Read a plan written by :func:`save_plan`, keyed by probe id."""
    records = json.loads((directory / "plan.json").read_text())
    arrays = _load_arrays(directory / "plan_arrays.npz")
    return {
        pid: ProbeRequest(pid, r["op"], r["params"], {n: arrays[f"{pid}//{n}"] for n in r["arrays"]}, r["timeout_s"])
        for pid, r in records.items()
    }


def save_responses(directory: Path, responses: dict[str, Response]) -> None:
    """Write responses to ``responses.json`` + ``response_arrays.npz`` (no pickle)."""
    records, arrays = {}, {}
    for pid, resp in responses.items():
        records[pid] = {"status": resp.status, "value": resp.value, "message": resp.message,
                        "arrays": sorted(resp.arrays)}
        for name, arr in resp.arrays.items():
            arrays[f"{pid}//{name}"] = arr
    _save(directory / "responses.json", directory / "response_arrays.npz", records, arrays)


def load_responses(directory: Path) -> dict[str, Response]:
    """Read responses written by :func:`save_responses`, keyed by probe id."""
    records = json.loads((directory / "responses.json").read_text())
    arrays = _load_arrays(directory / "response_arrays.npz")
    return {
        pid: Response(pid, r["status"], r["value"], {n: arrays[f"{pid}//{n}"] for n in r["arrays"]}, r["message"])
        for pid, r in records.items()
    }
