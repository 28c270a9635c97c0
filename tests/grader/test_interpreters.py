"""The solution grades the same on Debian's CPython 3.11.2 as on this venv's 3.11.7 (a fresh runner's 3.11)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from course.config import load_config

REPO = Path(__file__).resolve().parents[2]
DEBIAN = Path("/usr/bin/python3.11")


def debian_venv(folder: Path) -> Path:
    """A venv of Debian's python3.11 that reuses this venv's installed packages (no second install).

    ``--without-pip`` and a .pth file that makes our site-packages a site dir of its own: its .pth
    files (the editable install of `course`) are read too, also under the worker's ``python -I``.
    """
    subprocess.run([str(DEBIAN), "-m", "venv", "--without-pip", str(folder)], check=True)
    site = folder / "lib" / "python3.11" / "site-packages"
    ours = sysconfig.get_paths()["purelib"]
    (site / "course-packages.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return folder / "bin" / "python"


def version(python: Path | str) -> str:
    return subprocess.run([str(python), "-I", "-c", "import platform; print(platform.python_version())"],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.slow
@pytest.mark.skipif(not DEBIAN.is_file(), reason="no Debian /usr/bin/python3.11 here")
def test_the_solution_grades_identically_on_3_11_2_and_3_11_7(tmp_path):
    cfg = load_config()
    debian = debian_venv(tmp_path / "debian-venv")
    ours = Path(sys.executable)
    assert version(debian) != version(ours), "two different 3.11 releases"
    probe = "import torch, numpy, course.grader.batch; print(torch.__version__)"
    assert subprocess.run([str(debian), "-I", "-c", probe], capture_output=True, text=True, check=True).stdout.strip() \
        == subprocess.run([str(ours), "-I", "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    submitted = tmp_path / "submitted"
    submitted.mkdir()
    (submitted / "solution.ipynb").write_bytes(cfg.source_notebook.read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "COURSE_"))}
    runs = {}
    for name, python in (("debian", debian), ("ours", ours)):  # both at once: one core each
        cmd = [str(python), "-m", "course", "grade", str(submitted), "--out", str(tmp_path / name)]
        runs[name] = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True)
    logs = {name: proc.communicate(timeout=1500)[0] for name, proc in runs.items()}
    for name, proc in runs.items():
        assert proc.returncode == 0, logs[name][-3000:]
        assert "was made for another setting" not in logs[name]  # the calibration is accepted on both
    results = {name: json.loads((tmp_path / name / "solution" / "results.json").read_text()) for name in runs}
    for found in results.values():
        assert found["score"] == cfg.autograded_points
        found.pop("execution_time")
        for key in ("timings", "threshold_seconds"):  # seconds, not results
            found["extra_data"].pop(key)
    assert results["debian"]["extra_data"]["perplexity"] == results["ours"]["extra_data"]["perplexity"]
    assert results["debian"] == results["ours"]
