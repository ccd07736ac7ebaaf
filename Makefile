# Deal Coach: `make run` starts the bot, `make test` runs the tests. Each sets up .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint format bench preview clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Deal Coach needs Python 3.11 or newer; set PYTHON=python3.11 (or newer).")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

run: $(BIN)/.installed
	$(BIN)/dealcoach serve

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(BIN)/.installed
	$(BIN)/python -m bench.run

preview: $(BIN)/.installed
	$(BIN)/dealcoach preview

clean:
	rm -rf $(VENV) *.egg-info
