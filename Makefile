# The two commands: `make up` sets everything up and runs the demo stack;
# `make test` sets up and runs the test suite.
.PHONY: setup up test lint bench

setup:
	./scripts/setup

up: setup
	.venv/bin/tempograph up $(ARGS)

test: setup
	.venv/bin/python -m pytest -q $(ARGS)

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

# Tempograph, plain Temporal (the floor) and `langgraph dev` (the peer), measured in one
# run; ARGS replaces the default set (see bench/api.py --help).
BENCH_ARGS = --start-tempograph --floor --start-peer --sizes --endings --idle-threads 1000

bench: setup
	.venv/bin/python bench/api.py $(or $(ARGS),$(BENCH_ARGS))
