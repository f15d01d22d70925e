"""Serving the real app on a loopback port for tests (uvicorn, real lifespan)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from api import create_app
from api.server import ApiServer
from tempograph.settings import Settings
from temporal.devserver import DevServer
from tests.conftest import free_port


@contextlib.asynccontextmanager
async def serving(
    dev_server: DevServer, database_url: str, graphs: dict[str, Any] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    import uvicorn

    settings = Settings(temporal_address=dev_server.address, task_queue="api-tests")
    port = free_port()
    server = ApiServer(
        uvicorn.Config(
            create_app(settings, database_url, graphs or {}),
            host="127.0.0.1",
            port=port,
            log_level="warning",
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
