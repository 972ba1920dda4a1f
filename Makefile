# Two commands matter: `make run` (set up + open the app) and `make test` (set up + run the tests).
# Both create ./.venv on first use and reinstall when pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --disable-pip-version-check -q
PYTEST_ARGS ?=

.PHONY: run test lint bench package clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.app-installed: pyproject.toml | $(BIN)/python
	$(PIP) -e .
	@touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[test]'
	@touch $@

run: $(VENV)/.app-installed
	$(BIN)/sieve

test: $(VENV)/.test-installed
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest --junitxml=$(VENV)/junit.xml $(PYTEST_ARGS)

lint: $(VENV)/.test-installed
	$(PIP) ruff
	$(BIN)/ruff check app tests benchmarks packaging

bench: $(VENV)/.app-installed
	$(BIN)/python benchmarks/run_all.py --quick

$(VENV)/.package-installed: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[package]'
	@touch $@

package: $(VENV)/.package-installed
	$(BIN)/python packaging/build.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
