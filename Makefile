# First Mile mesh. On a fresh machine `make run` (the main job) and `make test` install and
# start everything they need; see README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CACHE := $(CURDIR)/.cache
PY := $(CACHE)/venv/bin/python
INFRA := bash infra/infra.sh
ENV = eval "$$($(INFRA) env)"

.PHONY: help install infra up down status run test test-unit gen gen-check lint bench bench-deps logs

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

install: ## install what is missing (Debian packages, Python venv, Kafka jars, buf, grpcurl)
	@$(INFRA) install

infra: install ## start PostgreSQL, Redis and Kafka
	@$(INFRA) up

up: infra ## start infrastructure and the four services in the background
	@$(INFRA) services-up
	@$(INFRA) status

down: ## stop services and infrastructure (data is kept in .cache/)
	@$(INFRA) down

status: ## what runs where
	@$(INFRA) status

logs: ## follow the services' logs (api and workers processes)
	@tail -F $(CACHE)/logs/{pur_svc,routing_svc,dispatch_svc,attendance_adapter}{,-workers}.log

# `make run` switches auto-dispatch on for the demo hub (a mesh started before keeps its settings);
# by queue size only past 100000 pickups, so before the hub's cut-off the demo's reviewed plan goes first.
run: export DISPATCH_SVC_AUTO_DISPATCH_HUBS ?= BLR-KORAMANGALA
run: export DISPATCH_SVC_AUTO_DISPATCH_QUEUE_THRESHOLD ?= 100000
run: up ## the main job: the mesh, a demo hub and a stream of PURs routed live (left running)
	@$(ENV); $(PY) -m demo $(DEMO_ARGS)

test: infra ## every test: unit, integration and end-to-end, against real infrastructure
	@$(INFRA) prepare
	@$(ENV); $(PY) -m pytest tests $(PYTEST_ARGS)

test-unit: install ## unit tests only (no infrastructure)
	@$(PY) -m pytest tests/unit $(PYTEST_ARGS)

gen: install ## regenerate Python from protos into gen/
	@PYTHON=$(PY) bash scripts/gen.sh

gen-check: install ## fail when gen/ is stale
	@PYTHON=$(PY) bash scripts/gen.sh --check

lint: install ## ruff, format check, mypy, buf lint, buf breaking against main, gen/ freshness, Kubernetes manifests
	@$(CACHE)/venv/bin/ruff check .
	@$(CACHE)/venv/bin/ruff format --check .
	@$(CACHE)/venv/bin/mypy
	@$(CACHE)/bin/buf lint
	@bash scripts/buf-breaking.sh
	@PYTHON=$(PY) bash scripts/gen.sh --check
	@bash scripts/k8s-validate.sh

bench-deps: install ## what only the benchmarks use: real daily series, PyVRP and OR-Tools (pyproject: bench, solvers)
	@$(PY) -m pip install -q -e '.[dev,bench,solvers]'
	@# OR-Tools declares protobuf<6.34 and the mesh pins 7.36.2 (its routing solver runs on it).
	@$(PY) -m pip install -q --no-deps ortools==9.15.6755

bench: up bench-deps ## benchmarks; they print their figures
	@$(ENV); for b in bench/bench_*.py; do echo "== $$b"; $(PY) -m bench.$$(basename $$b .py) || exit 1; done
