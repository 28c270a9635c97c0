"""requirements.lock pins the whole grading environment, and every installer goes through it."""
from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from course.lock import LOCK_FILE, LockError, canonical, read_lock
from course.platforms.gradescope import SETUP_SH

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
LOCK = read_lock(REPO / LOCK_FILE)
PYENV = Path("/root/.pyenv/versions")
CANDIDATES = (PYENV / "3.12.1/bin/python3.12", PYENV / "3.10.13/bin/python3.10", Path("/usr/bin/python3.12"))
OTHER_PYTHONS = [p for p in CANDIDATES if p.is_file()]


def test_the_lock_pins_every_distribution_installed_in_the_environment():
    freeze = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all", "--exclude-editable"],
                            capture_output=True, text=True, check=True).stdout.split()
    installed = {canonical(line.split("==")[0]): line for line in freeze if "==" in line}
    assert installed == LOCK, {k: (installed.get(k), LOCK.get(k)) for k in set(installed) ^ set(LOCK)
                               or {k for k in LOCK if installed.get(k) != LOCK[k]}}
    assert len(LOCK) > 100 and LOCK["torch"].endswith("+cpu") and "pip" in LOCK and "setuptools" in LOCK


def test_pyproject_pins_agree_with_the_lock():
    deps = PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["test"]
    for dep in deps:
        req = Requirement(dep)
        (spec,) = req.specifier
        assert spec.operator == "==", dep
        assert LOCK[canonical(req.name)].split("==")[1].split("+")[0] == spec.version, dep


def test_requires_python_is_the_python_the_lock_is_made_for():
    assert PYPROJECT["requires-python"] == ">=3.11,<3.12"
    assert sys.version_info[:2] == (3, 11)
    assert "CPython 3.11" in (REPO / LOCK_FILE).read_text().split("\n\n")[0]


def test_every_locked_distribution_installs_on_every_3_11_release():
    """Resolved on 3.11.7, pip picked soupsieve 4.1.4 (Requires-Python >=3.11.5), which 3.11.2 cannot install."""
    narrow = {}
    for dist in importlib.metadata.distributions():
        spec = SpecifierSet(dist.metadata.get("Requires-Python") or "")
        refused = [f"3.11.{n}" for n in range(15) if not spec.contains(f"3.11.{n}", prereleases=True)]
        if refused and canonical(dist.metadata["Name"]) in LOCK:
            narrow[dist.metadata["Name"]] = (dist.version, str(spec))
    assert narrow == {}, f"pins that some CPython 3.11 cannot install (regenerate with make lock): {narrow}"


def test_the_lock_accepts_only_exact_pins(tmp_path):
    (tmp_path / "x.lock").write_text("# comment\nnumpy>=2\n")
    with pytest.raises(LockError, match="line 2: 'numpy>=2' is not an exact pin"):
        read_lock(tmp_path / "x.lock")
    with pytest.raises(LockError, match="run `make lock`"):
        read_lock(tmp_path / "missing.lock")


def test_every_installer_goes_through_the_lock():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^PIP_INSTALL := .* -c \$\(LOCK\)$", makefile, re.M)
    recipe = re.search(r"^\$\(VENV\)/\.installed: pyproject.toml \$\(LOCK\)\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert "$(PIP_INSTALL) pip" in recipe and "$(PIP_INSTALL) -e '.[test]'" in recipe
    assert re.search(r"^lock:\n(?:\t.*\n)*\t.*pip freeze --all --exclude-editable", makefile, re.M)
    # Gradescope's setup.sh (the bundle ships the lock beside it: tests/platforms/test_gradescope.py)
    assert 'LOCK="$SOURCE/requirements.lock"' in SETUP_SH and '-c "$LOCK" "$@"' in SETUP_SH
    assert "pip_install pip\npip_install -r" in SETUP_SH
    # The instructor CI installs with `make install`, the student workflow with constraints.txt
    # (tests/platforms/test_classroom.py checks both).


@pytest.mark.skipif(not OTHER_PYTHONS, reason="no Python other than 3.11 here")
def test_make_install_refuses_a_python_the_lock_is_not_made_for(tmp_path):
    venv = tmp_path / "venv"
    proc = subprocess.run(["make", "-B", "install", f"PYTHON={OTHER_PYTHONS[0]}", f"VENV={venv}"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "the lock needs 3.11" in proc.stderr and "make PYTHON=/path/to/python3.11" in proc.stderr
    assert not venv.exists()
