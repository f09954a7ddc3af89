# Hotline 122: the two commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: help run test venv-run venv-dev system-deps lint typecheck layers unit lock clean

help:
	@echo "make run    - set up and start the demo service on SQLite"
	@echo "make test   - set up everything (incl. test peers) and run all checks and tests"
	@echo "make lock   - regenerate requirements/*.lock from pyproject.toml (needs uv)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	@$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: install Debian's python3-venv (apt-get install python3-venv)"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files: reinstall only when a lock file or pyproject.toml changes.
$(VENV)/.run-installed: requirements/run.lock requirements/build.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/run.lock -r requirements/build.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

$(VENV)/.dev-installed: requirements/dev.lock requirements/build.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.lock -r requirements/build.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@ $(VENV)/.run-installed

venv-run: $(VENV)/.run-installed
venv-dev: $(VENV)/.dev-installed

run: venv-run
	$(BIN)/hotline init --demo --if-missing
	exec $(BIN)/hotline serve

system-deps:
	bash scripts/system-deps.sh

lint: venv-dev
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

typecheck: venv-dev
	$(BIN)/mypy

layers: venv-dev
	$(BIN)/lint-imports

test: system-deps venv-dev lint typecheck layers
	$(BIN)/pytest --cov --cov-report=term $(PYTEST_ARGS)

unit: venv-dev
	$(BIN)/pytest -m "not integration and not e2e and not browser" $(PYTEST_ARGS)

lock:
	uv pip compile pyproject.toml -o requirements/run.lock --python-version 3.11 --generate-hashes --no-header -q
	uv pip compile requirements/build.in -o requirements/build.lock --python-version 3.11 --generate-hashes --no-header -q
	uv pip compile pyproject.toml --extra dev -o requirements/dev.lock --python-version 3.11 --generate-hashes --no-header -q

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage htmlcov
