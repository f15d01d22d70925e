"""Runs through the official langgraph-sdk and RemoteGraph, against a real worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from temporalio.client import Client

from temporal.devserver import DevServer
from tests.conftest import load_test_graph
from tests.integration.api_server import api_stack


@pytest.fixture(scope="module")
async def api(dev_server: DevServer, client: Client, postgres_url: str) -> AsyncIterator[str]:
    graphs = {
        "chain3": load_test_graph("chain3", "api_graphs.py:chain3"),
        "chat": load_test_graph("chat", "api_graphs.py:chat"),
        "slow": load_test_graph("slow", "api_graphs.py:slow_graph"),
        "approval": load_test_graph("approval", "approval.py:graph"),
    }
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        yield str(http.base_url)


async def test_wait_returns_the_final_state(api: str) -> None:
    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    result = await sdk.runs.wait(thread["thread_id"], "chain3", input={"steps": []})
    assert result == {"steps": ["a", "b", "c"]}
    runs = await sdk.runs.list(thread["thread_id"])
    assert [r["status"] for r in runs] == ["success"]
    after = await sdk.threads.get(thread["thread_id"])
    assert after["status"] == "idle" and after["values"] == {"steps": ["a", "b", "c"]}


async def test_stream_values_and_updates(api: str) -> None:
    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    parts: list[Any] = []
    async for part in sdk.runs.stream(
        thread["thread_id"], "chain3", input={"steps": []}, stream_mode=["values", "updates"]
    ):
        parts.append((part.event, part.data))
    assert parts[0][0] == "metadata"
    assert [p for p in parts if p[0] == "updates"] == [
        ("updates", {"a": {"steps": ["a"]}}),
        ("updates", {"b": {"steps": ["b"]}}),
        ("updates", {"c": {"steps": ["c"]}}),
    ]
    assert [p[1] for p in parts if p[0] == "values"][-1] == {"steps": ["a", "b", "c"]}


async def test_messages_stream_tokens(api: str) -> None:
    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    events: list[Any] = []
    async for part in sdk.runs.stream(
        thread["thread_id"],
        "chat",
        input={"messages": [{"role": "user", "content": "hi"}]},
        stream_mode=["messages-tuple", "custom"],
    ):
        events.append((part.event, part.data))
    tokens = [d[0]["content"] for e, d in events if e == "messages"]
    assert "".join(tokens) == "hello from the durable model"
    assert ("custom", {"progress": "answered"}) in events


async def test_interrupt_and_resume(api: str) -> None:
    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    first = await sdk.runs.wait(tid, "approval", input={"request": "x", "log": []})
    assert first["__interrupt__"][0]["value"] == {"question": "approve?", "request": "x"}
    state = await sdk.threads.get_state(tid)
    assert state["next"] == ["approve"]
    assert (await sdk.threads.get(tid))["status"] == "interrupted"
    second = await sdk.runs.wait(tid, "approval", command={"resume": {"approved": False}})
    assert second["approved"] is False and "__interrupt__" not in second
    runs = await sdk.runs.list(tid)
    assert [r["status"] for r in runs] == ["success", "success"]
    assert (await sdk.threads.get(tid))["status"] == "idle"


async def test_resume_when_not_waiting_is_409(api: str) -> None:
    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    with pytest.raises(httpx.HTTPStatusError) as err:
        await sdk.runs.wait(thread["thread_id"], "approval", command={"resume": 1})
    assert err.value.response.status_code == 409
    assert await sdk.runs.list(thread["thread_id"]) == []
