"""Fixtures: one real Temporal dev server and one real Postgres per test session; an API and
a worker (on a task queue of their own) per test that runs graphs."""

from __future__ import annotations

import base64
import contextlib
import importlib
import os
import pkgutil
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest
from temporalio.client import Client

from tempograph.database import EmbeddedPostgres
from tempograph.registry import GraphSpec, load_graph, load_project, read_config
from tempograph.temporal.codec import data_converter
from tempograph.temporal.devserver import DevServer
from tempograph.temporal.processes import free_port
from tempograph.valuestore import PostgresValueStore, ValueStore
from tempograph.workflows.durable import DurableGraph
from tempograph.workflows.policy import NodePolicy, RetrySpec

# pytest rewrites the asserts of every module of a package that ships a pytest plugin,
# anyio's included: its lazy imports (Starlette's file responses use one) would
# ast.parse inside a request while another thread parses, CPython 3.11's "AST
# constructor recursion depth mismatch" race (python/cpython#106905, seen once in CI).
# Importing them here, before any thread runs, takes the parse out of the race.
for _module in pkgutil.walk_packages(anyio.__path__, "anyio."):
    if "pytest" not in _module.name and "trio" not in _module.name:
        with contextlib.suppress(ImportError):
            importlib.import_module(_module.name)

ROOT = Path(__file__).resolve().parent.parent
SHARED_ACCEPTANCE = ROOT.parent / "shared" / "acceptance"
TEST_GRAPHS = Path(__file__).resolve().parent / "graphs"

# Encryption at rest is on in every test, as in `tempograph up`: one key for the session
# (the canary test starts its own stack without it, to see `up` make one). Set before any
# value store or data converter is made; subprocesses inherit it.
TEST_ENCRYPTION_KEYS = "test:" + base64.b64encode(b"tempograph-test-key-32-bytes-!!!").decode()
os.environ.setdefault("TEMPOGRAPH_ENCRYPTION_KEYS", TEST_ENCRYPTION_KEYS)

# Short backoff so retry tests take seconds, not minutes; attempts, timeouts and the
# heartbeat timeout as in production.
FAST_RETRY = NodePolicy(retry=RetrySpec(initial_interval=0.05, maximum_interval=0.2))


@pytest.fixture(scope="session")
async def dev_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevServer]:
    server = DevServer(tmp_path_factory.mktemp("temporal"), port=free_port(), ui_port=None)
    await server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded Postgres (pgserver) for the session."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
async def values(postgres_url: str) -> AsyncIterator[ValueStore]:
    """The session's value store (claim checks), on the session's Postgres."""
    from tempograph.database import migrate, open_pool

    pool = await open_pool(postgres_url)
    await migrate(pool)

    async def get_pool() -> Any:
        return pool

    yield PostgresValueStore(get_pool)
    await pool.close()


@pytest.fixture(scope="session")
async def client(dev_server: DevServer, values: ValueStore) -> Client:
    return await Client.connect(dev_server.address, data_converter=data_converter(values))


def load_test_graph(
    graph_id: str,
    ref: str,
    policy: NodePolicy = FAST_RETRY,
    nodes: Mapping[str, Mapping[str, Any]] | None = None,
) -> DurableGraph:
    """Load ``tests/graphs/<file>.py:<attr>`` as graph ``graph_id``."""
    file_part, _, attr = ref.partition(":")
    spec = GraphSpec(graph_id, TEST_GRAPHS / file_part, attr, nodes=nodes or {})
    return load_graph(spec, policy)


def load_seed_demo(policy: NodePolicy = FAST_RETRY) -> dict[str, DurableGraph]:
    graphs, failed = load_project(read_config(SHARED_ACCEPTANCE / "langgraph.json"), policy)
    assert not failed, failed
    return graphs


@pytest.fixture
def new_queue() -> str:
    return f"test-{uuid.uuid4()}"


@contextlib.asynccontextmanager
async def running_stack(
    dev_server: DevServer,
    client: Client,
    postgres_url: str,
    graphs: dict[str, DurableGraph],
    task_queue: str | None = None,
) -> AsyncIterator[Any]:
    """The API and a worker for ``graphs`` on a task queue of their own, for the duration;
    yields a :class:`tests.engine.Stack`."""
    from tests.engine import Stack
    from tests.integration.api_server import api_stack

    queue = task_queue or f"test-{uuid.uuid4()}"
    async with api_stack(dev_server, client, postgres_url, graphs, task_queue=queue) as http:
        yield Stack(client, queue, http)


@pytest.fixture
def stack_for(dev_server: DevServer, client: Client, postgres_url: str) -> Any:
    """``stack_for(graphs)``: :func:`running_stack` for this session's servers."""

    def make(graphs: dict[str, DurableGraph], task_queue: str | None = None) -> Any:
        return running_stack(dev_server, client, postgres_url, graphs, task_queue)

    return make
