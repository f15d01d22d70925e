"""Fixtures: one real Temporal dev server per test session; a worker per test."""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tempograph.temporal.client import Threads
from tempograph.temporal.converter import DATA_CONVERTER
from tempograph.temporal.devserver import DevServer
from tempograph.temporal.worker import build_workers
from tempograph.workflows.durable import DurableGraph
from tempograph.workflows.policy import NodePolicy, RetrySpec
from temporalio.client import Client

from tempograph.database import EmbeddedPostgres
from tempograph.registry import GraphSpec, load_graph, load_project, read_config

ROOT = Path(__file__).resolve().parent.parent
SHARED_ACCEPTANCE = ROOT.parent / "shared" / "acceptance"
TEST_GRAPHS = Path(__file__).resolve().parent / "graphs"

# Short backoff so retry tests take seconds, not minutes; attempts as in production.
FAST_RETRY = NodePolicy(retry=RetrySpec(initial_interval=0.05, maximum_interval=0.2))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    """One embedded Postgres (pgserver) for the session's API tests."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
async def client(dev_server: DevServer) -> Client:
    return await Client.connect(dev_server.address, data_converter=DATA_CONVERTER)


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


@dataclass
class Stack:
    client: Client
    task_queue: str
    threads: Threads

    def new_thread(self) -> str:
        return f"t-{uuid.uuid4()}"


@contextlib.asynccontextmanager
async def running_worker(
    client: Client, graphs: dict[str, DurableGraph], task_queue: str | None = None
) -> AsyncIterator[Stack]:
    """Workers for ``graphs`` on a task queue of their own, for the duration."""
    queue = task_queue or f"test-{uuid.uuid4()}"
    workers = build_workers(client, queue, graphs)
    async with contextlib.AsyncExitStack() as stack:
        for worker in workers:
            await stack.enter_async_context(worker)
        yield Stack(client, queue, Threads(client, queue))
