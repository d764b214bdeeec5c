# Two entry points, both self-installing on a fresh machine:
#   make run   - the daemon on the shipped config.toml
#   make test  - the quality gates (ruff, mypy) and the whole test suite
VENV ?= .venv
PYTHON ?= python3

.PHONY: run demo test lint system-deps faults bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/slamon run --config config.toml

# The 5-minute tour on bundled sample data: a month of samples, ingested, reported.
demo: $(VENV)/.installed
	mkdir -p var
	$(VENV)/bin/python samples/generate.py --out var/sample-2026-11.jsonl
	SLAMON_CONFIG=samples/tour.toml $(VENV)/bin/slamon ingest var/sample-2026-11.jsonl
	SLAMON_CONFIG=samples/tour.toml $(VENV)/bin/slamon report --period 2026-11 --format md

# Debian packages the tests need (promtool); a no-op when already installed.
system-deps:
	bash scripts/system-deps.sh

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: system-deps lint
	$(VENV)/bin/python -m pytest

# The fault suite alone, with its figures (kill -9 loop, a stopped daemon, an egress cut in a network
# namespace, disk full, a poison row, ledger tampering); `make test` runs it too. Needs root (netns).
faults: system-deps $(VENV)/.installed
	$(VENV)/bin/python -m pytest tests/faults -q -s -p no:randomly

bench: $(VENV)/.installed
	$(VENV)/bin/python bench/accounting.py

clean:
	rm -rf $(VENV) var
