# The README's two commands: `make demo` (whole chain, offline) and `make test` (lint, types, all tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
SOURCE ?=
LAYOUT ?=

.PHONY: setup demo dev test lint typecheck bench clean system-test-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(UV): $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"

# Installs exactly the locked dependency set (uv.lock); no system packages needed.
setup: $(UV)
	$(UV) sync --frozen --quiet --compile-bytecode --python $(BIN)/python
	@mkdir -p $(DAGSTER_HOME) && cp -n dagster.yaml $(DAGSTER_HOME)/dagster.yaml 2>/dev/null || true

# Last line of output: the absolute path of the finished short.
demo: setup
	$(BIN)/shorts db upgrade
	$(BIN)/shorts demo $(if $(SOURCE),--source "$(SOURCE)") $(if $(LAYOUT),--layout $(LAYOUT))

# The Dagster UI (webserver + daemon) on http://127.0.0.1:3000 with every partition made so far.
dev: setup
	$(BIN)/shorts db upgrade
	$(BIN)/shorts pools
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q -n auto --dist loadfile --durations=15

bench: setup
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf var .dagster_home .pytest_cache .mypy_cache .ruff_cache

# Debian packages for the browser, proxy and espeak tests (skipped without them locally; CI=true fails instead).
# Each package installs a command of its name: a machine that has them all pays three lookups and no apt run.
system-test-deps:
	@missing="$$(for pkg in chromium caddy espeak-ng; do command -v $$pkg >/dev/null || echo $$pkg; done)"; \
	if [ -n "$$missing" ]; then \
		echo "installing" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
