"""LangGraph Server compatibility: the pinned official clients drive Tempograph unchanged.

Each test is one thing a user of ``langgraph_sdk`` (async ``get_client`` and sync
``get_sync_client``) or ``RemoteGraph`` does, against a real worker and a real Postgres.
The app is served on the test's event loop, so every sync call runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.pregel.remote import RemoteGraph
from langgraph.types import Command
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError
from temporalio.client import Client

from tempograph.temporal.devserver import DevServer
from tempograph.workflows.jsonable import to_jsonable
from tests.conftest import load_test_graph
from tests.graphs.agent_tools import graph as agent_graph
from tests.graphs.api_graphs import say_functional, say_graph
from tests.integration.api_server import api_stack

ANSWER = "hello from the durable model"
_STATUS_POLLS = 400  # x 0.05 s: how long a test waits for a run to reach a status


@pytest.fixture(scope="module")
async def api(dev_server: DevServer, client: Client, postgres_url: str) -> AsyncIterator[str]:
    graphs = {
        "chain3": load_test_graph("chain3", "api_graphs.py:chain3"),
        "chat": load_test_graph("chat", "api_graphs.py:chat"),
        "say": load_test_graph("say", "api_graphs.py:say_graph"),
        "agent": load_test_graph("agent", "agent_tools.py:graph"),
        "say_functional": load_test_graph("say_functional", "api_graphs.py:say_functional"),
        "approval": load_test_graph("approval", "approval.py:graph"),
        "gate": load_test_graph("gate", "api_compat_graphs.py:gate_graph"),
        "ask_gate": load_test_graph("ask_gate", "api_compat_graphs.py:ask_gate_graph"),
    }
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        yield str(http.base_url)


class Gates:
    """Files the ``gate`` graph waits for: a closed gate holds a run in its first node."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._made: list[Path] = []

    def closed(self) -> str:
        path = self._root / f"gate-{uuid.uuid4()}"
        self._made.append(path)
        return str(path)

    def opened(self) -> str:
        path = Path(self.closed())
        path.touch()
        return str(path)

    @staticmethod
    def open(gate: str) -> None:
        Path(gate).touch()

    def open_all(self) -> None:
        for path in self._made:
            path.touch()


@pytest.fixture
def gates(tmp_path: Path) -> Iterator[Gates]:
    made = Gates(tmp_path)
    try:
        yield made
    finally:
        made.open_all()  # cancelled runs leave their node waiting; let it end


async def _until_status(sdk: LangGraphClient, thread_id: str, run_id: str, status: str) -> None:
    for _ in range(_STATUS_POLLS):
        if (await sdk.runs.get(thread_id, run_id))["status"] == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} never became {status!r}")


def _steps(values: dict[str, Any]) -> list[str]:
    return list(values["steps"])


async def test_threads_wait_stream_and_search_with_both_clients(api: str) -> None:
    sdk = get_client(url=api)
    sync = get_sync_client(url=api)
    owner = f"owner-{uuid.uuid4()}"

    thread = await sdk.threads.create(metadata={"owner": owner})
    tid = thread["thread_id"]
    assert thread["status"] == "idle" and thread["values"] is None
    # A key beside the graph's own is ignored, as LangGraph ignores it (not stored either).
    done = await sdk.runs.wait(tid, "chain3", input={"steps": [], "user_id": "u1"})
    assert done == {"steps": ["a", "b", "c"]}
    after = await sdk.threads.get(tid)
    assert after["status"] == "idle" and after["values"] == {"steps": ["a", "b", "c"]}
    assert after["metadata"]["owner"] == owner and after["metadata"]["graph_id"] == "chain3"

    # The sync client, on a second thread of the same owner.
    other = await asyncio.to_thread(sync.threads.create, metadata={"owner": owner})
    oid = other["thread_id"]
    parts = await asyncio.to_thread(
        lambda: [
            (p.event, p.data)
            for p in sync.runs.stream(
                oid, "chat", input={"messages": [{"role": "user", "content": "hi"}]}
            )
        ]
    )
    assert parts[0][0] == "metadata"
    assert [e for e, _ in parts[1:]] == ["values", "values"]
    assert parts[-1][1]["messages"][-1]["content"] == ANSWER
    waited = await asyncio.to_thread(
        sync.runs.wait, oid, "chat", input={"messages": [{"role": "user", "content": "again"}]}
    )
    assert [m["type"] for m in waited["messages"]] == ["human", "ai", "human", "ai"]
    runs = await asyncio.to_thread(sync.runs.list, oid)
    assert [r["status"] for r in runs] == ["success", "success"]

    # Runs put graph_id into the thread's metadata, beside the user's own keys.
    found = await sdk.threads.search(metadata={"graph_id": "chain3", "owner": owner})
    assert [t["thread_id"] for t in found] == [tid]
    found = await sdk.threads.search(metadata={"graph_id": "chat", "owner": owner})
    assert [t["thread_id"] for t in found] == [oid]
    found = await sdk.threads.search(metadata={"owner": owner}, limit=10)
    assert {t["thread_id"] for t in found} == {tid, oid}
    assert tid in {
        t["thread_id"]
        for t in await sdk.threads.search(metadata={"graph_id": "chain3"}, limit=1000)
    }


async def test_stream_values_updates_and_messages(api: str) -> None:
    sdk = get_client(url=api)
    question = {"messages": [{"role": "user", "content": "hi"}]}

    tid = (await sdk.threads.create())["thread_id"]
    parts = [
        p
        async for p in sdk.runs.stream(
            tid, "chat", input=question, stream_mode=["values", "updates", "messages-tuple"]
        )
    ]
    events = [p.event for p in parts]
    assert events[0] == "metadata" and parts[0].data["run_id"]
    ids = [int(p.id) for p in parts if p.id is not None]
    assert len(ids) == len(parts) and ids == sorted(set(ids)), "ids must strictly increase"
    tokens = [p for p in parts if p.event == "messages"]
    assert len(tokens) > 1, "the model's tokens arrive one by one"
    for p in tokens:
        chunk, meta = p.data
        assert chunk["type"] == "AIMessageChunk" and meta["langgraph_node"] == "respond"
    assert "".join(p.data[0]["content"] for p in tokens) == ANSWER
    # Tokens arrive while the node runs: after the input's values, before its update.
    first_values = events.index("values")
    update_at = events.index("updates")
    assert (
        first_values < events.index("messages")
        and max(i for i, e in enumerate(events) if e == "messages") < update_at
    )
    assert parts[update_at].data["respond"]["messages"][0]["content"] == ANSWER
    values = [p.data for p in parts if p.event == "values"]
    assert [m["content"] for m in values[0]["messages"]] == ["hi"]
    assert [m["content"] for m in values[-1]["messages"]] == ["hi", ANSWER]

    # ``messages`` mode: metadata first, then the whole message so far, growing.
    tid = (await sdk.threads.create())["thread_id"]
    parts = [p async for p in sdk.runs.stream(tid, "chat", input=question, stream_mode="messages")]
    message_events = [p for p in parts if p.event.startswith("messages")]
    assert message_events[0].event == "messages/metadata"
    ((message_id, meta),) = message_events[0].data.items()
    assert meta["metadata"]["langgraph_node"] == "respond"
    partial = [p.data[0] for p in message_events if p.event == "messages/partial"]
    assert len(partial) > 1 and all(m["id"] == message_id for m in partial)
    texts = [m["content"] for m in partial]
    assert all(b.startswith(a) and len(b) > len(a) for a, b in itertools.pairwise(texts))
    assert texts[-1] == ANSWER and partial[-1]["type"] == "ai"
    assert [p.event for p in message_events].count("messages/metadata") == 1
    assert not [p for p in parts if p.event == "messages"], "no tuples unless asked for"


@pytest.mark.parametrize("graph_id", ["say", "agent", "say_functional"])
async def test_messages_a_node_returns_are_streamed_as_langgraph_streams_them(
    api: str, graph_id: str
) -> None:
    """Not only a model's tokens: a message a node returns (a tool's result) is a
    ``messages`` event too, once, as in-process LangGraph streams it."""
    question = {"messages": [{"role": "user", "content": "what is 6 times 7?", "id": "q-1"}]}
    graph = {"say": say_graph, "agent": agent_graph, "say_functional": say_functional}[graph_id]
    local = [
        (chunk.type, chunk.content, meta["langgraph_node"])
        async for chunk, meta in graph.astream(question, stream_mode="messages")
    ]
    sdk = get_client(url=api)
    tid = (await sdk.threads.create())["thread_id"]
    parts = [
        p
        async for p in sdk.runs.stream(tid, graph_id, input=question, stream_mode="messages-tuple")
    ]
    streamed = [
        (p.data[0]["type"], p.data[0]["content"], p.data[1]["langgraph_node"])
        for p in parts
        if p.event == "messages"
    ]
    assert streamed == local
    assert ("tool" if graph_id == "agent" else "ai") in {kind for kind, _, _ in local}, local


async def test_interrupt_and_resume_with_sdk_and_remote_graph(api: str) -> None:
    sdk = get_client(url=api)
    sync = get_sync_client(url=api)

    tid = (await sdk.threads.create())["thread_id"]
    first = await sdk.runs.wait(tid, "approval", input={"request": "x", "log": []})
    asked = {"question": "approve?", "request": "x"}
    assert first["log"] == ["draft x"] and first["__interrupt__"][0]["value"] == asked
    thread = await sdk.threads.get(tid)
    assert thread["status"] == "interrupted"
    assert [i["value"] for task in thread["interrupts"].values() for i in task] == [asked]
    state = await sdk.threads.get_state(tid)
    assert state["next"] == ["approve"]
    assert state["tasks"][0]["interrupts"][0]["value"] == asked
    assert state["interrupts"][0]["id"] == first["__interrupt__"][0]["id"]

    # Resume by streaming: the answer goes in, the next interrupt comes out.
    updates = [
        p.data
        async for p in sdk.runs.stream(
            tid, "approval", command={"resume": {"approved": True}}, stream_mode="updates"
        )
        if p.event == "updates"
    ]
    assert updates[0] == {"approve": {"approved": True, "log": ["approve"]}}
    assert updates[-1]["__interrupt__"][0]["value"] == "who reviews?"
    second = await asyncio.to_thread(sync.runs.wait, tid, "approval", command={"resume": "ann"})
    assert second["__interrupt__"][0]["value"] == "note from ann?"
    done = await sdk.runs.wait(tid, "approval", command={"resume": "fine"})
    assert "__interrupt__" not in done
    assert done["reviewer"] == "ann" and done["note"] == "fine" and done["approved"] is True
    assert done["log"] == ["draft x", "approve", "review"]
    runs = await sdk.runs.list(tid)
    assert [r["status"] for r in runs] == ["success"] * 4
    assert len({r["run_id"] for r in runs}) == 4, "each resume is a run of its own"
    thread = await sdk.threads.get(tid)
    assert thread["status"] == "idle" and thread["interrupts"] == {}

    # RemoteGraph: invoke stops at the interrupt; Command(resume=...) answers it.
    remote = RemoteGraph("approval", url=api)
    config: Any = {"configurable": {"thread_id": str(uuid.uuid4())}}
    out = await remote.ainvoke({"request": "y", "log": []}, config)
    assert out["__interrupt__"][0]["value"] == {"question": "approve?", "request": "y"}
    snapshot = await remote.aget_state(config)
    assert snapshot.next == ("approve",)
    assert snapshot.interrupts[0].value == {"question": "approve?", "request": "y"}
    out = await asyncio.to_thread(remote.invoke, Command(resume={"approved": False}), config)
    assert out == {"request": "y", "approved": False, "log": ["draft y", "approve"]}
    assert (await remote.aget_state(config)).next == ()
    thread = await sdk.threads.get(config["configurable"]["thread_id"])
    assert thread["status"] == "idle" and thread["metadata"]["graph_id"] == "approval"

    # An answer with an update (and a goto), as LangGraph takes Command(resume, update).
    original = load_test_graph("approval", "approval.py:graph").original.copy(
        {"checkpointer": InMemorySaver()}
    )
    local: Any = {"configurable": {"thread_id": "local"}}
    await original.ainvoke({"request": "z", "log": []}, local)
    answer = Command(resume={"approved": True}, update={"log": ["amended"]})
    expected = await original.ainvoke(answer, local)
    tid = (await sdk.threads.create())["thread_id"]
    await sdk.runs.wait(tid, "approval", input={"request": "z", "log": []})
    got = await sdk.runs.wait(
        tid, "approval", command={"resume": {"approved": True}, "update": {"log": ["amended"]}}
    )
    assert "amended" in got["log"]
    for out in (expected_json := to_jsonable(expected), got):
        for asked in out["__interrupt__"]:
            asked.pop("id")  # made from the thread's id
    assert expected_json == got


async def test_history_update_state_and_fork(api: str) -> None:
    sdk = get_client(url=api)
    tid = (await sdk.threads.create())["thread_id"]
    await sdk.runs.wait(tid, "chain3", input={"steps": ["1"]})
    await sdk.runs.wait(tid, "chain3", input={"steps": ["2"]})
    first_run, second_run = [r["run_id"] for r in reversed(await sdk.runs.list(tid))]

    history = await sdk.threads.get_history(tid, limit=20)
    # Per run: the input, then before a, b, c, then the end; newest first.
    assert [h["metadata"]["source"] for h in history] == ["loop"] * 4 + ["input"] + ["loop"] * 4 + [
        "input"
    ]
    assert [h["metadata"]["run_id"] for h in history] == [second_run] * 5 + [first_run] * 5
    for newer, older in itertools.pairwise(history):
        assert newer["parent_checkpoint"]["checkpoint_id"] == older["checkpoint"]["checkpoint_id"]
    assert history[-1]["parent_checkpoint"] is None
    head = history[0]
    assert head["values"] == {"steps": ["1", "a", "b", "c", "2", "a", "b", "c"]}
    assert await sdk.threads.get_history(tid, limit=2) == history[:2]
    older_page = await sdk.threads.get_history(tid, limit=3, before=history[4]["checkpoint"])
    assert older_page == history[5:8]

    remote = RemoteGraph("chain3", url=api)
    config: Any = {"configurable": {"thread_id": tid}}
    snapshots = [s async for s in remote.aget_state_history(config, limit=20)]
    assert [s.config["configurable"]["checkpoint_id"] for s in snapshots] == [
        h["checkpoint"]["checkpoint_id"] for h in history
    ]
    assert (await remote.aget_state(config)).values == head["values"]

    # Fork: run again from the end of the first run; the second run's branch stays.
    fork_point = history[5]
    fork_id = fork_point["checkpoint"]["checkpoint_id"]
    assert fork_point["metadata"]["run_id"] == first_run and fork_point["next"] == []
    forked = await sdk.runs.wait(tid, "chain3", input={"steps": ["fork"]}, checkpoint_id=fork_id)
    fork_steps = ["1", "a", "b", "c", "fork", "a", "b", "c"]
    assert forked == {"steps": fork_steps}
    assert (await sdk.threads.get(tid))["values"] == forked
    branch = await sdk.threads.get_history(tid, limit=5)
    old_ids = {h["checkpoint"]["checkpoint_id"] for h in history}
    assert not old_ids & {h["checkpoint"]["checkpoint_id"] for h in branch}
    assert branch[-1]["metadata"]["source"] == "input"
    assert branch[-1]["parent_checkpoint"]["checkpoint_id"] == fork_id
    # The new branch holds the fork's values, step by step; the old one keeps its own.
    assert [_steps(h["values"]) for h in reversed(branch)] == [
        fork_steps[:4],
        fork_steps[:5],
        fork_steps[:6],
        fork_steps[:7],
        fork_steps,
    ]
    state = await sdk.threads.get_state(tid)
    assert state["values"] == forked
    assert state["checkpoint"] == branch[0]["checkpoint"]
    abandoned = await sdk.threads.get_state(tid, checkpoint_id=head["checkpoint"]["checkpoint_id"])
    assert abandoned["values"] == head["values"]

    # update_state as node "b": the thread waits to run "c" next, then continues.
    updated = await sdk.threads.update_state(tid, {"steps": ["manual"]}, as_node="b")
    state = await sdk.threads.get_state(tid)
    assert state["checkpoint"]["checkpoint_id"] == updated["checkpoint"]["checkpoint_id"]
    assert state["parent_checkpoint"] == branch[0]["checkpoint"]
    assert state["metadata"]["source"] == "update" and state["next"] == ["c"]
    assert state["values"] == {"steps": [*fork_steps, "manual"]}
    assert (await sdk.threads.get(tid))["status"] == "interrupted"
    continued = await sdk.runs.wait(tid, "chain3", input=None)
    assert continued == {"steps": [*fork_steps, "manual", "c"]}
    assert (await sdk.threads.get(tid))["status"] == "idle"

    # RemoteGraph.update_state as the last node: nothing left to run.
    new_config = await remote.aupdate_state(config, {"steps": ["remote"]}, as_node="c")
    assert new_config["configurable"]["thread_id"] == tid
    snapshot = await remote.aget_state(config)
    new_id = new_config["configurable"]["checkpoint_id"]
    assert snapshot.config["configurable"]["checkpoint_id"] == new_id
    assert snapshot.next == ()
    assert snapshot.values == {"steps": [*fork_steps, "manual", "c", "remote"]}

    # A checkpoint the thread does not have is a 404 for reads and updates alike, and
    # an update aimed at one writes nothing.
    before_bad = await sdk.threads.get_state(tid)
    thread_before = await sdk.threads.get(tid)
    nowhere = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=api) as http:
        for response in [
            await http.get(f"/threads/{tid}/state/{nowhere}"),
            await http.post(
                f"/threads/{tid}/state/checkpoint", json={"checkpoint": {"checkpoint_id": nowhere}}
            ),
            await http.post(
                f"/threads/{tid}/state", json={"values": {"steps": ["x"]}, "checkpoint_id": nowhere}
            ),
        ]:
            assert response.status_code == 404, response.text
            assert f"has no checkpoint {nowhere}" in response.json()["detail"]
        fresh = (await sdk.threads.create())["thread_id"]  # no run yet: no checkpoints
        assert (await http.get(f"/threads/{fresh}/state/{nowhere}")).status_code == 404
        assert (await http.get(f"/threads/{fresh}/state")).json()["values"] == {}
        for path, body in [
            (f"/threads/{tid}/state/checkpoint", {}),
            (f"/threads/{tid}/state/checkpoint", {"checkpoint": {"foo": 1}}),
            (f"/threads/{tid}/state", {"values": {"steps": ["x"]}, "checkpoint": {"foo": 1}}),
        ]:
            response = await http.post(path, json=body)
            assert response.status_code == 422, (path, body, response.text)
        assert await sdk.threads.get_state(tid) == before_bad
        assert (await sdk.threads.get(tid))["updated_at"] == thread_before["updated_at"]
        # `before` as an id, a checkpoint or a config names the same page; junk is refused.
        before_id = history[4]["checkpoint"]["checkpoint_id"]
        for before in [
            before_id,
            {"checkpoint_id": before_id},
            {"configurable": {"checkpoint_id": before_id}},
        ]:
            page = await http.post(f"/threads/{tid}/history", json={"limit": 3, "before": before})
            assert page.json() == history[5:8], before
        junk = await http.post(f"/threads/{tid}/history", json={"before": {"id": before_id}})
        assert junk.status_code == 422 and "before" in junk.json()["detail"]


async def test_background_join_and_rejoin_a_dropped_stream(api: str, gates: Gates) -> None:
    sdk = get_client(url=api)
    tid = (await sdk.threads.create())["thread_id"]
    run = await sdk.runs.create(tid, "chain3", input={"steps": []})
    assert run["status"] in ("pending", "running")
    assert await sdk.runs.join(tid, run["run_id"]) == {"steps": ["a", "b", "c"]}
    assert (await sdk.runs.get(tid, run["run_id"]))["status"] == "success"

    # Read the stream until the run is held at its gate, then drop the connection.
    tid = (await sdk.threads.create())["thread_id"]
    gate = gates.closed()
    seen: list[tuple[str | None, str, Any]] = []
    stream = sdk.runs.stream(tid, "gate", input={"gate": gate}, stream_mode=["values", "updates"])
    async with contextlib.aclosing(stream):
        async for part in stream:
            seen.append((part.id, part.event, part.data))
            if part.event == "values":
                break
    assert [e for _, e, _ in seen] == ["metadata", "values"]
    run_id = seen[0][2]["run_id"]
    last_id = seen[-1][0]
    assert last_id is not None
    assert (await sdk.runs.get(tid, run_id))["status"] == "running", "a drop does not cancel"

    # Joined without Last-Event-ID, as LangGraph Server does: only what comes next (the
    # metadata and values already sent are not repeated). Its response has begun (so its
    # starting point is fixed) before the gate opens.
    async with httpx.AsyncClient(base_url=api, timeout=30) as http:
        joined = http.stream("GET", f"/threads/{tid}/runs/{run_id}/stream")
        async with joined as response:
            assert response.status_code == 200
            gates.open(gate)
            fresh = [
                line.removeprefix("event: ")
                async for line in response.aiter_lines()
                if line.startswith("event: ")
            ]
    rest = [
        (p.id, p.event, p.data)
        async for p in sdk.runs.join_stream(tid, run_id, last_event_id=last_id)
    ]
    assert [e for _, e, _ in rest] == ["updates", "values", "updates", "values"]
    assert fresh == [e for _, e, _ in rest], "a fresh join sees what came after it joined"
    assert rest[-1][2] == {"gate": gate, "steps": ["held", "released"]}
    everything = [
        (p.id, p.event, p.data) async for p in sdk.runs.join_stream(tid, run_id, last_event_id="-")
    ]
    assert everything == seen + rest, "exactly the missing events, none twice"
    assert len({i for i, _, _ in everything}) == len(everything)
    assert (await sdk.runs.get(tid, run_id))["status"] == "success"


async def test_cancel_a_running_run(api: str, gates: Gates) -> None:
    sdk = get_client(url=api)
    tid = (await sdk.threads.create())["thread_id"]
    run = await sdk.runs.create(tid, "gate", input={"gate": gates.closed()})
    await _until_status(sdk, tid, run["run_id"], "running")
    assert (await sdk.threads.get(tid))["status"] == "busy"

    # wait=True answers once the run has stopped, with its last values and no error.
    last = await sdk.runs.cancel(tid, run["run_id"], wait=True)
    assert isinstance(last, dict) and "__error__" not in last
    assert (await sdk.runs.get(tid, run["run_id"]))["status"] == "interrupted"
    events = [p.event async for p in sdk.runs.join_stream(tid, run["run_id"], last_event_id="-")]
    assert events[0] == "metadata" and "error" not in events
    assert (await sdk.threads.get(tid))["status"] in ("idle", "interrupted")
    # The thread takes the next run.
    after = await sdk.runs.wait(tid, "gate", input={"gate": gates.opened()})
    assert after["steps"] == ["held", "released"]
    assert [r["status"] for r in await sdk.runs.list(tid)] == ["success", "interrupted"]


async def test_multitask_reject_and_enqueue(api: str, gates: Gates) -> None:
    sdk = get_client(url=api)
    tid = (await sdk.threads.create())["thread_id"]
    gate = gates.closed()
    first = await sdk.runs.create(tid, "gate", input={"gate": gate})
    await _until_status(sdk, tid, first["run_id"], "running")

    with pytest.raises(ConflictError):
        await sdk.runs.create(
            tid, "gate", input={"gate": gates.opened()}, multitask_strategy="reject"
        )
    with pytest.raises(ConflictError):
        async for _ in sdk.runs.stream(
            tid, "gate", input={"gate": gates.opened()}, multitask_strategy="reject"
        ):
            pass
    # runs.wait does not map statuses to typed errors: a bare HTTPStatusError.
    with pytest.raises(httpx.HTTPStatusError) as err:
        await sdk.runs.wait(
            tid, "gate", input={"gate": gates.opened()}, multitask_strategy="reject"
        )
    assert err.value.response.status_code == 409
    assert [r["run_id"] for r in await sdk.runs.list(tid)] == [first["run_id"]]

    second = await sdk.runs.create(
        tid, "gate", input={"gate": gates.opened()}, multitask_strategy="enqueue"
    )
    assert (await sdk.runs.get(tid, second["run_id"]))["status"] == "pending"
    gates.open(gate)
    result = await sdk.runs.join(tid, second["run_id"])
    assert result["steps"] == ["held", "released", "held", "released"]
    runs = await sdk.runs.list(tid)
    assert [(r["run_id"], r["status"]) for r in runs] == [
        (second["run_id"], "success"),
        (first["run_id"], "success"),
    ]
    # In order: every checkpoint of the second run is newer than all of the first's.
    history = await sdk.threads.get_history(tid, limit=20)
    by_run = [h["metadata"]["run_id"] for h in history]
    newer = by_run.count(second["run_id"])
    assert newer > 0 and by_run[:newer] == [second["run_id"]] * newer
    assert set(by_run[newer:]) == {first["run_id"]}


async def test_multitask_interrupt(api: str, gates: Gates) -> None:
    sdk = get_client(url=api)
    tid = (await sdk.threads.create())["thread_id"]
    first = await sdk.runs.create(tid, "gate", input={"gate": gates.closed()})
    await _until_status(sdk, tid, first["run_id"], "running")

    second = await sdk.runs.create(
        tid, "gate", input={"gate": gates.opened()}, multitask_strategy="interrupt"
    )
    result = await sdk.runs.join(tid, second["run_id"])
    # The first run never got past its gate; the second started from its state.
    assert result["steps"] == ["held", "released"]
    assert (await sdk.runs.get(tid, first["run_id"]))["status"] == "interrupted"
    assert (await sdk.runs.get(tid, second["run_id"]))["status"] == "success"
    assert (await sdk.threads.get(tid))["status"] == "idle"


async def _resume_held_at_gate(
    sdk: LangGraphClient, gates: Gates
) -> tuple[str, str, dict[str, Any]]:
    """A thread of ``ask_gate`` resumed with a closed gate, its run held at that gate:
    the thread, the gate and the run."""
    tid = (await sdk.threads.create())["thread_id"]
    await sdk.runs.wait(tid, "ask_gate", input={"steps": []})  # waits at "which gate?"
    held = gates.closed()
    run = await sdk.runs.create(tid, "ask_gate", command={"resume": held})
    for _ in range(_STATUS_POLLS):  # the resume is past "ask", held at its gate
        if (await sdk.threads.get_state(tid))["next"] == ["hold"]:
            return tid, held, run
        await asyncio.sleep(0.05)
    raise AssertionError("the resume never reached its gate")


@pytest.mark.parametrize("strategy", ["interrupt", "rollback"])
async def test_multitask_a_resume_stops_the_running_resume(
    api: str, gates: Gates, strategy: str
) -> None:
    """A resume sent with "interrupt" or "rollback" while an earlier resume runs stops
    that run, as for a new input: it is not queued behind it."""
    sdk = get_client(url=api)
    tid, held, first = await _resume_held_at_gate(sdk, gates)
    opened = gates.opened()
    second = await sdk.runs.create(
        tid, "ask_gate", command={"resume": opened}, multitask_strategy=strategy
    )
    if strategy == "interrupt":
        await _until_status(sdk, tid, first["run_id"], "interrupted")
        # The second run goes on from the first's checkpoints (no interrupt is pending:
        # its answer is unused, as in LangGraph), so it waits at the first's gate.
        gates.open(held)
        result = await sdk.runs.join(tid, second["run_id"])
        assert result == {"gate": held, "steps": ["asked", "held", "released"]}
        assert [r["status"] for r in await sdk.runs.list(tid)][:2] == ["success", "interrupted"]
    else:
        # The first run is gone with its checkpoints: the second answers the interrupt.
        result = await sdk.runs.join(tid, second["run_id"])
        assert result == {"gate": opened, "steps": ["asked", "held", "released"]}
        assert first["run_id"] not in [r["run_id"] for r in await sdk.runs.list(tid)]
        history = await sdk.threads.get_history(tid, limit=50)
        assert first["run_id"] not in {h["metadata"].get("run_id") for h in history}
    assert (await sdk.runs.get(tid, second["run_id"]))["status"] == "success"
    assert (await sdk.threads.get(tid))["status"] == "idle"


async def test_stateless_runs(api: str) -> None:
    sdk = get_client(url=api)
    sync = get_sync_client(url=api)
    assert await sdk.runs.wait(None, "chain3", input={"steps": ["s"]}) == {
        "steps": ["s", "a", "b", "c"]
    }
    parts = [
        (p.event, p.data)
        async for p in sdk.runs.stream(None, "chain3", input={"steps": []}, stream_mode="updates")
    ]
    assert parts[0][0] == "metadata"
    assert [d for e, d in parts if e == "updates"] == [
        {"a": {"steps": ["a"]}},
        {"b": {"steps": ["b"]}},
        {"c": {"steps": ["c"]}},
    ]
    assert await asyncio.to_thread(sync.runs.wait, None, "chain3", input={"steps": []}) == {
        "steps": ["a", "b", "c"]
    }
    remote = RemoteGraph("chain3", url=api)
    assert await remote.ainvoke({"steps": ["r"]}) == {"steps": ["r", "a", "b", "c"]}


async def test_remote_graph_invoke_and_stream_on_a_thread(api: str) -> None:
    sdk = get_client(url=api)
    remote = RemoteGraph("chain3", url=api)
    tid = str(uuid.uuid4())
    config: Any = {"configurable": {"thread_id": tid}}

    assert await remote.ainvoke({"steps": []}, config) == {"steps": ["a", "b", "c"]}
    chunks = [c async for c in remote.astream({"steps": ["x"]}, config, stream_mode="updates")]
    assert chunks == [{"a": {"steps": ["a"]}}, {"b": {"steps": ["b"]}}, {"c": {"steps": ["c"]}}]
    out = await asyncio.to_thread(remote.invoke, {"steps": ["y"]}, config)
    assert out == {"steps": ["a", "b", "c", "x", "a", "b", "c", "y", "a", "b", "c"]}
    values = await asyncio.to_thread(
        lambda: list(remote.stream({"steps": []}, config, stream_mode="values"))
    )
    assert values[-1]["steps"][-3:] == ["a", "b", "c"] and len(values[-1]["steps"]) == 14

    thread = await sdk.threads.get(tid)
    assert thread["metadata"]["graph_id"] == "chain3" and thread["values"] == values[-1]
    assert [r["status"] for r in await sdk.runs.list(tid)] == ["success"] * 4


async def test_idempotency_key_and_after_seconds(api: str) -> None:
    sdk = get_client(url=api)
    tid = (await sdk.threads.create())["thread_id"]
    key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    first = await sdk.runs.create(tid, "chain3", input={"steps": []}, headers=key)
    again = await sdk.runs.create(tid, "chain3", input={"steps": []}, headers=key)
    assert again["run_id"] == first["run_id"]
    assert await sdk.runs.join(tid, first["run_id"]) == {"steps": ["a", "b", "c"]}
    assert [r["run_id"] for r in await sdk.runs.list(tid)] == [first["run_id"]]
    assert (await sdk.threads.get_state(tid))["values"] == {"steps": ["a", "b", "c"]}

    # A delayed run is pending (and its thread busy) until its time comes.
    tid = (await sdk.threads.create())["thread_id"]
    later = await sdk.runs.create(tid, "chain3", input={"steps": []}, after_seconds=1)
    assert later["status"] == "pending"
    assert (await sdk.runs.get(tid, later["run_id"]))["status"] == "pending"
    assert (await sdk.threads.get(tid))["status"] == "busy"
    assert await sdk.runs.join(tid, later["run_id"]) == {"steps": ["a", "b", "c"]}
    assert (await sdk.runs.get(tid, later["run_id"]))["status"] == "success"
    assert (await sdk.threads.get(tid))["status"] == "idle"

    # Cancelled while it waits for its time: it never ran, and left not even its input.
    before = await sdk.threads.get_state(tid)
    delayed = await sdk.runs.create(tid, "chain3", input={"steps": ["x"]}, after_seconds=60)
    await sdk.runs.cancel(tid, delayed["run_id"], wait=True)
    assert (await sdk.runs.get(tid, delayed["run_id"]))["status"] == "interrupted"
    after = await sdk.threads.get_state(tid)
    assert after["values"] == before["values"] and after["checkpoint"] == before["checkpoint"]
    assert (await sdk.threads.get(tid))["status"] == "idle"


async def test_rolling_back_a_resumed_run_returns_the_thread_to_its_interrupt(
    api: str, gates: Gates
) -> None:
    """runs.cancel(action="rollback") of a resume: the thread waits at the interrupt
    again, as before the resume (its answer and its node's writes are gone too), and
    another answer goes on from there."""
    sdk = get_client(url=api)
    tid, _, first = await _resume_held_at_gate(sdk, gates)
    # The checkpoints before the resume (it added one, the newest).
    before = [h["checkpoint"] for h in await sdk.threads.get_history(tid, limit=50)][1:]
    await sdk.runs.cancel(tid, first["run_id"], action="rollback")
    for _ in range(_STATUS_POLLS):
        if (await sdk.threads.get(tid))["status"] == "interrupted":
            break
        await asyncio.sleep(0.05)
    thread = await sdk.threads.get(tid)
    assert thread["status"] == "interrupted" and len(thread["interrupts"]) == 1
    state = await sdk.threads.get_state(tid)
    assert state["next"] == ["ask"] and state["values"] == {"steps": []}
    [task] = state["tasks"]
    assert task["interrupts"][0]["value"] == "which gate?" and task["result"] is None
    assert [h["checkpoint"] for h in await sdk.threads.get_history(tid, limit=50)] == before
    assert first["run_id"] not in [r["run_id"] for r in await sdk.runs.list(tid)]

    opened = gates.opened()
    result = await sdk.runs.wait(tid, "ask_gate", command={"resume": opened})
    assert result == {"gate": opened, "steps": ["asked", "held", "released"]}
    assert (await sdk.threads.get(tid))["status"] == "idle"
