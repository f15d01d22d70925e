"""``GET /threads/{id}/stream`` through the official SDK (``threads.join_stream``): a
thread's events across its runs, each run's end as ``run_done``, ``Last-Event-ID``
resumption, the ``lifecycle`` mode, and LangGraph Server's start-at-what-comes-next when
no id is given."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from temporalio.client import Client

from tempograph.temporal.devserver import DevServer
from tests.conftest import load_test_graph
from tests.integration.api_server import api_stack

Part = tuple[str, str, Any]  # id, event, data


@pytest.fixture(scope="module")
async def api(dev_server: DevServer, client: Client, postgres_url: str) -> AsyncIterator[str]:
    graphs = {"chain3": load_test_graph("chain3", "api_graphs.py:chain3")}
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        yield str(http.base_url)


async def read_until_done(sdk: LangGraphClient, tid: str, runs: int, **options: Any) -> list[Part]:
    """``threads.join_stream``'s parts until ``runs`` runs have ended on it (it never
    ends by itself)."""
    parts: list[Part] = []

    async def read() -> None:
        stream = await sdk.threads.join_stream(tid, **options)
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            async for part in stream:
                parts.append((part.id, part.event, part.data))
                if len(done_runs(parts)) == runs:
                    return

    await asyncio.wait_for(read(), 60)
    return parts


def done_runs(parts: list[Part]) -> list[str]:
    return [d["run_id"] for _, e, d in parts if e == "metadata" and d.get("status") == "run_done"]


async def two_runs(sdk: LangGraphClient) -> tuple[str, list[str]]:
    tid = (await sdk.threads.create())["thread_id"]
    for _ in range(2):
        modes = ["values", "updates"]
        run = await sdk.runs.create(tid, "chain3", input={"steps": []}, stream_mode=modes)
        await sdk.runs.join(tid, run["run_id"])
    return tid, [r["run_id"] for r in reversed(await sdk.runs.list(tid))]


async def test_the_whole_log_then_a_resume_after_the_first_run(api: str) -> None:
    sdk = get_client(url=api)
    tid, runs = await two_runs(sdk)
    everything = await read_until_done(sdk, tid, 2, last_event_id="-")
    assert done_runs(everything) == runs
    first_end = next(
        i for i, p in enumerate(everything) if p[1] == "metadata" and p[0].endswith(":done")
    )
    # Each run's events in order: its start, its values and updates, then run_done.
    for run_id, part in zip(
        runs, (everything[: first_end + 1], everything[first_end + 1 :]), strict=True
    ):
        assert part[0][1] == "metadata" and part[0][2]["run_id"] == run_id
        assert {e for _, e, _ in part[1:-1]} == {"values", "updates"}
        assert all(i.startswith(f"{run_id}:") for i, _, _ in part)
        assert part[-1][2] == {"status": "run_done", "run_id": run_id}
    assert everything[first_end - 1][2]["steps"] == ["a", "b", "c"]
    assert len({i for i, _, _ in everything}) == len(everything), "ids are unique"

    # Resumed after the first run's end: exactly the rest, on a new connection.
    after = await read_until_done(sdk, tid, 1, last_event_id=everything[first_end][0])
    assert after == everything[first_end + 1 :]
    # Resumed in the middle of the first run.
    middle = await read_until_done(sdk, tid, 2, last_event_id=everything[1][0])
    assert middle == everything[2:]


async def test_lifecycle_mode_shows_runs_starting_and_ending(api: str) -> None:
    sdk = get_client(url=api)
    tid, runs = await two_runs(sdk)
    parts = await read_until_done(sdk, tid, 2, last_event_id="-", stream_mode="lifecycle")
    assert [e for _, e, _ in parts] == ["metadata"] * 4
    assert [(d.get("run_id"), "attempt" in d) for _, _, d in parts] == [
        (runs[0], True),
        (runs[0], False),
        (runs[1], True),
        (runs[1], False),
    ]


async def test_without_an_id_it_starts_at_what_comes_next(api: str) -> None:
    sdk = get_client(url=api)
    tid, earlier = await two_runs(sdk)
    async with httpx.AsyncClient(base_url=api, timeout=60) as http:
        async with http.stream("GET", f"/threads/{tid}/stream") as response:
            # The response has begun, so where it starts is fixed: now a new run.
            assert response.status_code == 200
            await sdk.runs.wait(tid, "chain3", input={"steps": []})
            events: list[tuple[str, str]] = []
            name = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    events.append((name, line.removeprefix("data: ")))
                    if name == "metadata" and "run_done" in line:
                        break
    [newest] = [r["run_id"] for r in await sdk.runs.list(tid) if r["run_id"] not in earlier]
    assert json.loads(events[0][1])["run_id"] == newest, "the earlier runs are not replayed"
    assert json.loads(events[-1][1]) == {"status": "run_done", "run_id": newest}


async def test_bad_requests_say_what_is_wrong(api: str) -> None:
    async with httpx.AsyncClient(base_url=api, timeout=10) as http:
        tid = (await http.post("/threads", json={})).json()["thread_id"]
        bad_mode = await http.get(f"/threads/{tid}/stream", params={"stream_mode": "values"})
        assert bad_mode.status_code == 422 and "run_modes" in bad_mode.text
        bad_id = await http.get(f"/threads/{tid}/stream", headers={"Last-Event-ID": "x:1"})
        assert bad_id.status_code == 422 and "Last-Event-ID" in bad_id.text
        missing = await http.get("/threads/00000000-0000-0000-0000-000000000000/stream")
        assert missing.status_code == 404


async def test_resuming_after_a_deleted_run_starts_at_what_comes_next(api: str) -> None:
    sdk = get_client(url=api)
    tid, runs = await two_runs(sdk)
    await sdk.runs.delete(tid, runs[0])
    async with httpx.AsyncClient(base_url=api, timeout=60) as http:
        resumed = {"Last-Event-ID": f"{runs[0]}:2"}
        async with http.stream("GET", f"/threads/{tid}/stream", headers=resumed) as response:
            assert response.status_code == 200  # not a 422 the client could never get past
            await sdk.runs.wait(tid, "chain3", input={"steps": []})
            async for line in response.aiter_lines():
                if line.startswith("data: ") and "run_done" in line:
                    assert runs[1] not in line, "the run that had ended is not replayed"
                    break
