# `make test` and `make book` create .venv on first use, install the pinned environment and run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= default
export PATH := $(abspath $(VENV))/bin:$(PATH)
export WANDB_MODE ?= offline

.PHONY: install test lint book notebooks clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m ruff check ecalib tests tools benchmarks
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check ecalib tests tools benchmarks

book: $(STAMP)
	$(PY) tools/run_notebooks.py --profile $(PROFILE) --out book/executed
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

# Regenerate notebooks/*.ipynb from tools/make_notebooks.py (developers only).
notebooks: $(STAMP)
	$(PY) tools/make_notebooks.py

clean:
	rm -rf _build book/executed
