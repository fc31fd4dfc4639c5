# forestsync — every target bootstraps what it needs (uv, the locked Python environment, Debian packages).
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif
VENV := .venv
PY := $(VENV)/bin/python

# Prefect stays on this machine: project-local home, no analytics, no telemetry.
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW := ignore
export UV_COMPILE_BYTECODE := 1

DEMO_USERS ?= 10000

.PHONY: help install samba-packages demo test check fmt bench-quick clean

help:
	@echo "make demo    generate a forest, sync it into the emulated tenant, show the result"
	@echo "make test    the whole test suite (starts a Samba AD DC and the Graph emulator on loopback)"
	@echo "make check   format check, lint, types, tests"
	@echo "make install the Python environment only"

$(VENV)/.installed: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode
	@touch $@

install: $(VENV)/.installed

samba-packages:
	bash scripts/samba-dc.sh install

demo: install
	bash scripts/demo.sh $(DEMO_USERS)

test: install samba-packages
	$(PY) -m pytest -q

check: install samba-packages
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench-quick: install
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b --quick | tail -n 1; done

clean:
	rm -rf .forestsync out .pytest_cache .mypy_cache .ruff_cache
