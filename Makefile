# EchoFS: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv install proto run-cluster test test-fast test-fault bench lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

proto: $(STAMP)
	$(BIN)/python -m tools.gen_proto

run-cluster: $(STAMP)
	$(BIN)/python -m tools.run_cluster

# The whole suite; slow fault tests run in their bounded form (ECHOFS_FAULT_SCALE=small).
test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit $(PYTEST_ARGS)

# Fault-injection and soak tests at full size.
test-fault: $(STAMP)
	ECHOFS_FAULT_SCALE=full $(BIN)/python -m pytest -q -p no:cacheprovider tests/fault $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt ruff mypy
	$(BIN)/ruff check .
	$(BIN)/mypy common master worker consistency_controller

clean:
	rm -rf $(VENV) var .pytest_cache
