"""The instructor's solution as the source notebook holds it: its answer cells, and a namespace that runs them."""
from __future__ import annotations

import contextlib
import io
import json
import random
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from course.config import CourseConfig
from course.student import notebook as nbc


def source_notebook(cfg: CourseConfig) -> dict[str, Any]:
    """The source notebook (every solution in place) as a plain dict.

    Args:
        cfg: the course configuration; its ``source_notebook`` is read.

    Returns:
        The notebook's JSON.
    """
    return json.loads(cfg.source_notebook.read_text(encoding="utf-8"))


def setup_source(cfg: CourseConfig, nb: dict[str, Any] | None = None) -> str:
    """The source of the notebook's setup cell (grade_id ``setup``: imports, device, seeds).

    Args:
        cfg: the course configuration.
        nb: the notebook to read (default: the source notebook).

    Returns:
        The cell's source. Raises KeyError when the notebook has no setup cell.
    """
    for cell in (nb or source_notebook(cfg))["cells"]:
        if nbc.cell_type(cell) == "code" and nbc.grade_id(cell) == nbc.SETUP_ID:
            return nbc.cell_source(cell)
    raise KeyError(f"the notebook has no code cell with grade_id {nbc.SETUP_ID!r}")


def solution_sources(cfg: CourseConfig, nb: dict[str, Any] | None = None) -> dict[str, str]:
    """The answer cells of the source notebook, solutions included.

    Args:
        cfg: the course configuration.
        nb: the notebook to read (default: the source notebook).

    Returns:
        grade_id -> source of each autograded answer cell, in notebook order.
    """
    cells = (nb or source_notebook(cfg))["cells"]
    return {gid: nbc.cell_source(cell) for cell in cells if nbc.is_answer_cell(cell) and (gid := nbc.grade_id(cell))}


@contextlib.contextmanager
def _quiet_and_unseeded() -> Iterator[None]:
    """Discard what the cells print, and give back the generators the setup cell reseeds.

    The setup cell calls ``random.seed`` and ``torch.manual_seed`` as a notebook should; the
    caller's ``random`` state, and torch's CPU generator when torch was imported already, are
    restored afterwards, so that building a namespace changes nothing outside it.
    """
    state = random.getstate()
    torch = sys.modules.get("torch")
    torch_state = torch.random.get_rng_state() if torch is not None else None
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        random.setstate(state)
        if torch_state is not None:
            torch.random.set_rng_state(torch_state)


def run_cells(sources: Iterable[str], name: str = "__main__") -> dict[str, Any]:
    """A fresh namespace in which the given cell sources were executed, one after the other.

    TRUSTED CODE ONLY: the sources run in this process with nothing isolated or limited. Pass
    the instructor's cells, or the tests' own variants of them, never a submission.

    Args:
        sources: cell sources, run in order (what a cell prints is discarded).
        name: the namespace's ``__name__`` (a notebook kernel's is ``__main__``).

    Returns:
        The namespace (a dict of the names the cells bound).
    """
    ns: dict[str, Any] = {"__name__": name}
    with _quiet_and_unseeded():
        for source in sources:
            exec(compile(source, "<answer cell>", "exec"), ns)
    return ns


def solution_namespace(cfg: CourseConfig, ids: Iterable[str] | None = None,
                       replaced: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A fresh namespace after the source notebook's setup cell and the chosen answer cells.

    TRUSTED CODE ONLY: this executes the instructor's notebook cells (and the replacements
    given) in this process, with no sandbox; it is how calibration, the benchmarks, the tests
    and the trusted checks get the reference solution, never how a submission is run.

    Args:
        cfg: the course configuration (its source notebook is read).
        ids: grade_ids of the answer cells to run (default: all); they run in notebook order.
        replaced: grade_id -> a source run instead of that answer cell when it is chosen (a variant's cells);
            every key must be an answer cell's id.

    Returns:
        The namespace: the setup cell's names (torch, nn, F, math, device, ...) and the
        symbols the chosen answer cells define.
    """
    nb = source_notebook(cfg)
    sources = solution_sources(cfg, nb)
    chosen = list(sources) if ids is None else list(ids)
    unknown = sorted((set(chosen) | set(replaced or {})) - set(sources))
    if unknown:
        raise KeyError(f"no answer cells {unknown} in {cfg.source_notebook.name}; it has {list(sources)}")
    cells = [(replaced or {}).get(gid, src) for gid, src in sources.items() if gid in chosen]
    return run_cells([setup_source(cfg, nb), *cells])
