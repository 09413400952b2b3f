# Developer entry points. The two commands in README.md are `make demo` and
# `make test`; each sets up everything it needs on a fresh Debian machine.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PYTEST := $(BIN)/python -m pytest

.PHONY: help setup postgres-binaries pg-cron browser citus test lint typecheck docs bench matrix demo demo-server demo-reset clean

help:
	@echo "make demo   - run the demo project (records, rotates and archives events)"
	@echo "make test   - run the whole test suite with coverage"
	@echo "make demo-reset - stop the demo's server and delete its database (example/.pgdata)"
	@echo "make lint / typecheck / docs / bench"

$(BIN)/python:
	@# Debian ships venv separately (python3-venv): install it when missing, as root.
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
	  && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamp is remade whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed postgres-binaries pg-cron

# PostgreSQL server binaries for the throwaway test/demo server. Skipped when
# DATABASE_URL points at an existing server.
postgres-binaries:
	@if [ -z "$$DATABASE_URL" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	    && ! command -v initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing PostgreSQL server binaries (apt-get install postgresql)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else \
	    echo "PostgreSQL server binaries not found: install them (apt-get install postgresql) or set DATABASE_URL" >&2; exit 1; \
	  fi; \
	fi

# pg_cron for tests/test_pg_cron.py (a real pg_cron runs the documented job), for
# every PostgreSQL major installed here that lacks it.
pg-cron: postgres-binaries
	@if [ -z "$$DATABASE_URL" ]; then for bindir in /usr/lib/postgresql/*/bin; do \
	  major=$$(basename $$(dirname $$bindir)); \
	  [ -e "$$($$bindir/pg_config --pkglibdir 2>/dev/null)/pg_cron.so" ] && continue; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing pg_cron (apt-get install postgresql-$$major-cron)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-$$major-cron >/dev/null \
	      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-$$major-cron >/dev/null; }; \
	  else \
	    echo "pg_cron not found for PostgreSQL $$major: tests/test_pg_cron.py is skipped (apt-get install postgresql-$$major-cron)" >&2; \
	  fi; \
	done; fi

# Chromium for the admin's browser test (tests/test_admin_browser.py), driven by
# Playwright; Playwright cannot download its own browsers here, Debian's is used.
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Chromium for the browser test (apt-get install chromium)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Chromium not found: install it (apt-get install chromium) for tests/test_admin_browser.py" >&2; exit 1; \
	  fi; \
	fi

# Citus for tests/citus/ (a real coordinator and two workers): built from the
# source archive beside the project (../shared/citus/install.sh) when that script
# is there, Citus is not installed yet and we are root (about 2 minutes; the
# script exits at once when Citus is installed). Without it tests/citus is skipped.
CITUS_INSTALL ?= ../shared/citus/install.sh
citus:
	@if [ -f "$(CITUS_INSTALL)" ] && [ "$$(id -u)" = 0 ] \
	    && ! ls /usr/lib/postgresql/15/lib/citus.so >/dev/null 2>&1; then \
	  mkdir -p build; echo "Installing Citus with $(CITUS_INSTALL) (log: build/citus-install.log)"; \
	  bash "$(CITUS_INSTALL)" > build/citus-install.log 2>&1 \
	    || { tail -n 30 build/citus-install.log; echo "Citus build failed (see build/citus-install.log)"; exit 1; } >&2; \
	fi

# The whole suite: quality gates, the tests (default and swapped models) with
# coverage, then the other Django/Python/PostgreSQL combinations of the matrix
# whose interpreters this machine has (noxfile.py). Every stage runs even when
# an earlier one failed; the log ends with one line per stage ("passed" or
# "failed") and the exit status is non-zero if any stage failed.
test: setup browser
	@failed=0; summary=""; \
	stage() { name="$$1"; shift; echo "==> make test: $$name"; \
	  if "$$@"; then summary="$$summary$$name: passed\n"; \
	  else summary="$$summary$$name: FAILED\n"; failed=1; fi; }; \
	stage "lint" $(MAKE) --no-print-directory lint; \
	stage "typecheck" $(MAKE) --no-print-directory typecheck; \
	stage "docs" $(MAKE) --no-print-directory docs; \
	stage "main suite" $(PYTEST) --cov --cov-report= $(PYTEST_ARGS); \
	stage "swapped suite" env AUDIT_EVENTS_SWAPPED=1 $(PYTEST) --ds=tests.settings_swapped \
	  tests/swapped --cov --cov-append $(PYTEST_ARGS); \
	stage "migrations-disabled suite" env AUDIT_EVENTS_NOMIGRATIONS=1 $(PYTEST) --nomigrations \
	  tests/nomigrations --cov --cov-append $(PYTEST_ARGS); \
	stage "citus install" $(MAKE) --no-print-directory citus; \
	stage "citus suite" env AUDIT_EVENTS_CITUS=1 $(PYTEST) --ds=tests.settings_citus tests/citus \
	  --cov --cov-append --cov-report=term $(PYTEST_ARGS); \
	stage "matrix" $(BIN)/nox --no-error-on-missing-interpreters -t others $(NOX_ARGS); \
	printf "\n== make test summary ==\n$$summary"; \
	exit $$failed

# Django x Python x PostgreSQL combinations (noxfile.py); results go in docs/installation.md.
matrix: setup
	$(BIN)/nox $(NOX_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy audit_events

docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir build/site

bench: setup
	$(BIN)/python -m bench $(BENCH_ARGS)

demo: setup
	$(BIN)/python example/manage.py demo $(DEMO_ARGS)

# The demo's site, on the database the demo filled (Ctrl-C to stop).
demo-server: setup
	$(BIN)/python example/manage.py runserver --noreload 127.0.0.1:8000

# Start the demo from an empty database: stop its server if one still runs and
# remove its data directory (example/.pgdata).
demo-reset:
	@if [ -f example/.pgdata/postmaster.pid ] && [ -x $(BIN)/python ]; then \
	  $(BIN)/python example/manage.py --stop-server; fi
	rm -rf example/.pgdata

clean:
	rm -rf $(VENV) build dist site .coverage htmlcov
