"""Circuit breakers, against a real Postgres (the shared state machine) and a real worker
and API (a dependency that fails, then recovers)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import uvicorn
from fastapi import FastAPI, Response
from langgraph_sdk import get_client
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from tempograph.api.server import ApiServer
from tempograph.breakers import BreakerConfig, Breakers, BreakerSettings
from tempograph.database import migrate, open_pool
from tempograph.registry import load_project, read_config
from tempograph.temporal.devserver import DevServer
from tests.conftest import FAST_RETRY, free_port
from tests.integration.api_server import api_stack

BREAKER_APP = Path(__file__).resolve().parents[1] / "graphs" / "breaker_app" / "langgraph.json"


@pytest.fixture(scope="module")
async def pool(postgres_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await open_pool(postgres_url)
    await migrate(pool)
    try:
        yield pool
    finally:
        await pool.close()


def breakers_on(pool: asyncpg.Pool, **settings: Any) -> tuple[Breakers, str]:
    name = f"dep-{uuid.uuid4().hex[:8]}"

    async def current() -> asyncpg.Pool:
        return pool

    return Breakers(current, BreakerConfig({name: BreakerSettings(**settings)})), name


async def test_failures_in_a_window_open_it_and_one_trial_closes_it(pool: asyncpg.Pool) -> None:
    breakers, name = breakers_on(pool, failures=3, window=60, cool_down=0.5)
    assert (await breakers.admit(name)).admitted  # never seen: closed
    for _ in range(2):
        await breakers.failed(name, RuntimeError("503"))
    assert (await breakers.admit(name)).admitted  # 2 of 3: still closed
    await breakers.failed(name, RuntimeError("503"))
    refused = await breakers.admit(name)
    assert not refused.admitted and refused.state == "open"
    assert 0 < refused.retry_in <= 0.5
    await asyncio.sleep(0.6)
    # After the cool-down, of many attempts at once (as from many workers), one is the trial.
    admissions = await asyncio.gather(*(breakers.admit(name) for _ in range(10)))
    assert sum(a.admitted for a in admissions) == 1
    assert [a.trial for a in admissions if a.admitted] == [True]
    assert {a.state for a in admissions if not a.admitted} <= {"open", "half_open"}
    # An attempt admitted before the breaker opened decides nothing now; the trial does.
    await breakers.succeeded(name)
    await breakers.failed(name, RuntimeError("late"))
    assert not (await breakers.admit(name)).admitted  # still half-open, trial out
    # The trial fails: open again, for another cool-down.
    await breakers.failed(name, RuntimeError("still 503"), trial=True)
    assert not (await breakers.admit(name)).admitted
    await asyncio.sleep(0.6)
    trial = await breakers.admit(name)
    assert trial.trial
    await breakers.succeeded(name, trial=True)
    assert (await breakers.admit(name)).admitted
    [described] = [b for b in await breakers.describe() if b["name"] == name]
    assert described["state"] == "closed" and described["failures"] == 0
    assert described["last_error"] == "RuntimeError: still 503"


async def test_a_window_that_passed_starts_the_count_again(pool: asyncpg.Pool) -> None:
    breakers, name = breakers_on(pool, failures=2, window=0.3, cool_down=30)
    await breakers.failed(name, RuntimeError("one"))
    await asyncio.sleep(0.4)
    await breakers.failed(name, RuntimeError("two, in a new window"))
    assert (await breakers.admit(name)).admitted
    await breakers.failed(name, RuntimeError("three"))
    assert not (await breakers.admit(name)).admitted


async def test_only_the_listed_errors_count(pool: asyncpg.Pool) -> None:
    breakers, name = breakers_on(pool, failures=1, errors=("ConnectionError",))
    await breakers.failed(name, ValueError("the node's own bug"))
    assert (await breakers.admit(name)).admitted
    await breakers.failed(name, ConnectionRefusedError("down"))  # a ConnectionError
    assert not (await breakers.admit(name)).admitted


async def test_a_trial_whose_worker_died_is_replaced_after_a_cool_down(
    pool: asyncpg.Pool,
) -> None:
    breakers, name = breakers_on(pool, failures=1, cool_down=0.3)
    await breakers.failed(name, RuntimeError("down"))
    await asyncio.sleep(0.4)
    assert (await breakers.admit(name)).trial  # ... and its worker is killed: no report
    assert not (await breakers.admit(name)).admitted
    await asyncio.sleep(0.4)
    assert (await breakers.admit(name)).trial


@dataclass
class Dependency:
    url: str
    down: bool = True
    hits: list[float] = field(default_factory=list)


@contextlib.asynccontextmanager
async def dependency() -> AsyncIterator[Dependency]:
    """A loopback HTTP dependency: 503 while ``down``, remembering when it was called."""
    app = FastAPI()
    port = free_port()
    dep = Dependency(f"http://127.0.0.1:{port}/ping")

    async def ping() -> Response:
        dep.hits.append(time.time())
        return Response("pong", status_code=503 if dep.down else 200)

    app.add_api_route("/ping", ping)
    server = ApiServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        yield dep
    finally:
        server.should_exit = True
        await task


def metric(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


async def test_a_failing_dependency_opens_the_breaker_for_every_run_until_it_recovers(
    dev_server: DevServer,
    client: Client,
    postgres_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tempograph.breakers")
    config = read_config(BREAKER_APP)
    graphs, failed = load_project(config, FAST_RETRY)
    assert not failed, failed
    stack = api_stack(dev_server, client, postgres_url, graphs, breakers=config.breakers)
    async with dependency() as dep, stack as http:
        sdk = get_client(url=str(http.base_url))
        runs = []
        for _ in range(3):
            thread = await sdk.threads.create()
            run = await sdk.runs.create(thread["thread_id"], "caller", input={"url": dep.url})
            runs.append((thread["thread_id"], run["run_id"]))

        async def breaker() -> dict[str, Any]:
            found = (await http.get("/breakers")).json()
            return next(b for b in found if b["name"] == "flaky-api")

        for _ in range(200):
            if (await breaker())["state"] != "closed":
                break
            await asyncio.sleep(0.1)
        opened = await breaker()
        assert opened["state"] == "open", opened
        assert opened["failures"] >= 3 and "503" in opened["last_error"]
        opened_at = datetime.fromisoformat(opened["opened_at"]).timestamp()
        trial_after = datetime.fromisoformat(opened["trial_after"]).timestamp()
        assert trial_after - opened_at == pytest.approx(3)
        # While it is open, no attempt reaches the dependency (attempts already past the
        # breaker when it opened may land just after: a second's grace).
        await asyncio.sleep(max(0.0, trial_after - time.time()))
        assert not [t for t in dep.hits if opened_at + 1 < t < trial_after - 0.05], dep.hits
        dep.down = False
        for thread_id, run_id in runs:
            await sdk.runs.join(thread_id, run_id)
            done = await sdk.runs.get(thread_id, run_id)
            assert done["status"] == "success", done
            state = await sdk.threads.get_state(thread_id)
            assert state["values"]["answer"] == "pong"
        closed = await breaker()
        assert closed["state"] == "closed" and closed["failures"] == 0
        # Refused attempts show in the run's timeline, with the breaker's error.
        attempts = (await http.get(f"/threads/{runs[0][0]}/runs/{runs[0][1]}/attempts")).json()
        errors = {a["error"]["error"] for a in attempts if a.get("error")}
        assert errors <= {"HTTPStatusError", "CircuitOpen"}, attempts
        metrics = (await http.get("/metrics")).text
        assert metric(metrics, "tempograph_breaker_state", breaker="flaky-api") == 0
        assert metric(metrics, "tempograph_breaker_rejected_attempts_total", breaker="flaky-api")
        assert metric(metrics, "tempograph_node_retries_total", error_type="CircuitOpen")
    changes = [r.getMessage() for r in caplog.records if r.name == "tempograph.breakers"]
    assert any("closed -> open" in m for m in changes), changes
    assert any("half_open -> closed" in m for m in changes), changes
