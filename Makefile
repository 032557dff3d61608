# Both targets set themselves up: a fresh machine needs only Python 3.11+, pip and make.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: run serve test lint bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)          ## the provider on its embedded default (SQLite + SQL ephemeral store)
	$(BIN)/idp serve --port $(PORT)

serve: $(STAMP)        ## production server (granian, 2 workers); see docs/OPERATIONS.md
	$(BIN)/idp serve --production --port $(PORT)

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	bench/run.sh

clean:
	rm -rf $(VENV) instance .pytest_cache
