# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= config.yaml

.PHONY: run test install install-test check bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Runs the daemon on the embedded default config, with the bundled demo service
# started detached beside it (and stopped when the daemon exits).
run: install
	@mkdir -p data
	$(BIN)/watchdog demo-service --port 9798 --detach --pidfile data/demo.pid
	@trap '$(BIN)/watchdog demo-service --stop --pidfile data/demo.pid' EXIT INT TERM; \
	  $(BIN)/watchdog run -c $(CONFIG)

test: install-test
	$(BIN)/python -m pytest -q

check: install
	$(BIN)/watchdog check -c $(CONFIG)

bench: install-test
	$(BIN)/python benchmarks/probes.py --targets 2000 --interval 1 --duration 20

clean:
	rm -rf $(VENV) data .pytest_cache
