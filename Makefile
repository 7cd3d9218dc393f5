# Two commands do all the set-up on a fresh machine:
#   make demo   -> virtual environment + the built-in end-to-end pipeline
#   make test   -> virtual environment + the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# CPU wheel on local disk here; GPU users keep the torch they already have.
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/rom --threads 1 pipeline --demo -o demo-run

test: $(STAMP)
	$(PY) -m pytest -q -n 2

lint: $(STAMP)
	$(VENV)/bin/ruff check cli solvers data rom operators tests benchmarks

clean:
	rm -rf $(VENV) demo-run .pytest_cache
