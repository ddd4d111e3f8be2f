# Two commands do all the set-up: `make run` and `make test`.
# Python tooling is installed into the project only: uv into .tools/, everything else into .venv/.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers for `make test` (tests/support/distribution.py): the suite mostly waits, so three
# workers take much less time on two cores (docs/testing.md, "The suite's time").
# TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 3
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy

.PHONY: bench-cost bench-peers run web test check lint typecheck security docs-check prompt-eval rag-eval bench gameday install clean
PACKAGES := agent_common agent_gateway agent_orchestrator agent_tool_runner agent_offline_model agent_rag_indexer agent_cli
PRODUCT_CODE := libs/common/src services/*/src cli/src

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

MANIFESTS := uv.lock pyproject.toml $(wildcard libs/*/pyproject.toml services/*/pyproject.toml cli/pyproject.toml)

# Everything: the platform and the dev tools (tests, linters, the real-model tier's server).
$(VENV)/.synced: $(UV) $(MANIFESTS)
	$(UV) sync --all-packages --frozen --python $(PYTHON)
	@touch $@ $(VENV)/.runtime

# The platform alone, for `make run`: no dev toolchain to wait for. Inexact, so it never
# removes the dev tools a `make test` installed before.
$(VENV)/.runtime: $(UV) $(MANIFESTS)
	@echo "Installing the platform into $(VENV) (first run only)..."
	$(UV) sync --all-packages --frozen --no-dev --inexact --quiet --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced

## Start the whole platform on its embedded default (one process, in-memory bus, offline model).
run: $(VENV)/.runtime
	HOST=$(HOST) PORT=$(PORT) $(VENV)/bin/agent run

## Rebuild the chat page (web/) into the gateway's package: types from the run events, then esbuild.
## Needs Node and npm; `make run` does not (the built page is committed).
web: install
	$(VENV)/bin/python scripts/web_types.py
	cd web && npm ci --no-audit --no-fund && node build.mjs

## Install what the tests need, start real Redis and Kafka where the machine allows, run the suite.
test: install
	@scripts/ensure-system-deps.sh
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --no-loadscope-reorder $(PYTEST_ARGS)

## What the pipeline adds to a model's stream, in both modes (bench/results/: JSON and a chart);
## BENCH_ARGS=--quick for a short run. Never part of the tests: figures depend on the machine.
bench: install
	@scripts/ensure-system-deps.sh
	$(VENV)/bin/python -m bench $(BENCH_ARGS)

## What the platform's own paths make a run cost: a seeded traffic mix (long sessions, RAG in Korean and
## English, tools, provider faults) through the embedded platform, priced from its usage ledger
## (bench/results/cost-paths.json, docs/cost.md); BENCH_COST_ARGS="--label before --env KEY=VALUE".
## Its own target: its figures are tokens and money, the same on any machine for one seed, where
## `make bench`'s are latency and CPU.
bench-cost: install
	$(VENV)/bin/python -m bench.cost_paths $(BENCH_COST_ARGS)

## The platform beside the LiteLLM proxy (in a virtual environment of its own) and a bare
## pass-through proxy, on one shared offline model (bench/results/peers.*); PEERS_ARGS=--quick.
bench-peers: install
	@scripts/ensure-system-deps.sh
	$(VENV)/bin/python -m bench.peers $(PEERS_ARGS)

## The quarterly game day (docs/gameday.md): the distributed platform under steady traffic, a real
## Prometheus and Alertmanager on the project's rules, every failure scenario in turn; the report in
## gameday/results/ (GAMEDAY_RESULTS_DIR). GAMEDAY_ARGS=--short for the test tier's two scenarios.
gameday: install
	@scripts/ensure-system-deps.sh
	$(VENV)/bin/python -m gameday $(GAMEDAY_ARGS)

## Every gate CI runs before the tests: lint and format, types, security, docs that cannot drift.
check: lint typecheck security docs-check

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy $(addprefix -p ,$(PACKAGES))
	$(VENV)/bin/mypy bench
	$(VENV)/bin/mypy gameday

security: install
	$(VENV)/bin/bandit -q -r $(PRODUCT_CODE)
	$(VENV)/bin/python scripts/audit_deps.py

docs-check: install
	$(VENV)/bin/python scripts/config_docs.py --check
	$(VENV)/bin/python scripts/check_checklists.py

## Ask the platform every question in evals/prompts.yaml and check each answer's rules
## (offline model unless MODEL_BASE_URL is set; PROMPT_EVAL_ARGS=--no-fail to only report).
prompt-eval: install
	$(VENV)/bin/agent prompt-eval $(PROMPT_EVAL_ARGS)

## Index the whole python3.11-doc FAQ once per chunking strategy and report hit@k, MRR and
## answer inclusion side by side: bench-results/rag/rag-eval.{md,json,png} (RAG_EVAL_ARGS to pass more).
rag-eval: install
	@scripts/ensure-system-deps.sh
	$(VENV)/bin/agent rag-eval $(RAG_EVAL_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) .cache/test-services
