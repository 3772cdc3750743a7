# Two commands for a fresh clone: `make demo` and `make test`. Each sets up its own venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO ?= examples/pipelines/iris
FORECAST := examples/pipelines/forecast

.PHONY: demo demo-forecast test test-deps lint docs install bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

demo: $(STAMP)
	cd $(DEMO) && rm -rf .mlpipe out mlpipe.lock
	@echo "== first run: ingest iris, validate, train, evaluate with gates, register, batch-score"
	cd $(DEMO) && $(CURDIR)/$(BIN)/mlpipe run
	@echo "== second run: nothing changed, nothing runs"
	cd $(DEMO) && $(CURDIR)/$(BIN)/mlpipe run
	@echo "== a hyperparameter changes for one run: train and what follows run; ingest and validate do not"
	cd $(DEMO) && $(CURDIR)/$(BIN)/mlpipe run -S model.C=0.5
	@echo "== a much weaker model: the evaluation gate stops it before register (exit 1, expected here)"
	-cd $(DEMO) && $(CURDIR)/$(BIN)/mlpipe run -S model.C=0.05
	@echo "== back to the declared params: restored from the cache, nothing retrains"
	cd $(DEMO) && $(CURDIR)/$(BIN)/mlpipe run
	cd $(DEMO) && $(CURDIR)/$(BIN)/mlpipe dag
	cd $(DEMO) && $(CURDIR)/$(BIN)/mlpipe metrics show
	cd $(DEMO) && $(CURDIR)/$(BIN)/mlpipe models list
	cd $(DEMO) && $(CURDIR)/$(BIN)/mlpipe models card iris
	cd $(DEMO) && $(CURDIR)/$(BIN)/mlpipe report -o out/report.html
	@echo "== open $(DEMO)/out/report.html in a browser"

demo-forecast: $(STAMP)
	cd $(FORECAST) && rm -rf .mlpipe out mlpipe.lock
	cd $(FORECAST) && $(CURDIR)/$(BIN)/mlpipe run
	cd $(FORECAST) && $(CURDIR)/$(BIN)/mlpipe run -S train.alpha=5
	cd $(FORECAST) && $(CURDIR)/$(BIN)/mlpipe run
	cd $(FORECAST) && cat out/metrics.json

# The benchmark against DVC: its own venv (mlpipe and DVC from PyPI), then benchmarks/bench.py.
# BENCH_ARGS: --quick (fewer repetitions), --large (adds a 1 GB cold run), --reps N.
BENCH_VENV ?= .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
BENCH_ARGS ?=

$(BENCH_STAMP): pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet . 'dvc>=3.50'
	rm -f $(BENCH_VENV)/.installed-*
	touch $@

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall .
	$(BENCH_VENV)/bin/python benchmarks/bench.py $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# The documentation site (docs/, mkdocs.yml): a broken link or page fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Headless Chromium for the report's page test: installed when missing, or one line on what to do.
test-deps:
	@scripts/test-deps.sh

test: lint docs test-deps
	$(BIN)/pytest -n 2 -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
