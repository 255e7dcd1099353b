# Two entry points: `make book` (the main job: the report) and `make test`.
# Both create .venv and install the project into it on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Point this at a copy of the EPFL data to run the real-data tests.
export MITOLIB_DATA ?= $(abspath $(wildcard ../shared/data/epfl_mito))
export TF_CPP_MIN_LOG_LEVEL ?= 2
# The results the book shows: cpu, the reference study on the EPFL data (results/cpu/, committed;
# a partly run study says so on its pages). smoke: the synthetic results, for quick checks.
export MITOLIB_BOOK_PROFILE ?= cpu

.PHONY: install test test-fast book smoke smoke-results reference bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[cpu,dev,book,export]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

# The BioImage Model Zoo's own model test (tests/test_zoo.py) runs bioimageio.core in an environment of its own:
# bioimageio.core 0.11.0 pins a bioimageio.spec that needs pydantic < 2.12; TensorFlow and Keras as in .venv.
ZOO_VENV ?= .zoo-venv
ZOO_STAMP := $(ZOO_VENV)/.installed
$(ZOO_STAMP): $(STAMP)
	$(PYTHON) -m venv $(ZOO_VENV)
	$(ZOO_VENV)/bin/pip install --quiet --upgrade pip
	$(ZOO_VENV)/bin/pip install --quiet "bioimageio.core==0.11.0" "pydantic<2.12" onnxruntime \
	  "tensorflow-cpu==$$($(BIN)/python -c 'from importlib.metadata import version; print(version("tensorflow-cpu"))')" \
	  "keras==$$($(BIN)/python -c 'from importlib.metadata import version; print(version("keras"))')"
	touch $(ZOO_STAMP)

test: $(STAMP) $(ZOO_STAMP)
	MITOLIB_ZOO_PYTHON=$(abspath $(ZOO_VENV))/bin/python $(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

smoke: $(STAMP)
	$(BIN)/mitolib train --profile smoke

# The studies the book reads, on synthetic data (minutes) or on the EPFL data (hours, resumable).
BOOK_STUDIES := bug_ablation seeds hyperparameter_optimization hyperparameter_reruns architectures
REFERENCE_STUDIES := seeds bug_ablation hyperparameter_optimization hyperparameter_reruns
JOBS ?= 1

smoke-results: $(STAMP)
	for study in $(BOOK_STUDIES); do \
	  $(BIN)/mitolib study run $$study --profile smoke --jobs $(JOBS); \
	  $(BIN)/mitolib study collect $$study --profile smoke || exit 1; \
	done

reference: $(STAMP)
	for study in $(REFERENCE_STUDIES); do \
	  $(BIN)/mitolib study run $$study --profile cpu --jobs $(JOBS); \
	  $(BIN)/mitolib study collect $$study --profile cpu --readme README.md || exit 1; \
	done

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

book: $(STAMP)
	$(BIN)/jupyter-book build book/ -W -n --keep-going

clean:
	rm -rf book/_build runs
