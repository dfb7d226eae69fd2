# Two commands set everything up on a fresh machine:
#   make report   create .venv, install, write the default forecast's report to reports/
#   make test     create or update .venv, run the whole suite (unit, property, CLI, notebooks)

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Python >= 3.12: python3.12 if on PATH, else pyenv's 3.12 (named by .python-version), else python3.
PYTHON ?= $(shell command -v python3.12 2>/dev/null || (command -v pyenv >/dev/null 2>&1 && echo "$$(pyenv prefix 3.12 2>/dev/null)/bin/python3") || command -v python3)
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg

.PHONY: venv report test test-fast notebooks lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 12), f"Python >= 3.12 needed, {sys.executable} is {sys.version.split()[0]}"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/forecast report --out reports

test: $(STAMP)
	$(BIN)/python -m pytest tests -n 2 -p no:cacheprovider
	$(BIN)/python -m pytest --doctest-modules forecast -p no:cacheprovider -q
	$(BIN)/python -m pytest $(NBVAL) notebooks -p no:cacheprovider

test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -n 2 -m 'not slow'

# Re-execute the notebooks in place (after a change that moves a published number).
notebooks: $(STAMP)
	for nb in notebooks/*.ipynb; do $(BIN)/jupyter nbconvert --to notebook --execute --inplace "$$nb"; done

lint: $(STAMP)
	$(BIN)/ruff check forecast tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_exact.py

clean:
	rm -rf $(VENV) reports .pytest_cache .hypothesis
