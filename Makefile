# The two commands of the README: `make demo` and `make test`. Each builds .venv on first use.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
READY := $(VENV)/.dancerec-ready

.PHONY: demo test lint format bench setup clean

$(READY): pyproject.toml .ci/setup.sh
	bash .ci/setup.sh $(VENV)
	@touch $@

setup: $(READY)

demo: $(READY)  ## run the whole study on generated data
	rm -rf demo-study
	$(VENV)/bin/dancerec demo --study demo-study

test: $(READY)  ## lint and run the test suite
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

lint: $(READY)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(READY)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(READY)  ## benchmarks (not part of the tests)
	$(PY) -m pytest benchmarks -q --benchmark-only -p no:randomly

clean:
	rm -rf $(VENV) build dist *.egg-info
