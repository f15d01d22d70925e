"""Serving the real app on a loopback port for tests (uvicorn, real lifespan)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import httpx
import uvicorn
from fastapi import FastAPI, Request
from temporalio.client import Client

from tempograph.activities.events import Recorder
from tempograph.api import create_app
from tempograph.api.auth import Policy
from tempograph.api.server import ApiServer
from tempograph.breakers import BreakerConfig, Breakers
from tempograph.settings import Settings
from tempograph.store import PostgresStore
from tempograph.temporal.devserver import DevServer
from tempograph.temporal.worker import build_workers
from tempograph.usage import Prices
from tempograph.workflows.durable import DurableGraph
from tests.conftest import free_port


@contextlib.asynccontextmanager
async def serving(
    dev_server: DevServer,
    database_url: str,
    graphs: dict[str, DurableGraph] | None = None,
    task_queue: str = "api-tests",
    store_index: dict[str, Any] | None = None,
    auth: Policy | None = None,
    thread_ttl: dict[str, Any] | None = None,
    cors: dict[str, Any] | None = None,
    breakers: BreakerConfig | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    # Webhooks may reach loopback here: the tests' receivers listen on 127.0.0.1.
    settings = Settings(
        temporal_address=dev_server.address, task_queue=task_queue, webhook_allow_private=True
    )
    port = free_port()
    server = ApiServer(
        uvicorn.Config(
            create_app(
                settings,
                database_url,
                graphs or {},
                store_index,
                auth=auth,
                thread_ttl=thread_ttl,
                cors=cors,
                breakers=breakers,
            ),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",  # a failing start-up fails the test, not the requests after it
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    assert server.started
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield http
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def api_stack(
    dev_server: DevServer,
    client: Client,
    database_url: str,
    graphs: dict[str, DurableGraph],
    task_queue: str | None = None,
    store_index: dict[str, Any] | None = None,
    auth: Policy | None = None,
    thread_ttl: dict[str, Any] | None = None,
    sandbox: bool = False,
    prices: Prices | None = None,
    breakers: BreakerConfig | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """The app and a worker (keeping checkpoints and events in ``database_url``) for
    ``graphs``; ``client`` must carry the claim-check codec on that database."""
    queue = task_queue or f"api-{uuid.uuid4()}"
    recorder = Recorder(database_url)
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            serving(
                dev_server,
                database_url,
                graphs,
                task_queue=queue,
                store_index=store_index,
                auth=auth,
                thread_ttl=thread_ttl,
                breakers=breakers,
            )
        )
        store = PostgresStore(await recorder.pool(), index=cast(Any, store_index))
        for worker in build_workers(
            client,
            queue,
            graphs,
            recorder,
            webhook_allow_private=True,
            store=store,
            sandbox=sandbox,
            prices=prices,
            breakers=Breakers(recorder.pool, breakers or BreakerConfig()),
        ):
            await stack.enter_async_context(worker)
        stack.push_async_callback(recorder.close)
        yield http


@contextlib.asynccontextmanager
async def webhook_receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback HTTP server that records what is POSTed to it: (url, bodies)."""
    received: list[dict[str, Any]] = []
    receiver = FastAPI()

    async def hook(request: Request) -> dict[str, bool]:
        received.append(await request.json())
        return {"ok": True}

    receiver.add_api_route("/hook", hook, methods=["POST"])
    port = free_port()
    server = ApiServer(uvicorn.Config(receiver, host="127.0.0.1", port=port, log_level="warning"))
    serving_task = asyncio.create_task(server.serve())
    try:
        yield f"http://127.0.0.1:{port}/hook", received
    finally:
        server.should_exit = True
        await serving_task


OBSERVED_APP = Path(__file__).resolve().parents[1] / "graphs" / "observed_app" / "langgraph.json"


@contextlib.asynccontextmanager
async def observed_stack(
    dev_server: DevServer,
    client: Client,
    database_url: str,
    more: dict[str, DurableGraph] | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """:func:`api_stack` for ``tests/graphs/observed_app`` (a model call with token usage,
    a flaky node, approvals), with its langgraph.json's prices and node policies."""
    from tempograph.registry import load_project, read_config
    from tests.conftest import FAST_RETRY

    config = read_config(OBSERVED_APP)
    graphs, failed = load_project(config, FAST_RETRY)
    assert not failed, failed
    graphs.update(more or {})
    async with api_stack(dev_server, client, database_url, graphs, prices=config.prices) as http:
        yield http
