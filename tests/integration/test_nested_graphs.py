"""Subgraphs with an ``interrupt()`` inside, through the official SDK, against what
LangGraph itself does with the same graphs (``InMemorySaver``): a subgraph added as a
node (its state nested in ``get_state(subgraphs=True)``, its own history and state by
``checkpoint_ns``, ``update_state`` on its namespace) and a subgraph invoked from inside
a node function (the interrupt resumes inside the node's activity)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from temporalio.client import Client

from tempograph.temporal.devserver import DevServer
from tests.conftest import load_test_graph
from tests.graphs import nested
from tests.integration.api_server import api_stack


@pytest.fixture(scope="module")
async def api(dev_server: DevServer, client: Client, postgres_url: str) -> AsyncIterator[str]:
    graphs = {
        "as_node": load_test_graph("as_node", "nested.py:as_node"),
        "in_node": load_test_graph("in_node", "nested.py:in_node"),
        "in_sync_node": load_test_graph("in_sync_node", "nested.py:in_sync_node"),
        "retried": load_test_graph("retried", "nested.py:retried"),
    }
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        yield str(http.base_url)


@pytest.fixture
def sdk(api: str) -> LangGraphClient:
    return get_client(url=api)


ANSWERS = ["yes", "sure"]


async def local(graph: Any) -> tuple[Any, list[Any]]:
    """LangGraph's own run: the state at the first question (subgraphs=True), and what
    each answer returns."""
    graph = graph.copy({"checkpointer": InMemorySaver()})
    config: Any = {"configurable": {"thread_id": "local"}}
    await graph.ainvoke({"text": "hi"}, config)
    waiting = await graph.aget_state(config, subgraphs=True)
    return waiting, [await graph.ainvoke(Command(resume=a), config) for a in ANSWERS]


@pytest.mark.parametrize("graph_id", ["as_node", "in_node", "in_sync_node"])
async def test_the_interrupt_inside_a_subgraph_resumes_as_in_langgraph(
    sdk: LangGraphClient, graph_id: str
) -> None:
    waiting, ends = await local(getattr(nested, graph_id))
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    first = await sdk.runs.wait(tid, graph_id, input={"text": "hi"})
    assert first["__interrupt__"][0]["value"] == waiting.tasks[0].interrupts[0].value
    for answer, expected in zip(ANSWERS, ends, strict=True):
        out = await sdk.runs.wait(tid, graph_id, command={"resume": answer})
        interrupts = [i["value"] for i in out.pop("__interrupt__", [])]
        assert interrupts == [i.value for i in expected.get("__interrupt__", [])]
        assert out == {k: v for k, v in expected.items() if k != "__interrupt__"}
    assert (await sdk.threads.get(tid))["status"] == "idle"


@pytest.mark.parametrize("graph_id", ["as_node", "in_node"])
async def test_get_state_with_subgraphs_nests_the_subgraphs_state(
    sdk: LangGraphClient, graph_id: str
) -> None:
    waiting, _ = await local(getattr(nested, graph_id))
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    await sdk.runs.wait(tid, graph_id, input={"text": "hi"})
    state = await sdk.threads.get_state(tid, subgraphs=True)
    assert state["next"] == list(waiting.next)
    (task,) = state["tasks"]
    (expected,) = waiting.tasks
    assert task["name"] == expected.name
    assert task["interrupts"][0]["value"] == expected.interrupts[0].value
    assert task["state"]["values"] == expected.state.values
    assert task["state"]["next"] == list(expected.state.next)
    assert task["state"]["checkpoint"]["checkpoint_ns"].startswith("sub:")
    flat = await sdk.threads.get_state(tid)
    assert flat["tasks"][0]["state"] is None or "values" not in flat["tasks"][0]["state"]


async def test_a_subgraphs_namespace_has_its_state_history_and_updates(
    sdk: LangGraphClient,
) -> None:
    waiting, _ = await local(nested.as_node)
    namespace_config = waiting.tasks[0].state.config
    # LangGraph's answers, on a fresh local thread stopped at the same point.
    graph = nested.as_node.copy({"checkpointer": InMemorySaver()})
    config: Any = {"configurable": {"thread_id": "again"}}
    await graph.ainvoke({"text": "hi"}, config)
    ns = (
        (await graph.aget_state(config, subgraphs=True))
        .tasks[0]
        .state.config["configurable"]["checkpoint_ns"]
    )
    sub_config: Any = {"configurable": {"thread_id": "again", "checkpoint_ns": ns}}
    sub_state = await graph.aget_state(sub_config)
    sub_history = [h async for h in graph.aget_state_history(sub_config)]
    assert namespace_config["configurable"]["checkpoint_ns"].startswith("sub:")

    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    await sdk.runs.wait(tid, "as_node", input={"text": "hi"})
    ours = (await sdk.threads.get_state(tid, subgraphs=True))["tasks"][0]["state"]["checkpoint"]
    ns = ours["checkpoint_ns"]

    state = await sdk.threads.get_state(tid, checkpoint={"checkpoint_ns": ns})
    assert state["values"] == sub_state.values
    assert state["next"] == list(sub_state.next)
    assert state["checkpoint"]["checkpoint_ns"] == ns
    assert [t["interrupts"][0]["value"] for t in state["tasks"]] == [
        t.interrupts[0].value for t in sub_state.tasks
    ]
    at = await sdk.threads.get_state(tid, checkpoint=ours)
    assert at["values"] == sub_state.values

    history = await sdk.threads.get_history(tid, checkpoint={"checkpoint_ns": ns})
    assert [h["values"] for h in history] == [h.values for h in sub_history]
    assert [h["next"] for h in history] == [list(h.next) for h in sub_history]
    assert all(h["checkpoint"]["checkpoint_ns"] == ns for h in history)

    updated = await sdk.threads.update_state(
        tid, {"text": "edited"}, checkpoint={"checkpoint_ns": ns}
    )
    assert updated["checkpoint"]["checkpoint_ns"] == ns
    state = await sdk.threads.get_state(tid, checkpoint={"checkpoint_ns": ns})
    assert state["values"]["text"] == "edited" and state["next"] == ["ask"]
    await graph.aupdate_state(sub_config, {"text": "edited"})
    for answer in ANSWERS:
        expected = await graph.ainvoke(Command(resume=answer), config)
        out = await sdk.runs.wait(tid, "as_node", command={"resume": answer})
        asked = [i["value"] for i in out.pop("__interrupt__", [])]
        assert asked == [i.value for i in expected.pop("__interrupt__", [])]
        assert out == expected


async def test_an_unknown_namespace_reads_empty_and_is_not_updated(
    sdk: LangGraphClient, api: str
) -> None:
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    await sdk.runs.wait(tid, "as_node", input={"text": "hi"})
    bad = {"checkpoint": {"checkpoint_ns": "nope:123"}}
    async with httpx.AsyncClient(base_url=api) as http:
        # As LangGraph reads a namespace it has no checkpoints in: nothing there.
        state = await http.post(f"/threads/{tid}/state/checkpoint", json=bad)
        assert (state.status_code, state.json()["values"]) == (200, {})
        history = await http.post(f"/threads/{tid}/history", json=bad)
        assert (history.status_code, history.json()) == (200, [])
        update = await http.post(f"/threads/{tid}/state", json={"values": {}, **bad})
        assert update.status_code == 404 and "nope:123" in update.json()["detail"]
        wrong = await http.post(
            f"/threads/{tid}/history", json={"checkpoint": {"checkpoint_ns": 5}}
        )
        assert wrong.status_code == 422
    # Nothing changed: the run still waits, and resumes.
    assert (await sdk.threads.get(tid))["status"] == "interrupted"
    await sdk.runs.wait(tid, "as_node", command={"resume": "ok"})
    out = await sdk.runs.wait(tid, "as_node", command={"resume": "sure"})
    assert out["answer"] == "ok, sure"


async def test_a_retried_node_goes_on_from_the_graph_it_invoked(sdk: LangGraphClient) -> None:
    """Its first attempt failed after the graph it invoked had finished: the retry finds
    that graph's checkpoints and does not run its nodes again (LangGraph's own retries
    resume it the same way)."""
    text = str(uuid.uuid4())
    thread = await sdk.threads.create()
    out = await sdk.runs.wait(thread["thread_id"], "retried", input={"text": text})
    assert out["trail"] == ["counted"]
    assert nested._ledger(text).read_text().split() == ["counted", "attempt", "attempt"]
    nested._ledger(text).unlink()


async def test_an_answer_by_interrupt_id_reaches_a_graph_invoked_in_a_node(
    sdk: LangGraphClient,
) -> None:
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    first = await sdk.runs.wait(tid, "in_node", input={"text": "hi"})
    (asked,) = first["__interrupt__"]
    second = await sdk.runs.wait(tid, "in_node", command={"resume": {asked["id"]: "yes"}})
    (again,) = second["__interrupt__"]
    assert again["value"] == {"question": "sure about yes?"}
    out = await sdk.runs.wait(tid, "in_node", command={"resume": {again["id"]: "sure"}})
    assert out["answer"] == "yes, sure"
