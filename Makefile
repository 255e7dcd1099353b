# Two entry points: `make book` (the main job: the report) and `make test`.
# Both create .venv and install the project into it on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Point this at a copy of the EPFL data to run the real-data tests.
export MITOLIB_DATA ?= $(abspath $(wildcard ../shared/data/epfl_mito))
export TF_CPP_MIN_LOG_LEVEL ?= 2
# The results the book shows: smoke (synthetic, committed) until the reference study is complete.
export MITOLIB_BOOK_PROFILE ?= smoke

.PHONY: install test test-fast book smoke clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[cpu,dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

smoke: $(STAMP)
	$(BIN)/mitolib train --profile smoke

book: $(STAMP)
	$(BIN)/jupyter-book build book/ -W -n --keep-going

clean:
	rm -rf book/_build runs
