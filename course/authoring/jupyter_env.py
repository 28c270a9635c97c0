"""An isolated environment for Jupyter, IPython and nbgrader child processes."""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

# Environment variable -> sub-folder of the state directory. Jupyter, IPython and
# matplotlib write their state there instead of under $HOME.
STATE_DIRS = {
    "JUPYTER_CONFIG_DIR": "jupyter/config",
    "JUPYTER_DATA_DIR": "jupyter/data",
    "JUPYTER_RUNTIME_DIR": "jupyter/runtime",
    "IPYTHONDIR": "ipython",
    "MPLCONFIGDIR": "matplotlib",
}


def venv_bin() -> Path:
    """The bin/ folder of the running interpreter (nbgrader shells out to alembic from there)."""
    return Path(sys.executable).parent


def isolated_env(
    state_dir: str | os.PathLike[str],
    base: Mapping[str, str] | None = None,
    threads: int | None = None,
) -> dict[str, str]:
    """A copy of ``base`` set up for Jupyter children that write nothing under $HOME.

    Args:
        state_dir: folder that receives the Jupyter, IPython and matplotlib state (created).
        base: the environment to start from; default ``os.environ``.
        threads: if given, the number of CPU threads (OpenMP, MKL) a child may use.

    Returns:
        The environment: the venv's bin/ first on PATH, the state folders under ``state_dir``,
        ``PYTHONHASHSEED`` fixed so that runs are reproducible.
    """
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join(p for p in (str(venv_bin()), env.get("PATH", "")) if p)
    for name, sub in STATE_DIRS.items():
        path = Path(state_dir) / sub
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env["PYTHONHASHSEED"] = "0"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # silences a debugger warning in kernels
    if threads is not None:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(threads)
    return env
