"""Edge cases found in review: each was a hang, a stuck or wrong run, or a lost thread."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from temporalio.client import Client

from tempograph.errors import GraphLoadError, InvalidRequestError
from tempograph.remote import thread_uuid
from tempograph.workflows.jsonable import to_jsonable
from tests.conftest import load_test_graph
from tests.integration.history import node_executions


async def test_static_breakpoint_stops_the_run_and_resume_continues(
    stack_for: Any, client: Client
) -> None:
    durable = load_test_graph("edge_bp", "edge_cases.py:breakpoint_graph")
    local = durable.original.copy({"checkpointer": InMemorySaver()})
    config: Any = {"configurable": {"thread_id": "bp"}}
    await local.ainvoke({"n": 1}, config)
    paused = await local.aget_state(config)
    expected = await local.ainvoke(None, config)

    async with stack_for({"edge_bp": durable}) as stack:
        thread = stack.new_thread()
        ticket = await stack.threads.submit(thread, "edge_bp", {"n": 1})
        outcome = await stack.threads.wait(thread, ticket.run_id)
        assert outcome.status == "interrupted"
        state = await stack.threads.state(thread)
        assert state.status == "interrupted"
        assert state.next == list(paused.next) == ["second"]
        assert state.values == to_jsonable(paused.values)
        waiting = await stack.threads.resume(thread, None)
        done = await stack.threads.wait(thread, waiting.run_id)
    assert done.status == "success"
    assert done.values == to_jsonable(expected)


async def test_a_resumed_runs_checkpoints_carry_the_resumes_time(
    stack_for: Any, client: Client
) -> None:
    """Checkpoints a workflow task mints from a node's result take their time from that
    result (so a reset mints them again); a resume of the waiting workflow, later, mints
    with its own time, also before any node ran (here: its update)."""
    durable = load_test_graph("edge_approval_time", "approval.py:graph")
    async with stack_for({"edge_approval_time": durable}) as stack:
        thread = stack.new_thread()
        ticket = await stack.threads.submit(thread, "edge_approval_time", {"request": "r"})
        assert (await stack.threads.wait(thread, ticket.run_id)).status == "interrupted"
        paused = {c["checkpoint_id"] for c in (await stack.threads.state(thread, True)).history}
        await asyncio.sleep(1.5)
        resumed_at = datetime.now(UTC)
        waiting = await stack.threads.resume(thread, {"approved": False}, {"note": "late"})
        assert (await stack.threads.wait(thread, waiting.run_id)).status == "success"
        history = (await stack.threads.state(thread, True)).history
    times = {c["checkpoint_id"]: datetime.fromisoformat(c["created_at"]) for c in history}
    later = [moment for checkpoint, moment in times.items() if checkpoint not in paused]
    earlier = [moment for checkpoint, moment in times.items() if checkpoint in paused]
    assert later and earlier
    assert min(later) > max(earlier) + timedelta(seconds=1)
    assert min(later) > resumed_at - timedelta(seconds=1)
    # Newest first by id is newest first by time.
    assert [times[c["checkpoint_id"]] for c in history] == sorted(times.values(), reverse=True)


async def test_a_router_raising_a_huge_error_fails_its_run_with_the_error_cut(
    stack_for: Any, client: Client
) -> None:
    """Errors raised in workflow code (a router, a reducer) are cut as a node's are: the
    run, its thread and its history keep ~2,000 characters, not 300 KB."""
    durable = load_test_graph("edge_loud", "edge_cases.py:loud_router_graph")
    async with stack_for({"edge_loud": durable}) as stack:
        thread = stack.new_thread()
        ticket = await stack.threads.submit(thread, "edge_loud", {"n": 1})
        outcome = await stack.threads.wait(thread, ticket.run_id)
        row = (await stack.http.get(f"/threads/{thread_uuid(thread)}")).json()
        history = await client.get_workflow_handle(ticket.workflow_id).fetch_history()
    assert outcome.status == "error"
    assert outcome.error is not None and "ValueError" in str(outcome.error)
    assert str(outcome.error).count("W") == 2000 and "(300000 characters)" in str(outcome.error)
    assert row["status"] == "error" and len(str(row["error"])) < 2500
    assert sum(e.ByteSize() for e in history.events) < 40_000


async def test_a_router_slower_than_the_sdks_deadlock_timeout_still_routes(
    stack_for: Any, client: Client
) -> None:
    """A router that takes 3 s runs in workflow code past the SDK's 2 s deadlock
    detector; that failed the task, the workflow could not be evicted, and the run hung
    for good. The detector is off for our workflows: the run completes."""
    durable = load_test_graph("edge_slow_route", "edge_cases.py:slow_router_graph")
    async with stack_for({"edge_slow_route": durable}) as stack:
        thread = stack.new_thread()
        ticket = await stack.threads.submit(thread, "edge_slow_route", {"n": 1})
        outcome = await asyncio.wait_for(stack.threads.wait(thread, ticket.run_id), 60)
    assert outcome.status == "success", outcome.error
    assert outcome.values == {"n": 20, "log": ["first", "second"]}


async def test_sync_node_can_heartbeat(stack_for: Any, client: Client) -> None:
    durable = load_test_graph("edge_beat", "edge_cases.py:heartbeat_graph")
    async with stack_for({"edge_beat": durable}) as stack:
        thread = stack.new_thread()
        ticket = await stack.threads.submit(thread, "edge_beat", {"n": 0})
        outcome = await stack.threads.wait(thread, ticket.run_id)
    assert outcome.status == "success", outcome.error
    assert outcome.values == {"n": 0, "log": ["beat"]}


async def test_node_cache_is_not_consulted_in_the_workflow(stack_for: Any, client: Client) -> None:
    """A cached node still runs as an activity every time: a process-local cache hit in
    workflow code would not replay on another worker."""
    durable = load_test_graph("edge_cache", "edge_cases.py:cached_graph")
    async with stack_for({"edge_cache": durable}) as stack:
        runs = []
        for _ in range(2):
            thread = stack.new_thread()
            ticket = await stack.threads.submit(thread, "edge_cache", {"n": 5})
            outcome = await stack.threads.wait(thread, ticket.run_id)
            assert outcome.values == {"n": 6, "log": ["first"]}
            runs.append(ticket.run_id)
    for run_id in runs:
        executed = [e.activity_type for e in await node_executions(client, run_id)]
        assert executed == ["edge_cache.first"]


async def test_parallel_interrupts_need_answers_keyed_by_id(stack_for: Any, client: Client) -> None:
    durable = load_test_graph("edge_ask", "edge_cases.py:parallel_interrupts_graph")
    local = durable.original.copy({"checkpointer": InMemorySaver()})
    config: Any = {"configurable": {"thread_id": "ask"}}
    await local.ainvoke({}, config)

    async with stack_for({"edge_ask": durable}) as stack:
        thread = stack.new_thread()
        ticket = await stack.threads.submit(thread, "edge_ask", {})
        outcome = await stack.threads.wait(thread, ticket.run_id)
        assert outcome.status == "interrupted"
        pending = {i["value"]: i["id"] for i in outcome.interrupts}
        assert sorted(pending) == ["question for ann", "question for bob"]

        with pytest.raises(InvalidRequestError, match="2 interrupts are pending"):
            await stack.threads.resume(thread, "just one answer")
        with pytest.raises(InvalidRequestError, match="no pending interrupt has id"):
            await stack.threads.resume(thread, {"0" * 32: "who?"})
        assert (await stack.threads.state(thread)).status == "interrupted"  # nothing lost

        answers = {pending["question for ann"]: "yes", pending["question for bob"]: "no"}
        waiting = await stack.threads.resume(thread, answers)
        done = await stack.threads.wait(thread, waiting.run_id)
    local_state = await local.aget_state(config)
    local_answers = {i.value: i.id for i in local_state.interrupts}
    expected = await local.ainvoke(
        Command(
            resume={
                local_answers["question for ann"]: "yes",
                local_answers["question for bob"]: "no",
            }
        ),
        config,
    )
    assert done.status == "success"
    assert sorted(done.values["answers"]) == sorted(expected["answers"])
    assert sorted(done.values["answers"]) == ["ann: yes", "bob: no"]


async def test_a_terminated_waiting_run_leaves_its_thread_answerable(
    stack_for: Any, client: Client
) -> None:
    """An operator terminates a run while it waits at an interrupt: its segments had
    ended, the thread's state still waits for an answer, and the answer continues it
    from the checkpoint in a new run."""
    durable = load_test_graph("approval", "approval.py:graph")
    async with stack_for({"approval": durable}) as stack:
        thread = stack.new_thread()
        ticket = await stack.threads.submit(thread, "approval", {"request": "x"})
        await stack.threads.wait(thread, ticket.run_id)
        waiting = await stack.threads.resume(thread, {"approved": True})
        asked = await stack.threads.wait(thread, waiting.run_id)  # next question
        assert asked.status == "interrupted"
        await client.get_workflow_handle(ticket.workflow_id).terminate("operator stopped it")
        assert (await stack.threads.state(thread)).status == "interrupted"
        answered = await stack.threads.resume(thread, "ann")
        assert answered.workflow_id != ticket.workflow_id  # a new run, from the checkpoint
        outcome = await stack.threads.wait(thread, answered.run_id)
        assert outcome.status == "interrupted"
        assert [i["value"] for i in outcome.interrupts] == ["note from ann?"]


def test_node_error_handlers_are_refused_with_the_reason() -> None:
    with pytest.raises(GraphLoadError, match="node error handlers"):
        load_test_graph("edge_handled", "edge_cases.py:error_handler_graph")


async def test_langsmith_tracing_is_off_in_workflow_code(
    stack_for: Any, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With tracing on in the environment, workflow-side code must not trace: it would
    post the same spans again on every replay."""
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.setenv("LANGSMITH_API_KEY", "not-a-real-key")
    durable = load_test_graph("edge_trace", "edge_cases.py:tracing_probe")
    async with stack_for({"edge_trace": durable}) as stack:
        thread = stack.new_thread()
        ticket = await stack.threads.submit(thread, "edge_trace", {})
        outcome = await stack.threads.wait(thread, ticket.run_id)
    assert outcome.status == "success", outcome.error
    assert outcome.values == {"tracing": False}
