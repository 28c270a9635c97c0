"""Run a notebook with nbclient, overriding its `parameters` cell papermill-style."""
from __future__ import annotations

import ast
import copy
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode
from traitlets.config import Config

from course.authoring.jupyter_env import isolated_env
from course.student.notebook import PARAMETERS_TAG, cell_source, tags

INJECTED_TAG = "injected-parameters"


class ParameterError(ValueError):
    """A parameter override does not fit the notebook's `parameters` cell."""


def parameter_names(source: str) -> list[str]:
    """The names assigned (``NAME = ...``) at the top level of a parameters cell."""
    names = []
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def _is_literal(value: Any) -> bool:
    """True when ``repr(value)`` reads back as the same plain value."""
    if not isinstance(value, (int, float, str, bool, type(None))):
        return False
    try:
        return ast.literal_eval(repr(value)) == value
    except (ValueError, SyntaxError):  # nan, inf
        return False


def inject_parameters(nb: NotebookNode, parameters: Mapping[str, Any]) -> NotebookNode:
    """A copy of ``nb`` with a cell assigning ``parameters`` right after the `parameters` cell.

    Args:
        nb: the notebook; one code cell carries the tag ``parameters``.
        parameters: name -> literal value (int, float, str, bool, None); every name must
            already be assigned in the parameters cell, so a typo cannot pass silently.

    Returns:
        The new notebook (the input is not modified).
    """
    nb = copy.deepcopy(nb)
    where = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and PARAMETERS_TAG in tags(c)]
    if not where:
        raise ParameterError("No code cell is tagged 'parameters': tag the hyper-parameter cell.")
    known = parameter_names(cell_source(nb.cells[where[0]]))
    lines = ["# Parameters injected by course.authoring.execute"]
    for name, value in parameters.items():
        if name not in known:
            raise ParameterError(f"{name!r} is not set in the parameters cell (it sets {', '.join(known)}).")
        if not _is_literal(value):
            raise ParameterError(f"{name}={value!r} is not a plain literal (int, float, str, bool or None).")
        lines.append(f"{name} = {value!r}")
    cell = nbformat.v4.new_code_cell("\n".join(lines), id="injected-parameters")
    cell.metadata["tags"] = [INJECTED_TAG]
    nb.cells.insert(where[0] + 1, cell)
    return nb


def execute_notebook(
    nb: NotebookNode,
    parameters: Mapping[str, Any] | None = None,
    *,
    cwd: str | os.PathLike[str] | None = None,
    timeout: int = 600,
    allow_errors: bool = False,
    threads: int | None = None,
    kernel_name: str = "python3",
) -> NotebookNode:
    """Execute a notebook top to bottom in a fresh kernel with an isolated Jupyter environment.

    Args:
        nb: the notebook (not modified).
        parameters: optional overrides for the `parameters` cell (see inject_parameters).
        cwd: working folder of the kernel; default a temporary one.
        timeout: seconds allowed per cell.
        allow_errors: keep going after a failing cell (its error stays in its outputs);
            otherwise nbclient's CellExecutionError is raised at the first failure.
        threads: CPU threads the kernel may use (OMP_NUM_THREADS), or None to leave as is.
        kernel_name: the Jupyter kernel to start.

    Returns:
        The executed notebook, with outputs.
    """
    nb = inject_parameters(nb, parameters) if parameters else copy.deepcopy(nb)
    with tempfile.TemporaryDirectory(prefix="course-exec-") as tmp:
        env = isolated_env(Path(tmp) / "state", threads=threads)
        workdir = Path(cwd) if cwd is not None else Path(tmp) / "work"
        workdir.mkdir(parents=True, exist_ok=True)
        # The connection file and the kernel's sockets (IPC, not TCP ports) live in the temp
        # folder, not in the caller's Jupyter runtime dir.
        config = Config({"KernelManager": {"connection_file": str(Path(tmp) / "kernel.json"), "transport": "ipc"}})
        client = NotebookClient(
            nb, config=config, timeout=timeout, allow_errors=allow_errors, kernel_name=kernel_name
        )
        client.execute(env=env, cwd=str(workdir))
    return nb
