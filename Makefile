# AI-STEM live. `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.aistem-installed
EXTRAS ?= tf,io,training,gui,cluster,dev
# The paper's model, for `make evaluate` (compared side by side when the file is there).
REFERENCE ?= ../shared/reference/ai4stem_optimal_model.h5
# Extra options for the benchmark/evaluation targets, e.g. `make soak ARGS="--minutes 30 --csv /tmp/soak.csv"`.
ARGS ?=

.PHONY: setup demo test test-slow test-all lint bench bench-train bench-daemon soak evaluate clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/aistem demo --out demo-out

test: setup
	$(PY) -m pytest -q

test-slow: setup
	$(PY) -m pytest -q -m slow

test-all: setup
	$(PY) -m pytest -q -m "slow or not slow"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) .ci/lint_imports.py

bench: setup
	$(PY) benchmarks/bench_core.py $(ARGS)

# Training throughput (descriptors/s per kernel size, minutes per epoch of the full set).
bench-train: setup
	$(PY) benchmarks/bench_train.py $(ARGS)

# End-to-end daemon latency and live-mode throughput (~1-2 min with the defaults).
bench-daemon: setup
	$(PY) benchmarks/bench_daemon.py $(ARGS)

# Daemon memory over a long run (12 min by default; `ARGS="--minutes 60"`).
soak: setup
	$(PY) benchmarks/soak_daemon.py $(ARGS)

# The shipped model on the simulated polycrystal and bicrystals, next to the paper's model if it is there.
evaluate: setup
	$(VENV)/bin/aistem evaluate --out evaluation $(if $(wildcard $(REFERENCE)),--compare $(REFERENCE)) $(ARGS)

clean:
	rm -rf demo-out evaluation build *.egg-info
