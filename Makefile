# fetchall — developer entry points. Everything runs inside .venv (created on first use).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck check docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,fast,brotli,dev,plot,docs,dask]'
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

# NO_MKDOCS_2_WARNING: mkdocs-material prints a banner about its end of life (May 2027; Zensical
# is its successor) on every build; it is not a build warning and would only clutter CI logs.
docs: $(STAMP)  ## the documentation site (docs/, mkdocs.yml) into site/; strict: no broken link
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) downloads site .pytest_cache .mypy_cache .ruff_cache
