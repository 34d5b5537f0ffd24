# `make test` and `make book` create .venv on first use, install the pinned environment and run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= default
export PATH := $(abspath $(VENV))/bin:$(PATH)
export WANDB_MODE ?= offline

.PHONY: install test lint book browser-test binder-check notebooks clean mmdet
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
	$(PY) -m ruff check ecalib tests tools benchmarks book notebooks
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check ecalib tests tools benchmarks book notebooks

book: $(STAMP)
	$(PY) tools/run_notebooks.py --profile $(PROFILE) --out book/executed
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

# Checks of the built book (pytest marker browser, left out of `make test`): internal links, and every
# page in headless Chromium (/usr/bin/chromium, or ECALIB_CHROMIUM) with screenshots in _build/screenshots/.
# Builds the book first if there is none. Skips without a browser unless ECALIB_REQUIRE_BROWSER=1 (CI).
browser-test: $(STAMP)
	test -f _build/html/index.html || $(MAKE) book
	$(PY) -m pytest -m browser

# A fresh environment from binder/ alone runs the smoke profile within Binder's memory
# (tools/check_binder.py; report in _build/binder-check/report.json). Without access to the
# PyTorch CPU index it installs PyPI's torch of the same version instead, says so, and then only
# reports the memory limit (that build's peaks are ~300 MiB higher than the CPU wheels'); it links that
# build from .venv, where .venv has the same, rather than installing a second copy (~6 GB of disk).
BINDER_CHECK_ARGS ?= --pypi-torch-if-unreachable --memory-advisory-if-substituted --link-project-torch
binder-check: $(STAMP)
	$(PY) tools/check_binder.py $(BINDER_CHECK_ARGS)

# Each chapter's source is notebooks/<name>.py (py:percent, linted by ruff), paired by jupytext with
# the output-free notebooks/<name>.ipynb that papermill, Binder and Colab open (notebooks/jupytext.toml).
# After editing either one (an editor, or Jupyter without jupytext), this updates the other from
# whichever is newer; `make test` fails while a pair disagrees.
notebooks: $(STAMP)
	$(VENV)/bin/jupytext --sync notebooks/*.py

clean:
	rm -rf _build book/executed
