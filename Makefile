# Everything runs inside ./.venv, created on first use: nothing relies on what is installed by hand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
WHEELHOUSE := .wheelhouse
WHEELS_STAMP := $(WHEELHOUSE)/.built-stamp
PYTEST_ARGS ?=

.PHONY: test check lint typecheck demo demo-merged install clean bench postgres-deps render-deps install-check-deps wheelhouse

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# PostgreSQL tests start their own throwaway cluster; install Debian's server when it is missing.
postgres-deps:
	@bash .ci/ensure-postgres

# The print-layout tests render reports to PDF (Chromium, LibreOffice, poppler-utils); install
# Debian's packages when they are missing (as root), else those tests say why they skip.
render-deps:
	@bash .ci/ensure-renderers

# docs/install-check.sh (the install guide's test) needs python3-venv, logrotate, systemd-analyze.
install-check-deps:
	@bash .ci/ensure-install-check-tools

# The install guide's test (tests/e2e/test_install_guide.py) builds the release's wheels the way
# docs/install.md says, offline: pip reads only this wheelhouse of the project's dependencies and
# build tools (PIP_NO_INDEX, PIP_FIND_LINKS). Built once, again when pyproject.toml changes; the
# test skips, saying so, when it is missing (pytest alone never reaches the package index).
$(WHEELS_STAMP): pyproject.toml | $(STAMP)
	rm -rf $(WHEELHOUSE)
	$(BIN)/python -m pip wheel --quiet --wheel-dir $(WHEELHOUSE) '.[dev]' 'setuptools>=77' wheel
	rm -f $(WHEELHOUSE)/idesk_connector-*.whl
	touch $(WHEELS_STAMP)

wheelhouse: $(WHEELS_STAMP)

test: install wheelhouse postgres-deps render-deps install-check-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check connector simulator cli.py

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

demo: install
	$(BIN)/idesk-connector demo

demo-merged: install
	$(BIN)/idesk-connector demo --merged

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(WHEELHOUSE) demo .pytest_cache .mypy_cache .ruff_cache
