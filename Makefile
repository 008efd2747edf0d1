# Two entry points a new user needs: `make report` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLES := samples

.PHONY: setup report test check lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# the distribution was once named agent-evidence, like an unrelated project on PyPI
	$(BIN)/python -m pip uninstall --quiet --yes agent-evidence 2>/dev/null || true
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# bytecode now, as a wheel's install writes it: with PYTHONDONTWRITEBYTECODE set, every
	@# run would compile each module it imports again (a third of a verify's start-up)
	$(BIN)/python -m compileall -q reporting
	touch $@

# Verify, assess, render and sign (ephemeral demo key) the sample receipts against every
# shipped framework, then print where the PDF and HTML are.
DEMO_OUT ?= out/demo

report: setup
	$(BIN)/agent-evidence demo --out $(DEMO_OUT)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Everything, with thorough property tests (hypothesis profile ci); what CI runs.
test: lint
	HYPOTHESIS_PROFILE=ci $(BIN)/pytest --durations=25

# The development loop: lint, then every test but those marked slow, with quick property
# tests (hypothesis profile dev). Minutes on two cores; `make test` before you push.
check: lint
	HYPOTHESIS_PROFILE=dev $(BIN)/pytest -m "not slow" --durations=25

# Verifier throughput, then end-to-end `report` at each size (synthetic data is generated
# once into .bench-cache/; 1M takes minutes and several GB): make bench BENCH_SIZES=10k,100k
BENCH_SIZES ?= 10k,100k,1M

bench: setup
	$(BIN)/python bench/verify_bench.py
	$(BIN)/python bench/report_bench.py --sizes $(BENCH_SIZES)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
