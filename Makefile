PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run test lint format schemas bench

# The virtual environment is rebuilt when the dependencies change.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install  ## the whole system on the embedded default (Ctrl-C stops it)
	$(BIN)/portal-autopay dev

test: install lint  ## lint, contract drift check, then the whole suite over real servers
	$(BIN)/portal-autopay schemas export --check
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schemas: install  ## rewrite schemas/ from the pydantic models
	$(BIN)/portal-autopay schemas export

# e.g. make bench BENCH_ARGS="--broker apache-kafka --runs 5"
BENCH_ARGS ?=

bench: install  ## the performance figures quoted in the README, on both brokers side by side
	$(BIN)/python -m benchmarks.settings $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.autopay $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.notifier $(BENCH_ARGS)
