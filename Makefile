# Two commands on a fresh clone: `make demo` and `make test` (see README).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# requirements.lock pins every package and is proven on CPython 3.11 only (pyproject's requires-python):
# python3.11 where it is on PATH, else python3; `make PYTHON=/path/to/python3.11 install` chooses another.
# Set before PATH below puts the venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
PYTHON := $(PYTHON)
# nbgrader shells out to alembic: the venv's bin/ must be on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Keep Jupyter and IPython state out of $HOME.
export JUPYTER_CONFIG_DIR := $(CURDIR)/build/jupyter/config
export JUPYTER_DATA_DIR := $(CURDIR)/build/jupyter/data
export JUPYTER_RUNTIME_DIR := $(CURDIR)/build/jupyter/runtime
export IPYTHONDIR := $(CURDIR)/build/ipython
export MPLCONFIGDIR := $(CURDIR)/build/matplotlib
export PYTHONHASHSEED := 0
$(shell mkdir -p $(JUPYTER_CONFIG_DIR) $(JUPYTER_DATA_DIR) $(JUPYTER_RUNTIME_DIR) $(IPYTHONDIR) $(MPLCONFIGDIR))

.PHONY: demo test install lock system-deps release release-check calibrate bench bench-tune bench-report clean

LOCK := requirements.lock
# torch's CPU wheels (+cpu in the lock; PyPI's Linux torch is the multi-GB CUDA build), unless pip's own
# configuration (pip.conf, PIP_EXTRA_INDEX_URL) already names an extra index.
TORCH_INDEX ?= $(shell $(PYTHON) -m pip config list 2>/dev/null | grep -q extra-index-url || echo https://download.pytorch.org/whl/cpu)
PIP_INSTALL := $(PY) -m pip install -q $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -c $(LOCK)

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { \
	    echo "error: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); the lock" \
	         "needs 3.11: install it (pyenv, uv python install 3.11, apt) and run make PYTHON=/path/to/python3.11" >&2; \
	    exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) pip
	$(PIP_INSTALL) -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# A clean install in a throw-away venv, frozen into requirements.lock (a few minutes). It is resolved on the
# oldest CPython 3.11 the course supports (LOCK_PYTHON, Debian 12's 3.11.2 where it exists), so that every pin
# also installs on later 3.11 releases: resolved on 3.11.7, pip picks soupsieve 4.1.4, which needs 3.11.5.
LOCK_PYTHON ?= $(shell test -x /usr/bin/python3.11 && echo /usr/bin/python3.11 || echo $(PYTHON))
lock:
	@$(LOCK_PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "error: make lock needs Python 3.11" >&2; exit 1; }
	rm -rf build/lock-venv
	$(LOCK_PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/python -m pip install -q --upgrade pip
	build/lock-venv/bin/python -m pip install -q $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -e '.[test]'
	{ sed -n '/^#/p' $(LOCK); build/lock-venv/bin/python -m pip freeze --all --exclude-editable; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)
	rm -rf build/lock-venv
	@echo "wrote $(LOCK) ($$(grep -vc '^#' $(LOCK)) pins); run make install test"

# bubblewrap gives the grader full isolation; Chromium renders the cohort report
# in its test. Installed with apt where this is a Debian machine run as root;
# elsewhere the grader says which isolation level it got.
system-deps:
	@bash tools/system_deps.sh

release: install
	$(PY) -m course release

release-check: install
	$(PY) -m course release --check

calibrate: install
	$(PY) -m course calibrate

demo: install system-deps
	$(PY) -m course demo

test: install system-deps
	$(PY) -m course release --check
	$(PY) -m pytest -n 2 --dist loadfile --durations=15 tests

# Benchmarks (not part of `make test`; their smoke tests are): 14 minutes on 2 cores.
# model.py trains its 1x, 2x and 4x LSTM runs side by side (one thread each) while grading.py runs: one
# after the other they take over 20 minutes. grading.py alternates its two graders, so both carry the same
# load and their ratio stays fair; LSTM budgets are counted in CPU seconds, which the load barely changes.
bench: install system-deps
	$(PY) bench/model.py & model=$$!; \
	$(PY) bench/grading.py --load "bench/model.py (LSTM training on both cores)"; graded=$$?; \
	wait $$model && test $$graded -eq 0
	$(PY) bench/report.py
	$(PY) bench/write_results.py

# `course report` and `course similarity` on 1,000 synthetic graded submissions (under a minute).
bench-report: install
	$(PY) bench/report.py

# The comparison behind the notebook's CPU default (about 16 minutes); writes the committed bench/tune.json.
bench-tune: install
	$(PY) bench/model.py --tune
	$(PY) bench/write_results.py

clean:
	rm -rf build demo-out
