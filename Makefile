# fetchall — developer entry points. Everything runs inside .venv (created on first use).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck check clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,fast,brotli,dev,plot]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## start the built-in server, fetch urls/demo.txt into downloads/
	@# the demo list holds one deliberate 404, so fetchall exits 1; anything else is a failure
	$(VENV)/bin/fetchall demo || test $$? -eq 1

test: $(STAMP)  ## the whole test suite (what CI runs)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check fetchall tests benchmarks
	$(VENV)/bin/ruff format --check fetchall tests benchmarks

typecheck: $(STAMP)  ## mypy --strict on the package, and on a user's script of the public API
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict tests/typed/api_usage.py

check: lint typecheck test

clean:
	rm -rf $(VENV) downloads .pytest_cache .mypy_cache .ruff_cache
