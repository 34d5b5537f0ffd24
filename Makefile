# `make test` and `make book` create .venv on first use, install the pinned environment and run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= default
export PATH := $(abspath $(VENV))/bin:$(PATH)
export WANDB_MODE ?= offline

.PHONY: install test lint book notebooks clean mmdet
MMDET_STAMP := $(VENV)/.mmdet-installed

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# MMDetection 3.3 needs mmcv 2.1.0 built from source with its C++ ops, in a pip call of its own
# after torch (installed together, mmcv silently builds without ops). About 5 minutes on 2 cores.
$(MMDET_STAMP): $(STAMP) requirements-mmdet.txt
	MMCV_WITH_OPS=1 MAX_JOBS=2 CFLAGS="-DNDEBUG -g0 -fwrapv -O3 -Wall" \
		$(PY) -m pip install --no-build-isolation --no-cache-dir mmcv==2.1.0
	$(PY) -m pip install -r requirements-mmdet.txt
	$(PY) -c "import mmcv.ops, mmdet; print('mmcv', mmcv.__version__, 'with ops; mmdet', mmdet.__version__)"
	touch $@

mmdet: $(MMDET_STAMP)

test: $(STAMP)
	$(PY) -m ruff check ecalib tests tools benchmarks book
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check ecalib tests tools benchmarks book

book: $(STAMP)
	$(PY) tools/run_notebooks.py --profile $(PROFILE) --out book/executed
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

# Regenerate notebooks/*.ipynb from tools/make_notebooks.py (developers only).
notebooks: $(STAMP)
	$(PY) tools/make_notebooks.py

clean:
	rm -rf _build book/executed
