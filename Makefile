# Two commands for a fresh clone: `make demo` and `make test`. Each sets up its own venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO ?= examples/pipelines/forecast

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

demo: $(STAMP)
	cd $(DEMO) && rm -rf .mlpipe out mlpipe.lock
	@echo "== first run: every stage runs"
	cd $(DEMO) && $(CURDIR)/$(BIN)/mlpipe run
	@echo "== second run: nothing changed, nothing runs"
	cd $(DEMO) && $(CURDIR)/$(BIN)/mlpipe run
	@echo "== a param changes for one run: only the stages that use it, and after"
	cd $(DEMO) && $(CURDIR)/$(BIN)/mlpipe run -S train.alpha=5
	@echo "== back to the committed params: restored from the cache, nothing re-runs"
	cd $(DEMO) && $(CURDIR)/$(BIN)/mlpipe run
	cd $(DEMO) && $(CURDIR)/$(BIN)/mlpipe dag
	cd $(DEMO) && cat out/metrics.json

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -n 2 -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
