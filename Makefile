# Every target sets up .venv first (once, and again when pyproject.toml or constraints.txt
# changes), then makes sure Fashion-MNIST is there (cached, Debian's package, or downloaded).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Hide TensorFlow's start-up log lines (they differ from machine to machine).
export TF_CPP_MIN_LOG_LEVEL ?= 2
# TensorFlow's oneDNN kernels on every x86-64 CPU, not only on those it picks them for by itself
# (AVX-512 VNNI, bfloat16, AMX): training is faster on the others (benchmarks/onednn.py).
ifeq ($(shell uname -m 2>/dev/null),x86_64)
export TF_ENABLE_ONEDNN_OPTS ?= 1
endif
# The Python versions that the pinned TensorFlow (constraints.txt) has wheels for.
PYTHON_VERSIONS := 3.11 3.12 3.13
PYTHON_VERSIONS_TEXT := 3.11, 3.12 or 3.13
# Extra arguments for `jupyter lab`, e.g. make lab LAB_ARGS="--no-browser --port=8890"
LAB_ARGS ?=
# Jupyter refuses to start as root (a Docker container, a lab VM) unless told it may.
ROOT_FLAG := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)
CHECK_PYTHON = -c 'import sys; v = "%d.%d" % sys.version_info[:2]; sys.exit(0 if v in "$(PYTHON_VERSIONS)".split() else f"Python {v} ({sys.executable}) has no wheel of the pinned TensorFlow (constraints.txt). Install Python $(PYTHON_VERSIONS_TEXT), then run: make clean; make PYTHON=python3.12 (the one you installed)")'

.PHONY: lab test check notebooks run images student site setup data upgrade clean clean-models

$(VENV)/.installed: pyproject.toml constraints.txt jupyterlab-overrides.json
	@$(PYTHON) $(CHECK_PYTHON)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python $(CHECK_PYTHON)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e ".[test]"
	# TensorFlow's C++ start-up lines go to the terminal, not into every notebook's first cell.
	mkdir -p $(VENV)/etc/ipython
	echo "c.IPKernelApp.capture_fd_output = False" > $(VENV)/etc/ipython/ipython_kernel_config.py
	# JupyterLab's defaults for this environment: no "get notified about Jupyter news?" prompt.
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp jupyterlab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $@

setup: $(VENV)/.installed

data: setup
	$(BIN)/python -m helpers.data

lab: data  ## start JupyterLab on the notebooks
	$(BIN)/jupyter lab $(ROOT_FLAG) $(LAB_ARGS) notebooks/

test: data  ## lint, unit tests, and every notebook against its stored outputs
	$(BIN)/ruff check .
	$(BIN)/pytest --nbval --nbval-current-env --nbval-cell-timeout=1800

check: setup  ## the quick loop while developing: lint, and the unit tests not marked slow
	$(BIN)/ruff check .
	$(BIN)/pytest tests -m "not slow" -q

notebooks: data  ## re-execute every notebook in place in a clean kernel (refreshes stored outputs)
	$(BIN)/python benchmarks/run_notebooks.py --inplace

run: data  ## execute every notebook headless and print the seconds each takes
	$(BIN)/python benchmarks/run_notebooks.py

images: setup  ## redraw the figures in images/
	$(BIN)/python -m helpers.diagrams

site: setup  ## build the website of the notebooks, from their stored outputs, into build/site
	$(BIN)/sphinx-build -q -W --keep-going -d build/site-doctrees -c site . build/site
	@echo "Open build/site/index.html, or run: $(BIN)/python -m http.server -d build/site"

student:  ## write the student edition (no solutions) into build/student, ready to hand out
	$(PYTHON) tools/student_edition.py build/student

UPGRADE_VENV := .venv-upgrade
upgrade:  ## pin the newest releases in constraints.txt; then make clean notebooks test
	@$(PYTHON) $(CHECK_PYTHON)
	rm -rf $(UPGRADE_VENV)
	$(PYTHON) -m venv $(UPGRADE_VENV)
	$(UPGRADE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(UPGRADE_VENV)/bin/python -m pip install --quiet -e ".[test]"
	$(UPGRADE_VENV)/bin/python -m pip freeze --exclude-editable > constraints.new
	grep '^#' constraints.txt > constraints.tmp
	sed -n 's/^tensorflow[-_]cpu==/tensorflow==/p' constraints.new >> constraints.tmp
	cat constraints.new >> constraints.tmp
	mv constraints.tmp constraints.txt
	rm -rf constraints.new $(UPGRADE_VENV)
	@echo "constraints.txt now pins the newest releases: run make clean notebooks test, read the"
	@echo "notebooks' diffs, and commit constraints.txt with the new outputs."

clean:
	rm -rf $(VENV) $(UPGRADE_VENV) .pytest_cache .ruff_cache

clean-models: setup  ## delete the trained models, so that the notebooks train them again
	$(BIN)/python -m helpers.model_cache clean
