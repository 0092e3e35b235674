# Every target sets up .venv first (once, and again when pyproject.toml changes),
# then makes sure Fashion-MNIST is there (cached, Debian's package, or downloaded).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Hide TensorFlow's start-up log lines (they differ from machine to machine).
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: lab test notebooks run images setup data clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[test]"
	# TensorFlow's C++ start-up lines go to the terminal, not into every notebook's first cell.
	mkdir -p $(VENV)/etc/ipython
	echo "c.IPKernelApp.capture_fd_output = False" > $(VENV)/etc/ipython/ipython_kernel_config.py
	touch $@

setup: $(VENV)/.installed

data: setup
	$(BIN)/python -m helpers.data

lab: data  ## start JupyterLab on the notebooks
	$(BIN)/jupyter lab notebooks/

test: data  ## lint, unit tests, and every notebook against its stored outputs
	$(BIN)/ruff check .
	$(BIN)/pytest --nbval --nbval-current-env --nbval-cell-timeout=1800

notebooks: data  ## re-execute every notebook in place in a clean kernel (refreshes stored outputs)
	$(BIN)/python benchmarks/run_notebooks.py --inplace

run: data  ## execute every notebook headless and print the seconds each takes
	$(BIN)/python benchmarks/run_notebooks.py

images: setup  ## redraw the figures in images/
	$(BIN)/python -m helpers.diagrams

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
