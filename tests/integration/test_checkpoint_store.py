"""The checkpoint store against LangGraph's own checkpointer conformance suite, on a real
Postgres; and the engine's bulk operations (a run's rows written, a run's start loaded)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.graph import START, MessagesState, StateGraph

from tempograph.checkpoints import PostgresCheckpointStore
from tempograph.database import migrate, open_pool
from tempograph.valuestore import PostgresValueStore, ValueStore
from tempograph.workflows.saver import WorkflowSaver


@pytest.fixture
async def pool(postgres_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await open_pool(postgres_url, max_size=4)
    await migrate(pool)
    try:
        yield pool
    finally:
        await pool.close()


def value_store(pool: asyncpg.Pool) -> ValueStore:
    async def get() -> asyncpg.Pool:
        return pool

    return PostgresValueStore(get)


async def test_passes_langgraphs_conformance_suite(pool: asyncpg.Pool) -> None:
    """Every capability LangGraph defines (put, writes, get, list, delete thread, delete
    for runs, copy thread, prune), with LangGraph's own assertions."""

    @checkpointer_test(name="PostgresCheckpointStore")
    async def store() -> AsyncIterator[PostgresCheckpointStore]:
        yield PostgresCheckpointStore(pool, value_store(pool))

    report = await validate(store)
    failures = {
        capability: result.failures
        for capability, result in report.results.items()
        if result.passed is not True
    }
    assert failures == {}
    assert set(report.results) == {
        "put",
        "put_writes",
        "get_tuple",
        "list",
        "delete_thread",
        "delete_for_runs",
        "copy_thread",
        "prune",
    }


def chat() -> Any:
    def reply(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(f"reply {len(state['messages'])}")]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile()


async def test_rows_a_run_writes_load_back_as_its_start(pool: asyncpg.Pool) -> None:
    """What a workflow's saver hands an activity goes to Postgres as rows and parts; the
    next run's start loads it back, and LangGraph continues the thread from it; the
    conversation's unchanged parts are stored once."""
    store = PostgresCheckpointStore(pool, value_store(pool))
    thread = "rows-thread"
    config: Any = {"configurable": {"thread_id": thread}}
    saver = WorkflowSaver(thread)
    history = [HumanMessage(f"m{i} " + "x" * 400, id=f"m{i}") for i in range(300)]
    graph = chat().copy({"checkpointer": saver})
    await graph.ainvoke({"messages": history}, config)
    found = saver.batch()
    assert found is not None
    batch, parts = found
    await store.values.put_many({h: p.data for h, p in parts.parts.items() if p.data})
    await store.write_batch(batch)
    stored_parts = await pool.fetchval("SELECT count(*) FROM tempograph_values")

    start, needed = await store.load_start(thread)
    assert {c.checkpoint_id for c in start.checkpoints} == {saver.head_id()}
    fetched = await store.values.get_many(list(needed.parts))
    for part_hash, data in fetched.items():
        needed.parts[part_hash].data = data
    continued = chat().copy({"checkpointer": WorkflowSaver(thread, start, needed)})
    await continued.ainvoke({"messages": [HumanMessage("more", id="more")]}, config)
    state = await continued.aget_state(config)
    assert [m.content for m in state.values["messages"]][-3:] == [
        "reply 300",
        "more",
        "reply 302",
    ]
    # The store reads the same thread through LangGraph's own interface.
    assert (await chat().copy({"checkpointer": store}).aget_state(config)).values == (
        await graph.aget_state(config)
    ).values
    # A second run appends two messages: its rows name the old parts, adding a couple.
    again = continued.checkpointer.batch()
    assert again is not None
    new_parts = {h for h in again[1].parts} - set(fetched)
    assert 0 < len(new_parts) <= 4
    assert stored_parts >= 10
