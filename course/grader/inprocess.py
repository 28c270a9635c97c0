"""A session that runs worker ops in this process: for trusted reference code only (tests, calibration)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from course.grader.probes import ProbeRequest, Response
from course.grader.session import CellReport
from course.worker import runtime, wire


class InProcessSession:
    """Runs ops directly in THIS process against a given namespace.

    ONLY for trusted reference code (the instructor's solution in tests and
    calibration): nothing is isolated and nothing is limited. Same ``call``
    interface as WorkerSession; replies pass through the wire format so the
    same data rules apply.
    """

    isolation = None

    def __init__(self, namespace: dict, op_modules: Sequence[Path | str]):
        self.ns = namespace
        self.ops = runtime.collect_ops([runtime.load_op_module(Path(p)) for p in op_modules])

    def __enter__(self) -> InProcessSession:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> list[CellReport]:
        return []

    def call(self, request: ProbeRequest, timeout_s: float | None = None) -> Response:
        """Run the op now (``timeout_s`` is ignored); request and reply both cross the wire format."""
        header, arrays = wire.decode(wire.encode_bytes({"params": request.params}, request.arrays))
        status, value, out, message = runtime.call_op(self.ops, self.ns, request.op, header["params"], arrays)
        try:
            header, out = wire.decode(wire.encode_bytes({"value": value}, out))
        except wire.WireError as exc:
            return Response(request.id, "error", message=f"the result could not be sent back: {exc}")
        return Response(request.id, status, header["value"], out, message)

    def output(self) -> str:
        return ""

    def close(self) -> None:
        pass
