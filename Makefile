# The two commands: `make up` sets everything up and runs the demo stack;
# `make test` sets up and runs the test suite.
.PHONY: setup up test lint bench bench-api

setup:
	./scripts/setup

up: setup
	.venv/bin/tempograph up $(ARGS)

test: setup
	.venv/bin/python -m pytest -q $(ARGS)

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

bench: setup
	.venv/bin/python bench/run.py $(ARGS)

bench-api: setup
	.venv/bin/python bench/api.py $(ARGS)
