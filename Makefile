# `make bench` and `make test` are self-contained: they create .venv when missing and install.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sslbench-installed
PYTEST_ARGS ?=
# The exact tested set; constraints-gpu-image.txt is the GPU image's (with its own PYTHON and VENV).
CONSTRAINTS ?= constraints.txt
# Real data: $SSLBENCH_DATA_DIR if set, else ../shared/data when it sits beside the checkout;
# otherwise adapters download the official files into ~/.cache/sslbench/data.
SSLBENCH_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export SSLBENCH_DATA_DIR

.PHONY: bench test install clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[test,dist]'
	@touch $(STAMP)

install: $(STAMP)

# `make bench DATASETS=fashion_mnist` runs one slice of the quick suite (comma-separated names).
DATASETS ?=
bench: $(STAMP)
	$(PY) run_benchmark.py run --suite quick $(if $(DATASETS),--datasets $(DATASETS),)

# Lint and format check first (ruff, settings in pyproject.toml), then the tests; the layer rules
# are tests/test_architecture.py.
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf results .pytest_cache
