# Two commands on a fresh clone: `make demo` and `make test` (see README).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
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

.PHONY: demo test install system-deps release release-check grade calibrate bench bench-tune bench-report clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

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
