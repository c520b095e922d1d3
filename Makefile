# Dukaan: `make run` to try it, `make test` to test it. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := wsgi

.PHONY: run test test-fast bench loadtest install clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

## Set up, migrate, load the demo store and serve the app.
run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo
	@echo
	@echo "  Dashboard:  http://$(HOST):$(PORT)/dashboard/products  (log in as demo / demo1234)"
	@echo "  Store link: http://$(HOST):$(PORT)/order/demo"
	@echo
	$(BIN)/flask run --host $(HOST) --port $(PORT)

## Set up, lint and run the whole test suite.
test: install
	$(BIN)/ruff check .
	$(BIN)/pytest

## The fast tiers (unit and web) on both cores, in well under a minute.
test-fast: install
	$(BIN)/ruff check .
	$(BIN)/pytest -m "unit or web" -n 2

## Sale-day benchmark on the native stack (BENCH_ARGS="--products 500" for a big store).
bench: install
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

## A sale day in Locust against the native stack (LOADTEST_USERS, LOADTEST_SECONDS), stock checked after.
loadtest: install
	scripts/loadtest

clean:
	rm -rf $(VENV) instance .pytest_cache .stack .stack-bench artifacts
