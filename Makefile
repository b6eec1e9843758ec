# The two commands of the README:
#   make train   creates .venv, installs rl8-core, trains CartPole-v1 with the default config
#   make test    creates .venv, installs rl8-core, runs the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PIP := $(BIN)/python -m pip
CONFIG ?=
PYTEST_ARGS ?=

.PHONY: install train test test-fast lint typecheck bench constraints clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: only an exact pin picks the local CPU wheel.
	$(PIP) install -c constraints.txt "torch==2.13.0"
	# The editable install puts this directory on sys.path: drop the metadata an
	# older setuptools-built install left here, or it shows as a second rl8-core.
	rm -rf rl8_core.egg-info
	$(PIP) install -c constraints.txt -e ".[dev,video,plot]"
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(BIN)/rl8 train $(CONFIG)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/spec_overhead.py

constraints: $(STAMP)
	{ head -3 constraints.txt; $(PIP) freeze --exclude-editable | sed 's/+cpu$$//'; } > constraints.new && mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
