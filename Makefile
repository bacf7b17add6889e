# fetchall — developer entry points. Everything runs inside .venv (created on first use).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test compiled pure test-compiled lint typecheck check docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,fast,brotli,dev,plot,docs,dask]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## start the built-in server, fetch urls/demo.txt into downloads/
	@# the demo list holds one deliberate 404, so fetchall exits 1; anything else is a failure
	$(VENV)/bin/fetchall demo || test $$? -eq 1

test: $(STAMP)  ## the whole test suite on the pure-Python modules (what CI runs)
	FETCHALL_PURE=1 FETCHALL_EXPECT_BUILD="pure Python" $(PY) -m pytest -q

# The optional compiled build (fetchall/build.py): mypyc compiles the hot modules in place, beside
# their sources; FETCHALL_PURE=1 still runs the pure ones, and so does a build older than them.
compiled: $(STAMP)  ## compile the hot modules with mypyc, in place (needs a C compiler)
	find fetchall -name '*.so' -delete  # a module dropped from COMPILED must not keep its build
	FETCHALL_MYPYC=1 $(PY) setup.py -q build_ext --inplace

pure:  ## remove the compiled modules (back to the pure-Python build)
	rm -rf build
	find fetchall -name '*.so' -delete

test-compiled: compiled  ## the whole test suite again, on the compiled build (CI runs it after make test)
	FETCHALL_EXPECT_BUILD=mypyc $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check fetchall tests benchmarks setup.py
	$(VENV)/bin/ruff format --check fetchall tests benchmarks setup.py

typecheck: $(STAMP)  ## mypy --strict on the package, and on a user's script of the public API
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict tests/typed/api_usage.py

check: lint typecheck test

# NO_MKDOCS_2_WARNING: mkdocs-material prints a banner about its end of life (May 2027; Zensical
# is its successor) on every build; it is not a build warning and would only clutter CI logs.
docs: $(STAMP)  ## the documentation site (docs/, mkdocs.yml) into site/; strict: no broken link
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

clean: pure
	rm -rf $(VENV) downloads site .pytest_cache .mypy_cache .ruff_cache
