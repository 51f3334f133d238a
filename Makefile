# The two commands of README.md: `make run` (the service) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test install schema bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet ".[test]"
	touch $(STAMP)

install: $(STAMP)

# Embedded default without DATABASE_URL: SQLite in var/, tasks in-process, periodic jobs in a thread.
run: $(STAMP)
	DEBUG=$${DEBUG:-true} $(PY) manage.py serve --addr 127.0.0.1:8000

# PostgreSQL and Redis when reachable (required when CI=true), else SQLite with a printed skip list.
test: $(STAMP)
	$(PY) -m tests.runner $(PYTEST_ARGS)

schema: $(STAMP)
	DEBUG=true $(PY) manage.py spectacular --fail-on-warn --file var/openapi.yaml

bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
