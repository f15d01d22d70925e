"""Real-world sizes with the defaults: long conversations, a 10 MB value, and a history
that does not grow with the state (values travel as claim checks, see temporal/codec.py)."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import pytest
from langgraph_sdk import get_client
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from tempograph.temporal.codec import INLINE_LIMIT
from tempograph.temporal.devserver import DevServer
from tempograph.valuestore import MAX_VALUE_BYTES
from tests.conftest import load_test_graph
from tests.integration.api_server import api_stack

pytestmark = pytest.mark.slow


def conversation(count: int, chars: int = 500) -> list[dict[str, Any]]:
    return [
        {
            "type": "human" if i % 2 == 0 else "ai",
            "content": f"{i:04d} " + "w" * chars,
            "id": f"m-{i}",
        }
        for i in range(count)
    ]


@pytest.fixture
def graphs() -> dict[str, Any]:
    return {
        name: load_test_graph(name, f"size_graphs.py:{name}")
        for name in (
            "chat",
            "chain20",
            "document",
            "too_big",
            "ask_first",
            "map_docs",
            "echo_big",
            "react",
        )
    }


async def history_bytes(client: Client, workflow_id: str) -> tuple[int, int]:
    """(total bytes of the run's history events, largest payload in it)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    largest = 0
    for event in history.events:
        for field in ("activity_task_scheduled", "activity_task_completed"):
            attrs = getattr(event, f"{field}_event_attributes")
            payloads = attrs.input if field.endswith("scheduled") else attrs.result
            for payload in payloads.payloads:
                largest = max(largest, payload.ByteSize())
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            for details in event.marker_recorded_event_attributes.details.values():
                for payload in details.payloads:
                    largest = max(largest, payload.ByteSize())
    return sum(e.ByteSize() for e in history.events), largest


async def test_a_thousand_message_thread_keeps_running(
    dev_server: DevServer, client: Client, postgres_url: str, graphs: dict[str, Any]
) -> None:
    """1,000 messages of ~500 characters (about 600 KB of state, past Temporal's 2 MB only
    by growth): runs on it complete, and each payload in their history stays small."""
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        sdk = get_client(url=str(http.base_url))
        thread = await sdk.threads.create()
        tid = thread["thread_id"]
        first = await sdk.runs.wait(tid, "chat", input={"messages": conversation(1000)})
        second = await sdk.runs.wait(tid, "chat", input={"messages": conversation(2)[:1]})
        runs = await sdk.runs.list(tid)
        state = await sdk.threads.get_state(tid)
        history = await sdk.threads.get_history(tid, limit=20)
        sizes = [await history_bytes(client, r["workflow_id"]) for r in runs]
        # The thread's own values (kept by reference: its row stays small) read as the
        # state does, match a values search, and go with a copy.
        thread = await sdk.threads.get(tid)
        row = await thread_row_bytes(postgres_url, tid)
        found = await sdk.threads.search(values={"messages": [{"id": "m-999"}]}, limit=100)
        missed = await sdk.threads.search(values={"messages": [{"id": "nowhere"}]})
        copied = await sdk.threads.get((await sdk.threads.copy(tid))["thread_id"])
        edit = {"type": "human", "content": "edited", "id": "m-0"}
        await sdk.threads.update_state(tid, {"messages": [edit]})
        updated, edited = await sdk.threads.get(tid), await sdk.threads.get_state(tid)
        updated_row = await thread_row_bytes(postgres_url, tid)

    assert len(first["messages"]) == 1003
    assert len(second["messages"]) == 1006  # the repeated id replaced its message
    assert [r["status"] for r in runs] == ["success", "success"]
    assert len(state["values"]["messages"]) == 1006
    assert thread["values"] == state["values"] == copied["values"]
    assert row < 16 * 1024 and updated_row < 16 * 1024, (row, updated_row)
    assert updated["values"] == edited["values"] != state["values"]
    assert edited["values"]["messages"][0]["content"] == "edited"
    assert tid in [t["thread_id"] for t in found] and tid not in [t["thread_id"] for t in missed]
    assert len(history) == 10
    assert max(largest for _, largest in sizes) <= INLINE_LIMIT + 512


async def test_a_ten_megabyte_value_flows_through_a_run(
    dev_server: DevServer, client: Client, postgres_url: str, graphs: dict[str, Any]
) -> None:
    """A node returns 10 MB (a big tool output); the next node reads it; the state keeps
    it; the run's history stays small. An input of 10 MB is taken as well."""
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        out = await sdk.runs.wait(tid, "document", input={"messages": []})
        run = (await sdk.runs.list(tid))[0]
        total, largest = await history_bytes(client, run["workflow_id"])
        big_input = await sdk.runs.wait(None, "document", input={"doc": "i" * (10 * 1024 * 1024)})
        conn = await asyncpg.connect(postgres_url)
        try:  # the input is kept once, in the run's kwargs, not again in its request
            requests = await conn.fetchval("SELECT max(length(request)) FROM runs")
        finally:
            await conn.close()

    assert out["size"] == 10 * 1024 * 1024
    assert out["doc"] == "d" * (10 * 1024 * 1024)
    assert largest <= INLINE_LIMIT + 512
    assert total < 100_000
    assert big_input["size"] == 10 * 1024 * 1024
    assert requests < 64 * 1024, requests


async def test_a_fan_out_of_big_documents_sends_each_document_once(
    dev_server: DevServer, client: Client, postgres_url: str, graphs: dict[str, Any]
) -> None:
    """A map-reduce over 50 documents of 500 KB (``Send`` per document): every branch
    named all 25 MB of them in its input, so the workflow task scheduling them took
    seconds, Temporal's deadlock detector failed it, and the run hung (found 2026-12-02).
    Now each document goes out once, and the run completes."""
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        out = await sdk.runs.wait(tid, "map_docs", input={"n": 50, "size": 500_000})
        run = (await sdk.runs.list(tid))[0]
        total, largest = await history_bytes(client, run["workflow_id"])

    assert out["total"] == 50 * 500_003, out
    assert sorted(out["lengths"]) == [500_003] * 50
    assert largest <= INLINE_LIMIT + 512
    assert total < 300_000


async def table_bytes(postgres_url: str) -> dict[str, int]:
    """Bytes in each table that grows with a thread's state."""
    conn = await asyncpg.connect(postgres_url)
    try:
        return {
            table: await conn.fetchval(
                f"SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM {table} t"
            )
            for table in (
                "tempograph_values",
                "checkpoint_blobs",
                "checkpoint_writes",
                "run_events",
                "runs",
            )
        }
    finally:
        await conn.close()


async def thread_row_bytes(postgres_url: str, thread_id: str) -> int:
    conn = await asyncpg.connect(postgres_url)
    try:
        size = await conn.fetchval(
            "SELECT pg_column_size(t.*) FROM threads t WHERE thread_id = $1::uuid", thread_id
        )
        return int(size)
    finally:
        await conn.close()


async def test_a_big_message_in_a_chat_is_stored_once(
    dev_server: DevServer, client: Client, postgres_url: str, graphs: dict[str, Any]
) -> None:
    """A 30 MB message (a pasted document) in a short chat: the run that brings it
    completes, and later runs on the thread add their own messages, not copies of it."""
    big = {"type": "human", "content": "p" * (30 * 1024 * 1024), "id": "pasted"}
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        started = time.monotonic()
        first = await sdk.runs.wait(tid, "chat", input={"messages": [big]})
        print(f"the run with a 30 MB message took {time.monotonic() - started:.1f} s")
        before = await table_bytes(postgres_url)
        for turn in range(3):
            started = time.monotonic()
            question = {"type": "human", "content": f"question {turn}", "id": f"q{turn}"}
            await sdk.runs.wait(tid, "chat", input={"messages": [question]})
            print(f"a later run took {time.monotonic() - started:.2f} s")
        after = await table_bytes(postgres_url)
        runs = await sdk.runs.list(tid)
        state = await sdk.threads.get_state(tid)
        thread = await sdk.threads.get(tid)
        row = await thread_row_bytes(postgres_url, tid)

    assert len(first["messages"]) == 4
    assert [r["status"] for r in runs] == ["success"] * 4
    assert len(state["values"]["messages"]) == 16
    assert state["values"]["messages"][0]["content"] == big["content"]
    assert thread["values"] == state["values"]
    assert row < 16 * 1024, row  # not a copy of the state: each run would rewrite it
    grown = {table: after[table] - before[table] for table in after}
    print(f"bytes added by three later runs: {grown}")
    assert sum(grown.values()) < 1024 * 1024, grown


async def test_big_answers_without_ids_each_keep_the_id_langgraph_gives_them(
    dev_server: DevServer, client: Client, postgres_url: str, graphs: dict[str, Any]
) -> None:
    """A node's answer of 16 KiB or more without an id, the same bytes every turn, on
    three threads run three ways: each answer gets an id of its own (add_messages gives
    it in place) and is kept, as in process. Parts are shared by content; an object
    LangGraph still changes must not be. The updates event shows the id the state
    holds, as in process."""
    from langgraph.checkpoint.memory import InMemorySaver

    from tests.graphs.size_graphs import echo_builder

    local = echo_builder.compile(checkpointer=InMemorySaver())
    asks = [{"type": "human", "content": "20000", "id": f"h{turn}"} for turn in range(3)]
    for turn in range(3):
        await local.ainvoke({"messages": [asks[turn]]}, {"configurable": {"thread_id": "t"}})
    expected = [
        m.type
        for m in (await local.aget_state({"configurable": {"thread_id": "t"}})).values["messages"]
    ]
    answer_ids: list[str] = []
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        sdk = get_client(url=str(http.base_url))
        for how in ("updates", "wait", "values"):
            tid = (await sdk.threads.create())["thread_id"]
            shown: list[str] = []
            for ask in asks:
                if how == "wait":
                    await sdk.runs.wait(tid, "echo_big", input={"messages": [ask]})
                    continue
                async for part in sdk.runs.stream(
                    tid, "echo_big", input={"messages": [ask]}, stream_mode=how
                ):
                    if part.event == "updates":
                        shown += [m["id"] for m in part.data["echo"]["messages"]]
            messages = (await sdk.threads.get_state(tid))["values"]["messages"]
            assert [m["type"] for m in messages] == expected == ["human", "ai"] * 3, how
            assert all(len(m["content"]) == 20000 for m in messages[1::2]), how
            ids = [m["id"] for m in messages[1::2]]
            assert None not in ids and len(set(ids)) == 3, (how, ids)
            if how == "updates":
                assert shown == ids
            answer_ids += ids
    assert len(set(answer_ids)) == 9, answer_ids


async def test_a_react_agents_tool_steps_do_not_copy_a_big_state(
    dev_server: DevServer, client: Client, postgres_url: str, graphs: dict[str, Any]
) -> None:
    """LangGraph's prebuilt ReAct agent sends each tool call with the whole state. On a
    thread holding a 2 MB document, a turn of eight tool calls stores a few KB per step,
    not the state again (it stored two copies a step: the Send and the tasks channel),
    and ends as in process."""
    from langgraph.checkpoint.memory import InMemorySaver

    from tests.graphs.size_graphs import react

    document = {"type": "human", "content": "read this: " + "d" * 2_000_000, "id": "doc"}
    question = {"type": "human", "content": "add them up", "id": "q"}
    local = react.copy(update={"checkpointer": InMemorySaver()})
    where = {"configurable": {"thread_id": "t"}}
    await local.ainvoke({"messages": [document]}, where)
    expected = (await local.ainvoke({"messages": [question]}, where))["messages"]
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        await sdk.runs.wait(tid, "react", input={"messages": [document]})
        before = await table_bytes(postgres_url)
        out = await sdk.runs.wait(tid, "react", input={"messages": [question]})
        after = await table_bytes(postgres_url)

    assert [(m["type"], m["content"]) for m in out["messages"]] == [
        (m.type, m.content) for m in expected
    ]
    assert out["messages"][-1]["content"] == "sum 36"
    grown = {table: after[table] - before[table] for table in after}
    print(f"bytes added by a turn of eight tool calls on a 2 MB thread: {grown}")
    assert sum(grown.values()) < 1024 * 1024, grown


async def test_every_checkpoint_reads_back_past_64_messages_and_with_big_items(
    dev_server: DevServer, client: Client, postgres_url: str, graphs: dict[str, Any]
) -> None:
    """Where a list's encoding changes (past 64 items, an item of 16 KiB or more), every
    checkpoint of the thread, its pending writes included, still reads back; and a run
    that stops at interrupt() in its first node with a big item resumes."""
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        await sdk.runs.wait(tid, "chat", input={"messages": conversation(58)})
        for turn in range(3):  # 61 messages, then 65, 69, 73
            question = {"type": "human", "content": f"question {turn}", "id": f"q{turn}"}
            await sdk.runs.wait(tid, "chat", input={"messages": [question]})
        history = await sdk.threads.get_history(tid, limit=100)
        for entry in history:
            at = await sdk.threads.get_state(tid, checkpoint_id=entry["checkpoint_id"])
            assert at["values"] == entry["values"]
        assert len(history) == 20 and len(history[0]["values"]["messages"]) == 73

        asking = (await sdk.threads.create())["thread_id"]
        big_note = "G" * 17_408
        stopped = await sdk.runs.wait(asking, "ask_first", input={"notes": [big_note]})
        assert stopped["__interrupt__"][0]["value"] == {"notes": 1}, stopped
        assert (await sdk.threads.get_state(asking))["next"] == ["ask"]
        done = await sdk.runs.wait(asking, "ask_first", command={"resume": "yes"})
        assert done["notes"] == [big_note, "answered yes"]
        assert len(await sdk.threads.get_history(asking, limit=10)) == 4


async def test_a_twenty_node_runs_history_grows_a_few_kb_per_node_whatever_the_state(
    dev_server: DevServer, client: Client, postgres_url: str, graphs: dict[str, Any]
) -> None:
    """Twenty nodes, on a thread of 3 messages and on one of 1,000: the history's size
    per node is under 8 KB both times, and nearly the same."""
    per_node: dict[str, float] = {}
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        sdk = get_client(url=str(http.base_url))
        for label, count in (("small", 3), ("large", 1000)):
            tid = (await sdk.threads.create())["thread_id"]
            await sdk.runs.wait(tid, "chain20", input={"messages": conversation(count)})
            run = (await sdk.runs.list(tid))[0]
            assert run["status"] == "success"
            total, _ = await history_bytes(client, run["workflow_id"])
            per_node[label] = total / 20
    print(f"history bytes per node: {per_node}")
    assert per_node["large"] < 8 * 1024
    assert per_node["large"] < per_node["small"] * 1.5


async def test_a_value_over_the_cap_fails_its_node_not_the_workflow(
    dev_server: DevServer, client: Client, postgres_url: str, graphs: dict[str, Any]
) -> None:
    """A node that returns one value past MAX_VALUE_BYTES (256 MiB) fails at once (no
    retry makes it smaller): the run is an error naming the node and the cap, its
    workflow failed rather than terminated, and the thread keeps its earlier state."""
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        out = await sdk.runs.wait(tid, "too_big", input={"doc": "small"}, raise_error=False)
        run = (await sdk.runs.list(tid))[0]
        thread = await sdk.threads.get(tid)
        state = await sdk.threads.get_state(tid)
        description = await client.get_workflow_handle(run["workflow_id"]).describe()
        attempts = [
            e.activity_task_started_event_attributes.attempt
            async for e in client.get_workflow_handle(run["workflow_id"]).fetch_history_events()
            if e.HasField("activity_task_started_event_attributes")
        ]

    assert run["status"] == "error" and thread["status"] == "error"
    assert out["__error__"]["error"] == "ValueTooLarge"
    assert f"at most {MAX_VALUE_BYTES} bytes" in out["__error__"]["message"]
    assert thread["error"]["node"] == "overflow"
    assert description.status == WorkflowExecutionStatus.FAILED
    assert attempts == [1]
    assert state["values"]["doc"] == "small" and state["next"] == ["overflow"]
