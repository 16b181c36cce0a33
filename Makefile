# `make demo` / `make test` set everything up on a fresh machine and reuse .venv after.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv test test-all demo bench-venv clean

venv: $(STAMP)

# Reinstalls only when pyproject.toml changed; the editable install picks up code edits.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -ra $(PYTEST_ARGS)

test-all: $(STAMP)
	$(PY) -m pytest -q -ra --run-slow $(PYTEST_ARGS)

demo: $(STAMP)
	$(VENV)/bin/wit demo --out demo-out

# The anchors (img2dataset, open_clip's trainer) pin their own dependencies, so they
# live in a venv of their own that the benchmarks call as a subprocess.
BENCH_VENV := .venv-anchor
$(BENCH_VENV)/.installed: bench/anchor-requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q -r bench/anchor-requirements.txt
	touch $@

bench-venv: $(STAMP) $(BENCH_VENV)/.installed

clean:
	rm -rf $(VENV) $(BENCH_VENV) demo-out bench/out
