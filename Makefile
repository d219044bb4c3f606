# The two commands a user needs: `make demo` and `make test`.
# Each creates .venv and installs what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SCALE ?= default

.PHONY: demo test test-fast lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/her2map demo --scale $(SCALE) --out runs/demo

# Lint, types, then the suite with its coverage floor; the JUnit XML feeds the outcomes of the
# requirement-tagged tests into the demo dossiers' traceability matrix.
test: $(STAMP)
	$(VENV)/bin/ruff check her2map validation tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	mkdir -p runs
	$(PY) -m pytest --cov --cov-report=term:skip-covered --junitxml=runs/junit.xml

# The inner loop: lint, the import contracts and every test not marked slow (no coverage floor).
test-fast: $(STAMP)
	$(VENV)/bin/ruff check her2map validation tests benchmarks
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -m "not slow" -q -x

lint: $(STAMP)
	$(VENV)/bin/ruff check her2map validation tests benchmarks
	$(VENV)/bin/ruff format --check her2map validation tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# confidenceinterval 1.0.5 pins setuptools~=68.2, which conflicts with torch 2.13's
# setuptools>=77; it needs nothing the venv lacks, so it is installed without its pins.
bench: $(STAMP)
	$(PY) -m pip install --quiet --no-deps confidenceinterval==1.0.5
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) runs
