# The platform's front door. `make demo` and `make test` work on a fresh machine: they install
# what is missing first (idempotent, cached; a second run does no network work).
SHELL      := /bin/bash
PYTHON     ?= python3
VENV       := .venv
PY         := $(VENV)/bin/python
CLI        := $(VENV)/bin/credit-platform
UV_VERSION := 0.13.9
STAMP      := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup demo up down status test test-unit test-cluster lint lock clean

## setup: Python environment from the pinned requirements, then jars, FerretDB, Debian packages
setup: $(STAMP)
	@$(CLI) setup

$(STAMP): requirements.txt pyproject.toml
	@echo "==> setup: Python environment in $(VENV) from requirements.txt"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { echo "setup: cannot create a venv with $(PYTHON); install python3.11-venv"; exit 1; }
	@$(PY) -m pip install -q --disable-pip-version-check uv==$(UV_VERSION) || { echo "setup: pip could not install uv from PyPI"; exit 1; }
	@$(VENV)/bin/uv pip install --python $(PY) --no-deps -r requirements.txt -e . || { echo "setup: installing requirements.txt failed (see above)"; exit 1; }
	@# Byte-compile once: with PYTHONDONTWRITEBYTECODE set, every Airflow task, Spark worker and GX
	@# run would otherwise re-parse its imports from source (GX import: 12 s -> 4 s here).
	@$(PY) -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
	@touch $(STAMP)

## demo: the main job, end to end on the embedded platform (leaves it running; `make down` stops it)
demo: setup
	@$(CLI) demo

up: setup
	@$(CLI) up

down:
	@test -x $(CLI) && $(CLI) down || true

status:
	@$(CLI) status

## test: unit tests, then integration tests against real services the test session starts
test: setup
	@$(PY) -m pytest $(PYTEST_ARGS)

test-unit: setup
	@$(PY) -m pytest tests/unit $(PYTEST_ARGS)

## test-cluster: the fault tests alone, on a platform instance of the cluster topology (also part of `test`)
test-cluster: setup
	@$(PY) -m pytest tests/cluster $(PYTEST_ARGS)

lint: setup
	@$(VENV)/bin/ruff check src tests dags plugins jobs bench

## lock: recompile requirements.txt from requirements.in, and Superset's beside its .in (needs PyPI)
lock: setup
	@$(VENV)/bin/uv pip compile requirements.in -o requirements.txt --python-version 3.11
	@$(VENV)/bin/uv pip compile deps/superset/requirements.in -o deps/superset/requirements.txt --python-version 3.11

clean: down
	rm -rf .platform .platform-test .platform-cluster-test $(VENV)
