# Two entry points, both self-installing on a fresh machine:
#   make run   - the daemon on the shipped config.toml
#   make test  - the whole test suite
VENV ?= .venv
PYTHON ?= python3

.PHONY: run demo test system-deps bench clean

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
	$(VENV)/bin/slamon ingest var/sample-2026-11.jsonl --config samples/tour.toml
	$(VENV)/bin/slamon report --period 2026-11 --format md --config samples/tour.toml

# Debian packages the tests need (promtool); a no-op when already installed.
system-deps:
	bash scripts/system-deps.sh

test: system-deps $(VENV)/.installed
	$(VENV)/bin/python -m pytest

bench: $(VENV)/.installed
	$(VENV)/bin/python bench/accounting.py

clean:
	rm -rf $(VENV) var
