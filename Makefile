# paysys: the two commands a newcomer needs are `make run` and `make test`.
# Both create .venv and install what they need from the lock (requirements/*.txt, every
# package pinned with hashes); nothing else has to be on the machine beyond Python 3.11+.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
BENCH_ARGS ?=
# `make chaos` runs a short campaign; SEED=n replays seed n alone, SEEDS=200 runs a long one.
SEEDS ?= 2
SEED  ?=
CHAOS_ARGS ?=
# `make lock LOCK_ARGS=--upgrade` (or --upgrade-package NAME) moves pins on purpose.
LOCK_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv run test test-fast test-localstack lint lock lock-check fmt docs vendor dashboard bench soak chaos clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# pip and the build backend (build.txt), then paysys[dev] (dev.txt), then paysys itself,
# built by that pinned backend: nothing is installed that the lock does not pin. tools/ is the
# dev tooling (paysys-tools: the bench, emulator launchers, proxies), never in the wheel or image.
$(STAMP): pyproject.toml tools/pyproject.toml requirements/build.txt requirements/dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "paysys needs Python 3.11 or newer (PYTHON=$(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/build.txt
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . -e tools
	@touch $@

venv: $(STAMP) ## create .venv with paysys, its dev dependencies and tools/

run: $(STAMP) ## run the whole system on the embedded emulator (Ctrl-C stops it)
	$(BIN)/paysys local

test: $(STAMP) ## run the test suite against the embedded emulator
	$(BIN)/pytest

test-fast: $(STAMP) ## unit tests and the contract on the fakes: no emulator, a few seconds
	$(BIN)/pytest -m fast

# LocalStack's venv (Python 3.13) is made once in ~/.cache/paysys: install it ahead, so its
# time is not a test's.
test-localstack: $(STAMP) ## the portable tier on LocalStack's SNS/SQS (from PyPI, no Docker) + moto's DynamoDB
	$(BIN)/python -m paysys_tools.localstack
	PAYSYS_TEST_BACKEND=localstack $(BIN)/pytest -m backend_portable

lint: $(STAMP) lock-check ## the lock check, ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check src tests tools
	$(BIN)/ruff format --check src tests tools
	$(BIN)/mypy

lock: $(STAMP) ## re-resolve requirements/*.txt after a change to pyproject.toml (LOCK_ARGS=)
	@UV=$(BIN)/uv PYTHON=$(BIN)/python bash scripts/lock.sh lock $(LOCK_ARGS)

lock-check: $(STAMP) ## fail when pyproject.toml and requirements/*.txt disagree
	@UV=$(BIN)/uv PYTHON=$(BIN)/python bash scripts/lock.sh check

fmt: $(STAMP) ## format the code
	$(BIN)/ruff format src tests tools
	$(BIN)/ruff check --fix src tests tools

docs: $(STAMP) ## regenerate the settings table of docs/reference/configuration.md
	$(BIN)/python scripts/config_docs.py

# The pages' browser libraries (Swagger UI, uPlot), pinned by version and tarball sha256 in
# scripts/vendor_ui.py, fetched with `npm pack`; the result is committed, so nothing else needs
# npm or the network.
vendor: ## re-vendor the pinned browser libraries into src/paysys/api/static/vendor (needs npm)
	$(PYTHON) scripts/vendor_ui.py

dashboard: $(STAMP) ## rebuild deploy/grafana/paysys.json from tools/paysys_tools/dashboard.py
	$(BIN)/python -m paysys_tools.dashboard > deploy/grafana/paysys.json

clean: ## remove the venv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

bench: $(STAMP) ## benchmark against raw ceilings (BENCH_ARGS="--backend fast --json" ...)
	$(BIN)/paysys bench $(BENCH_ARGS)

chaos: $(STAMP) ## seeded fault campaign, checked; exit 1 on a violation (SEED=n, SEEDS=n)
	$(BIN)/python -m paysys_tools.chaos $(if $(SEED),--seeds 1 --seed $(SEED),--seeds $(SEEDS)) $(CHAOS_ARGS)

soak: $(STAMP) ## 10,000 payments at concurrency 64 through 2 workers (about 10 min here)
	$(BIN)/paysys bench --payments 10000 --concurrency 64 --workers 2 $(BENCH_ARGS)

-include deploy/deploy.mk
