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

bench: install  ## the performance figures quoted in the README
	$(BIN)/python -m benchmarks.settings
	$(BIN)/python -m benchmarks.autopay
	$(BIN)/python -m benchmarks.notifier
