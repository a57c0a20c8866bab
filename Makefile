# mpirad: every target sets itself up on a fresh machine.
#   make book   build the Jupyter Book (HTML in _build/html); DATASET_A=, DATASET_B= (none: leave out), PROFILE=
#   make test   run the test suite
#   make lab    JupyterLab; the jupytext .py notebooks in book/ open as notebooks
#   make lab-check  open every book notebook in JupyterLab in headless Chromium, save, git status
#   make bench  print the benchmark tables
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mpirad-installed
# torch/torchvision are pinned once, in pyproject.toml; read the pair from there.
TORCH_PINS := $(shell grep -oE '"torch(vision)?==[^"]+"' pyproject.toml | tr -d '"' | tr '\n' ' ')
JOBS ?= 2
# The book's datasets (names in data_manifest.yaml; `none` leaves a study out) and profile.
DATASET_A ?= synthetic-a
DATASET_B ?= synthetic-b
PROFILE ?= quick

.PHONY: help venv test book book-check lab lab-check bench lint format run-all clean distclean

help:
	@sed -n '2,6p' Makefile

venv: $(STAMP)

# Created once and reused while pyproject.toml is unchanged.
# The torch/torchvision pair comes from PyPI itself (--isolated ignores a local pip
# configuration that may prefer a CPU-only torch wheel without a matching torchvision).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@if ! $(PY) -c "import torch, torchvision, torchvision.ops" 2>/dev/null; then \
	  echo "installing $(TORCH_PINS)"; \
	  $(PY) -m pip install --quiet --isolated $(TORCH_PINS); fi
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -c "import torchvision.ops, radiomics, mirp, mpirad; print('environment ready')"
	@touch $@

# dciodvfy (dicom3tools) and dcmdump (dcmtk) validate the DICOM SEG objects in the tests;
# installed when missing where apt-get may run (root), else the tests skip, saying why.
test: $(STAMP)
	@command -v dciodvfy >/dev/null && command -v dcmdump >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq dicom3tools dcmtk; } || \
	  echo "dicom3tools/dcmtk absent and not installable here (needs root and apt-get): the DICOM SEG validation tests skip"
	$(PY) -m pytest -n $(JOBS) --dist loadgroup

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The book: make its inputs for the chosen datasets (per-split notebooks with papermill,
# features, selection; steps whose record is current are reused), write build/book/
# (table of contents, dataset page), then build the HTML with Jupyter Book 1 (warnings
# are errors; exactly the pages whose inputs changed, or whose last run failed, are
# executed: mpirad.pipeline.pages), then check every page is current (book-verify).
# Split runs go two at a time, a torch thread each (mpirad.pipeline.steps.study_a_splits).
# Its phases and their times are printed last (mpirad.pipeline.phases).
# ALLOW_FAILURES=1: Study B patients whose extraction fails are left out and counted
# (mpirad book-inputs --allow-failures).
book: $(STAMP)
	@$(PY) -m mpirad.pipeline.phases mark
	$(VENV)/bin/mpirad book-inputs --profile $(PROFILE) --dataset-a $(DATASET_A) --dataset-b $(DATASET_B) $(if $(filter 1 yes true,$(ALLOW_FAILURES)),--allow-failures)
	@start=$$(date +%s.%N); set -x; \
	  $(VENV)/bin/jupyter-book build . -W --keep-going --toc build/book/_toc.yml; status=$$?; \
	  { set +x; } 2>/dev/null; $(PY) -m mpirad.pipeline.phases record "jupyter-book build" $$start; \
	  exit $$status
	$(VENV)/bin/mpirad book-verify
	@# the built HTML as a document (bookcheck --check); the width rule needs headless Chromium
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
	  $(PY) -m mpirad.jupyter.bookcheck --check _build/html; else \
	  echo "[book] no chromium/chromedriver: table widths not measured (make lab-check installs them)"; \
	  $(PY) -m mpirad.jupyter.bookcheck --check --no-layout _build/html; fi
	@# model weights and the generated synthetic cohorts hold no source identifiers; skip them
	$(VENV)/bin/mpirad guard build _build/html --exclude '*/checkpoints/*' --exclude 'build/data/*' --exclude 'build/bench/*'
	@$(PY) -m mpirad.pipeline.phases report

book-check: book
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(PY) -m mpirad.jupyter.bookcheck _build/html build/screenshots

# JupyterLab with the project's settings (.jupyter/: the book's .py files open as jupytext
# notebooks, unmodified: mpirad.jupyter.labcontents; a module under mpirad/, tests/ or
# benchmarks/ opened as one saves without a header: their jupytext.toml) and a fresh
# workspace each time, so
# no tabs (and kernels) of an earlier session come back. --allow-root only as root.
LAB_ENV := JUPYTER_CONFIG_PATH="$(CURDIR)/.jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}"
LAB_ARGS := --ServerApp.root_dir=. --LabApp.workspaces_dir=build/lab/workspaces \
	$(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	@rm -rf build/lab/workspaces && mkdir -p build/lab/workspaces
	$(LAB_ENV) $(VENV)/bin/jupyter lab $(LAB_ARGS) $(LAB_OPTS)

# JupyterLab as a reader uses it, in headless Chromium (Selenium, the dev extra): every book
# notebook opened by double-click renders as a notebook with its parameters cell, unmodified;
# the first cells of book/datasets.py run; Ctrl+S leaves git status unchanged; a chapter and
# a module (mpirad/heart/polar.py) left open past an autosave (3 s here) are not written and
# close without a "Save your work?" prompt. Screenshots in build/screenshots/lab/. About a
# minute and a half on 2 cores.
lab-check: $(STAMP)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)
	$(PY) -m mpirad.jupyter.labcheck --out build/screenshots/lab

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf _build build .pytest_cache

distclean: clean
	rm -rf $(VENV)
