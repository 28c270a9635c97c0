"""The grader-run training as a stage of its own: the cells it runs, and its cache keyed by exactly those."""
# The training runs in a worker that executes only the setup cell and the cells defining the names
# the training's symbols use (transitively). Its result depends on nothing else the submission holds,
# so it is cached under the sha256 of those sources, the recipe, the corpus, the torch version, the
# training code and the settings; a regrade after a change to the checks, or a resubmission that
# changed only other exercises, reuses it, and two different programs never share an entry.
from __future__ import annotations

import ast
import hashlib
import json
import re
import symtable
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from course.grader.results import atomic_write
from course.student.notebook import SETUP_ID

CACHE_FORMAT = 1
CACHED_STATUSES = ("ok", "error")  # outcomes of the code itself; a timeout or a crash may be the machine's
# A line magic, a shell escape or a cell-magic header: blanked before parsing (the worker translates them).
IPYTHON_LINE = re.compile(r"^\s*[%!]|^\s*[\w.,\s]+=\s*[%!]")


# Names through which a cell can rebind another cell's names without a plain assignment: such a cell is
# always kept (keeping a cell too many costs only cache reuse).
DYNAMIC = frozenset({"globals", "vars", "locals", "setattr", "delattr", "exec", "eval", "__import__", "sys",
                     "builtins", "__builtins__", "importlib"})


class _Scan:
    """What one cell binds at its top level and which global names it reads (None: always kept)."""

    def __init__(self, source: str):
        text = "\n".join("" if IPYTHON_LINE.match(line) else line for line in source.splitlines())
        self.binds: set[str] | None = set()
        self.imports: dict[str, str] = {}
        self.reads: set[str] = set()
        try:  # a pathological cell can exhaust the parser (deep nesting, huge expressions)
            tree = ast.parse(text)
            self.reads = _global_reads(symtable.symtable(text, "<cell>", "exec"), set())
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            self.binds, self.reads = None, set()
            return
        self._top(tree.body)
        if self.reads & DYNAMIC or set(self.imports) & DYNAMIC:
            self.binds = None

    def _top(self, body: list[ast.stmt]) -> None:
        """Names bound by top-level statements (into if/for/while/try/with, never into def or class bodies)."""
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.binds.add(node.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    name = alias.asname or alias.name.split(".")[0]
                    self.imports[name] = alias.name if alias.asname else name
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Try, ast.With, ast.AsyncWith)):
                heads = [getattr(node, "test", None), getattr(node, "target", None), getattr(node, "iter", None),
                         *(item for w in getattr(node, "items", []) for item in (w.context_expr, w.optional_vars))]
                self._stores([h for h in heads if h is not None])
                for block in (node.body, getattr(node, "orelse", []), getattr(node, "finalbody", [])):
                    self._top(block)
                for handler in getattr(node, "handlers", []):
                    if handler.name:
                        self.binds.add(handler.name)
                    self._top(handler.body)
            else:
                self._stores([node])

    def _stores(self, nodes: list[ast.AST]) -> None:
        """Names stored into, including the object under an attribute or item store (``CharLSTM.forward = f``)."""
        for node in nodes:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
                    self.binds.add(sub.id)
                elif isinstance(sub, (ast.Attribute, ast.Subscript)) and isinstance(sub.ctx, (ast.Store, ast.Del)):
                    root = sub.value
                    while isinstance(root, (ast.Attribute, ast.Subscript)):
                        root = root.value
                    if isinstance(root, ast.Name):
                        self.binds.add(root.id)


def _global_reads(table: symtable.SymbolTable, out: set[str]) -> set[str]:
    """Names the cell's code reads from the global namespace (a function's own locals and parameters left out)."""
    module = str(table.get_type()).lower().endswith("module")
    for sym in table.get_symbols():
        if (module and sym.is_referenced()) or (not module and sym.is_global()):
            out.add(sym.get_name())
    for child in table.get_children():
        _global_reads(child, out)
    return out


def needed_cells(cells: Sequence[tuple[str, str]], symbols: Iterable[str]) -> list[tuple[str, str]]:
    """The cells a call of ``symbols`` needs: the setup cell, the cells binding them, and what those read.

    A name counts as bound by a cell when the cell binds it at its top level (a def, a class, an
    assignment, also into one of its attributes or items, an import that differs from the setup
    cell's own import of that name). Reads are followed transitively, from the setup cell's too; a
    cell that does not parse, or that reaches names through ``globals()``, ``setattr``, ``exec`` and
    the like, is always kept. Keeping a cell too many costs
    only cache reuse, never correctness: the key covers exactly what runs.

    Args:
        cells: (cell id, source) as the submission's worker runs them, in order.
        symbols: the names the training calls (e.g. CharLSTM, train_epoch).

    Returns:
        The kept cells, in their original order.
    """
    scans = [_Scan(source) for _, source in cells]
    setup = {name: module for (cid, _), scan in zip(cells, scans) if cid == SETUP_ID
             for name, module in scan.imports.items()}
    keep = {i for i, (cid, _) in enumerate(cells) if cid == SETUP_ID or scans[i].binds is None}
    wanted, seen = set(symbols).union(*(scans[i].reads for i in keep)), set()
    while wanted - seen:
        name = (wanted - seen).pop()
        seen.add(name)
        for i, scan in enumerate(scans):
            if i in keep or scan.binds is None:
                continue
            if name in scan.binds or (name in scan.imports and setup.get(name) != scan.imports[name]):
                keep.add(i)
                wanted |= scan.reads
    return [cell for i, cell in enumerate(cells) if i in keep]


def code_digest(paths: Iterable[Path]) -> str:
    """sha256 of the grader's training code (the files given, by name and content)."""
    h = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def cache_key(cells: Sequence[tuple[str, str]], **parts: Any) -> str:
    """The key of one training run: sha256 of the cells it runs and of everything else it depends on.

    Args:
        cells: (cell id, source) the training's worker runs, in order.
        parts: JSON-able values the result depends on (recipe, corpus sha, torch version, code digest...).

    Returns:
        64 hex digits.
    """
    record = {"format": CACHE_FORMAT, "cells": [list(c) for c in cells], **parts}
    return hashlib.sha256(json.dumps(record, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


class ThresholdCache:
    """Finished training results under ``folder/<key>.json``, written atomically by the trusted grader only.

    Args:
        folder: e.g. ``OUT/.cache/threshold`` (created on the first write).
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", key):
            raise ValueError(f"not a cache key: {key!r}")
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored result of ``key``, or None (missing, unreadable, or stored for another key)."""
        try:
            record = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("key") != key or record.get("format") != CACHE_FORMAT:
            return None
        result = record.get("result")
        return result if isinstance(result, dict) and result.get("status") in CACHED_STATUSES else None

    def put(self, key: str, result: dict[str, Any]) -> bool:
        """Store a result whose status is an outcome of the code (ok, error); returns whether it was stored."""
        if result.get("status") not in CACHED_STATUSES:
            return False
        atomic_write(self.path(key), json.dumps({"format": CACHE_FORMAT, "key": key, "result": result}, indent=1))
        return True
