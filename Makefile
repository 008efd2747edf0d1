# Two entry points a new user needs: `make report` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLES := samples

.PHONY: setup report test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Verify, assess and render the sample receipts against every shipped framework. The samples
# carry deliberate defects (samples/README.md), so the command exits 1 by design; only a
# usage or internal error (2, 3) fails this target.
report: setup
	@$(BIN)/agent-evidence report $(SAMPLES)/receipts.db --keys $(SAMPLES)/trust.yaml \
		--witness $(SAMPLES)/witness.yaml --grants $(SAMPLES)/grants.yaml \
		--bodies $(SAMPLES)/bodies --period 2026-10 --organisation "Example Corp" --out out/sample; \
	status=$$?; \
	if [ $$status -le 1 ]; then echo "report exit $$status (1 = the deliberate sample defects were found)"; \
	else exit $$status; fi

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python bench/verify_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
