# OffCoder build and test entry points.
#
#   make run            install, ensure Docker and the sandbox images, start the server in dev mode
#   make test           install, ensure services, run the suite on the embedded PostgreSQL,
#                       then the data-layer tests (-m db) on the machine's PostgreSQL
#   make test-embedded  only the first half          make test-external  only the second half
#   make lint           ruff check, ruff format --check, mypy
#   make bench          job latency/throughput, output rate, runc/crun/gVisor side by side (root)
#   make bench-live     live log delivery to 1/10/100 Socket.IO subscribers vs raw python-socketio
#   make bench-ledger   ledger ops/s and p99, 1/8/32 clients, 1 hot or 100 wallets, vs a bare UPDATE
#   make bench-ai       the AI gateway's added latency over a direct SDK call (whole, first token)
#   make bench-claim    the plans and times of a worker's claim lookups on 320 000 jobs
#   make bench-ratelimits  what a rate-limit hit costs: PostgreSQL, Redis, memory
#   make install        create .venv and install the package with its dev extras (alias: venv)
#   make clean          remove .venv and caches
#
# Variables: PYTHON (python3), ARGS (serve --dev), PYTEST_ARGS (extra pytest arguments),
# TEST_WORKERS (3: test processes; 0 runs the suite in the make process itself),
# EXTERNAL_DATABASE_URL (postgresql://postgres@127.0.0.1:5432/postgres).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

ARGS ?= serve --dev
PYTEST_ARGS ?=
# Test processes (pytest-xdist) for the embedded half; each test file stays in one process, with
# its own embedded database. The external half runs in one process: its databases share one
# cluster, whose roles two processes setting up at once would update concurrently.
TEST_WORKERS ?= 3
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile
BENCH_LEDGER_ARGS ?=
EXTERNAL_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/postgres

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv install assets run test test-embedded test-external lint bench bench-live bench-ledger bench-ai bench-claim bench-ratelimits clean

help:
	@sed -n '3,15s/^# \{0,1\}//p' $(firstword $(MAKEFILE_LIST))

# ---------------------------------------------------------------------------------------------
# Virtual environment. The stamp is rebuilt when pyproject.toml changes (or the venv is gone).

venv install: $(STAMP)

$(STAMP): pyproject.toml
	@if [ ! -x "$(BIN)/python" ] || ! "$(BIN)/python" -m pip --version >/dev/null 2>&1; then \
	  rm -rf "$(VENV)"; \
	  echo "== creating $(VENV) with $(PYTHON) -m venv"; \
	  if ! $(PYTHON) -m venv "$(VENV)"; then \
	    rm -rf "$(VENV)"; \
	    if [ "$$(id -u)" = 0 ]; then \
	      echo "== $(PYTHON) -m venv failed (python3-venv missing?): installing python3-venv"; \
	      apt-get update; \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv; \
	      $(PYTHON) -m venv "$(VENV)"; \
	    else \
	      echo "error: '$(PYTHON) -m venv' failed; the python3-venv package is probably missing. Run:" >&2; \
	      echo "    sudo apt-get update && sudo apt-get install -y python3-venv" >&2; \
	      echo "then run make again." >&2; \
	      exit 1; \
	    fi; \
	  fi; \
	  "$(BIN)/python" -m pip install --quiet --upgrade pip; \
	fi
	@echo "== installing offcoder and its dev dependencies into $(VENV) (pip install -e '.[dev]')"
	@"$(BIN)/python" -m pip install --quiet -e '.[dev]'
	@touch "$(STAMP)"

# ---------------------------------------------------------------------------------------------

# The browser libraries, from the npm registry (assets/package-lock.json): Swagger UI and ReDoc
# for /docs and /redoc (served from here, never a CDN), axe-core for the accessibility tests. The console's own code (assets/src) is bundled by esbuild, with the
# libraries it imports (CodeMirror, ansi_up, qrcode, Socket.IO's client), into static/build
# (assets/build.mjs).
VENDOR := src/offcoder/console/static/vendor
BUILD := src/offcoder/console/static/build
ASSETS := $(VENDOR)/swagger-ui-bundle.js $(VENDOR)/swagger-ui.css \
	$(VENDOR)/favicon-32x32.png $(VENDOR)/redoc.standalone.js $(VENDOR)/axe.min.js
BUNDLES := $(BUILD)/shell.js $(BUILD)/ide.js $(BUILD)/account.js $(BUILD)/job.js $(BUILD)/sw.js
CONSOLE_SOURCES := $(shell find assets/src -name '*.js' 2>/dev/null) assets/build.mjs

assets: $(ASSETS) $(BUNDLES)

# One recipe makes them all (&: a grouped target).
$(ASSETS) &: assets/package.json assets/package-lock.json assets/.npmrc
	@if ! command -v npm >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "== npm missing: installing Debian's npm"; \
	    apt-get update; DEBIAN_FRONTEND=noninteractive apt-get install -y npm; \
	  else \
	    echo "error: npm is needed to install the web console's browser libraries. Run:" >&2; \
	    echo "    sudo apt-get update && sudo apt-get install -y npm" >&2; exit 1; \
	  fi; \
	fi
	@echo "== npm ci (assets/): the web console's browser libraries"
	@cd assets && npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p $(VENDOR)
	@cp assets/node_modules/swagger-ui-dist/swagger-ui-bundle.js \
	  assets/node_modules/swagger-ui-dist/swagger-ui.css \
	  assets/node_modules/swagger-ui-dist/favicon-32x32.png $(VENDOR)/
	@cp assets/node_modules/redoc/bundles/redoc.standalone.js $(VENDOR)/
	@cp assets/node_modules/axe-core/axe.min.js $(VENDOR)/
	@touch $(ASSETS)

$(BUNDLES) &: $(ASSETS) $(CONSOLE_SOURCES)
	@echo "== esbuild (assets/src): the web console's own code"
	@rm -rf $(BUILD)
	@cd assets && node build.mjs
	@touch $(BUNDLES)

# What running code needs, as make test ensures it: the Docker engine, the sandbox runtimes
# and images (built the first time: a few minutes, as root), the embedded PostgreSQL. Without
# root the script prints the exact commands; the server then starts anyway (sign-in, projects
# and files work) and says so, since jobs wait until the engine is there.
run: $(STAMP) $(ASSETS) $(BUNDLES)
	@bash scripts/ensure-services.sh embedded_postgres docker sandbox_runtimes runtime_images || \
	  echo "make run: jobs cannot run until the above is done; starting the server anyway" >&2
	$(BIN)/offcoder $(ARGS)

# Both halves always run; the target fails if either does (pytest's exit code 5, "no tests
# collected", is a failure too).
test: $(STAMP) $(ASSETS) $(BUNDLES)
	@bash scripts/ensure-services.sh
	@embedded=0; external=0; \
	echo "== pytest: whole suite on the embedded PostgreSQL"; \
	env -u OFFCODER_TEST_DATABASE_URL $(BIN)/pytest -q $(PYTEST_PARALLEL) $(PYTEST_ARGS) || embedded=$$?; \
	echo "== pytest -m db: data-layer tests on $(EXTERNAL_DATABASE_URL)"; \
	OFFCODER_TEST_DATABASE_URL='$(EXTERNAL_DATABASE_URL)' $(BIN)/pytest -q -m db $(PYTEST_ARGS) || external=$$?; \
	echo "== test results: embedded PostgreSQL exit $$embedded, external PostgreSQL exit $$external"; \
	[ "$$embedded" = 0 ] && [ "$$external" = 0 ]

test-embedded: $(STAMP) $(ASSETS) $(BUNDLES)
	@bash scripts/ensure-services.sh embedded_postgres docker sandbox_runtimes runtime_images redis chromium
	env -u OFFCODER_TEST_DATABASE_URL $(BIN)/pytest -q $(PYTEST_PARALLEL) $(PYTEST_ARGS)

test-external: $(STAMP)
	@bash scripts/ensure-services.sh postgres
	OFFCODER_TEST_DATABASE_URL='$(EXTERNAL_DATABASE_URL)' $(BIN)/pytest -q -m db $(PYTEST_ARGS)

# All three checks always run; the target fails if any does.
lint: $(STAMP)
	@status=0; \
	echo "== ruff check src tests"; \
	$(BIN)/ruff check src tests || status=1; \
	echo "== ruff format --check src tests"; \
	$(BIN)/ruff format --check src tests || status=1; \
	echo "== mypy"; \
	$(BIN)/mypy || status=1; \
	exit $$status

# The job benchmark (bench/jobs.py; figures in docs/performance.md), the sandbox-runtime cells
# (runc, crun, gVisor) included. Not a test: ~3-7 minutes.
bench: $(STAMP)
	@bash scripts/ensure-services.sh docker sandbox_runtimes runtime_images
	$(BIN)/python bench/jobs.py

# Live log delivery: our Socket.IO subscriptions vs a raw python-socketio broadcast (~2 minutes).
bench-live: $(STAMP)
	@bash scripts/ensure-services.sh docker sandbox_runtimes runtime_images
	$(BIN)/python bench/live.py

# The ledger: ledger.post vs a bare balance UPDATE on the embedded PostgreSQL (~65 s).
# BENCH_LEDGER_ARGS=--quick for 1 s cells, BENCH_LEDGER_ARGS="--database-url URL" for another
# server (a scratch database there, dropped at the end).
bench-ledger: $(STAMP)
	$(BIN)/python bench/ledger.py $(BENCH_LEDGER_ARGS)

# The AI gateway's added latency (bench/ai.py; figures in docs/performance.md). About a minute.
bench-ai: $(STAMP)
	$(BIN)/python bench/ai.py $(BENCH_AI_ARGS)

# A worker's claim lookups on a large jobs table, EXPLAIN ANALYZE (bench/claim.py; figures in
# docs/performance.md). About a minute; BENCH_CLAIM_ARGS=--plans for the whole plans.
bench-claim: $(STAMP)
	$(BIN)/python bench/claim.py $(BENCH_CLAIM_ARGS)

# What a rate-limit hit costs a request, per storage (bench/ratelimits.py; figures in
# docs/performance.md). About 20 s; the Redis rows need make test's Redis on 127.0.0.1:6379.
bench-ratelimits: $(STAMP)
	$(BIN)/python bench/ratelimits.py

clean:
	rm -rf "$(VENV)" .pytest_cache .mypy_cache .ruff_cache build dist src/*.egg-info
	find src tests -type d -name __pycache__ -prune -exec rm -rf {} +
