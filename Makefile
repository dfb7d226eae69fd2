# Two commands set everything up on a fresh machine:
#   make report   create .venv, install, write the default forecast's report to reports/latest/
#   make test     create or update .venv, run the whole suite (unit, property, CLI, notebooks)
# The environment is installed from requirements/lock.txt (exact versions and hashes, Python
# 3.12 on Linux x86_64); pyproject.toml keeps the bounds for library users.
#   make lock          re-resolve the lock after a change to pyproject.toml (keeps other pins)
#   make lock-upgrade  re-resolve every pin to the newest versions pyproject.toml allows
#   make check-fresh   clone HEAD into a temporary folder, install from the lock, run make test
# Installs use uv (put into .venv by pip); `make venv INSTALLER=pip` uses pip alone.

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/lock.txt
INSTALLER ?= uv
UV := $(BIN)/uv
UV_SPEC := uv>=0.8,<1
# The lock: [project] dependencies and the dev extra (which takes in test), for Python 3.12 on Linux x86_64.
# tests/test_environment.py reads the extras from the lock's header and checks every pin against pyproject.toml.
LOCK_ARGS := pyproject.toml --extra dev --python-version 3.12 --python-platform x86_64-unknown-linux-gnu \
	--generate-hashes --output-file $(LOCK)
# Python >= 3.12: python3.12 if on PATH, else pyenv's 3.12 (named by .python-version), else python3.
PYTHON ?= $(shell command -v python3.12 2>/dev/null || (command -v pyenv >/dev/null 2>&1 && echo "$$(pyenv prefix 3.12 2>/dev/null)/bin/python3") || command -v python3)
CHECK_FRESH_TARGETS ?= test
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg

.PHONY: venv lock lock-upgrade check-fresh report browser test test-fast notebooks lint bench clean

venv: $(STAMP)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 12), f"Python >= 3.12 needed, {sys.executable} is {sys.version.split()[0]}"'
	$(PYTHON) -m venv $(VENV)

$(UV): | $(BIN)/python
	$(BIN)/python -m pip install --quiet '$(UV_SPEC)'

ifeq ($(INSTALLER),pip)
$(STAMP): pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)
else
$(STAMP): pyproject.toml $(LOCK) | $(UV)
	$(UV) pip install --quiet --python $(BIN)/python --require-hashes -r $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)
endif

lock: | $(UV)
	$(UV) pip compile --quiet $(LOCK_ARGS)

lock-upgrade: | $(UV)
	$(UV) pip compile --quiet --upgrade $(LOCK_ARGS)

# CHECK_FRESH_TARGETS=test-fast for a quicker look; the script's header lists its options.
check-fresh:
	bash .ci/check-fresh $(CHECK_FRESH_TARGETS)

report: $(STAMP)
	$(BIN)/forecast report --out reports/latest

# The browser test (tests/test_html_report.py) opens report.html in headless Chromium: Debian's
# chromium and chromium-driver, installed when missing (as root, or through sudo if it needs no
# password). Where neither is possible the test skips and says why.
CHROMIUM_PACKAGES := chromium chromium-driver
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then \
		exit 0; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "make: no apt-get here to install $(CHROMIUM_PACKAGES); the browser test of report.html will skip"; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(CHROMIUM_PACKAGES); \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(CHROMIUM_PACKAGES); \
	else \
		echo "make: $(CHROMIUM_PACKAGES) not installed, and this user cannot install them (not root, no sudo);" \
			"the browser test of report.html will skip"; \
	fi

test: $(STAMP) browser
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
