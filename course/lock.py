"""requirements.lock: the pins of every package of the grading environment, and subsets of it."""
from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from course.errors import UserError

LOCK_FILE = "requirements.lock"  # at the repository root
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")


class LockError(UserError, ValueError):
    """requirements.lock or pyproject.toml cannot be used as they are; the message says what to fix."""


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    """The pins of a lock file: canonical name -> ``Name==version``, in file order.

    Raises:
        LockError: the file is missing, or a line is neither a comment nor an exact pin.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise LockError(f"No lock file at {path}: run `make lock`.") from None
    pins: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        if not match:
            raise LockError(f"{path.name}, line {number}: {line!r} is not an exact pin (name==version).")
        pins[canonical(match.group(1))] = line
    return pins


def pinned_requirements(pyproject: Path) -> list[str]:
    """The runtime dependencies of pyproject.toml, each pinned with ``==``.

    Raises:
        LockError: a dependency is not pinned exactly (a grade must not move with it), or there is none.
    """
    project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    deps = list(project.get("dependencies", []))
    loose = [d for d in deps if "==" not in d or any(op in d for op in (">", "<", "~", "!", "*"))]
    if loose:
        raise LockError("pyproject.toml: pin every dependency exactly (name==version); not pinned: " + ", ".join(loose))
    if not deps:
        raise LockError("pyproject.toml lists no dependencies.")
    return deps


def closure(roots: list[str], lock: dict[str, str]) -> list[str]:
    """The lock's pins of ``roots`` and of everything they need here (installed metadata, markers of this Python).

    Args:
        roots: distribution names (what a workflow installs).
        lock: from read_lock.

    Returns:
        Their ``Name==version`` lines, sorted by name.
    Raises:
        LockError: a needed package is not in the lock, or its installed version is not the locked one.
    """
    found: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = canonical(todo.pop())
        if name in found:
            continue
        if name not in lock:
            raise LockError(f"{name} is needed but not pinned in {LOCK_FILE}: run `make lock`.")
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise LockError(f"{name} is not installed here: run `make install`.") from None
        if lock[name].split("==", 1)[1] != dist.version:
            raise LockError(f"{name} {dist.version} is installed but {LOCK_FILE} pins {lock[name]}: "
                            "run `make install`.")
        found[name] = lock[name]
        for text in dist.requires or []:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return [found[name] for name in sorted(found)]
