"""Runs longer than a Temporal history should hold (issue 8): a run continues as new.

Temporal suggests it when a history grows long (4Ki events or 4 MB by default); the run
then writes what it has not written and goes on in a new execution of the same workflow,
from the newest checkpoint. These run with the defaults a user gets, so they take a few
hundred supersteps.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from langgraph.errors import GraphRecursionError
from langgraph.types import Command
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from tempograph.workflows.jsonable import to_jsonable
from tests.conftest import load_test_graph
from tests.integration.test_graph_features import run_durably, with_saver


async def executions_of(client: Client, workflow_id: str) -> list[Any]:
    """Every execution of ``workflow_id``, oldest first, with its history."""
    found = [e async for e in client.list_workflows(f'WorkflowId = "{workflow_id}"')]
    found.sort(key=lambda e: e.start_time)
    return [
        (e, await client.get_workflow_handle(workflow_id, run_id=e.run_id).fetch_history())
        for e in found
    ]


async def whole_history(sdk: LangGraphClient, thread_id: str) -> list[Any]:
    """Every checkpoint of the thread, newest first (the API pages by at most 1,000)."""
    history: list[Any] = []
    while True:
        before = history[-1]["checkpoint"] if history else None
        page = await sdk.threads.get_history(thread_id, limit=1000, before=before)
        history += page
        if len(page) < 1000:
            return history


def node_count(history: Any) -> int:
    return sum(
        1 for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    )


async def test_a_long_loop_continues_as_new_and_fails_where_langgraph_does(
    stack_for: Any, client: Client
) -> None:
    """An endless loop with recursion_limit=900 outlives one history: it continues as new
    and still stops with LangGraph's GraphRecursionError at the same step, with the same
    state, each node run once."""
    durable = load_test_graph("feat_loop", "feat_loop.py:graph")
    local = with_saver(durable)
    config: Any = {"recursion_limit": 900}
    with pytest.raises(GraphRecursionError) as raised:
        await local.ainvoke({"hops": 0}, {**config, "configurable": {"thread_id": "x"}})
    local_values = to_jsonable(
        (await local.aget_state({"configurable": {"thread_id": "x"}})).values
    )

    async with stack_for({"feat_loop": durable}) as stack:
        thread = stack.new_thread()
        run_id, outcome = await run_durably(stack, "feat_loop", {"hops": 0}, config, thread)
        state = await stack.threads.state(thread)
        runs = await executions_of(client, run_id)

    assert outcome.status == "error"
    assert outcome.error == {"type": "GraphRecursionError", "message": str(raised.value)}
    assert state.status == "error"
    assert state.values == local_values
    statuses = [e.status for e, _ in runs]
    assert len(runs) >= 2, statuses
    assert statuses[:-1] == [WorkflowExecutionStatus.CONTINUED_AS_NEW] * (len(runs) - 1)
    assert statuses[-1] == WorkflowExecutionStatus.FAILED
    assert sum(node_count(h) for _, h in runs) == local_values["hops"]
    assert all(len(h.events) < 6000 for _, h in runs)


async def test_a_long_run_continues_as_new_without_a_seam(stack_for: Any, client: Client) -> None:
    """A run of 750 supersteps that ends by itself: streamed through the SDK, its events
    read as one run's (one metadata event, every update once, in order), its output and
    the thread's state and history are what LangGraph gives in-process, while Temporal
    shows the run as a chain of executions, each history bounded."""
    target = 750
    durable = load_test_graph("feat_until", "feat_loop.py:until_graph")
    local = with_saver(durable)
    conf: Any = {"configurable": {"thread_id": "x"}, "recursion_limit": 1000}
    expected = to_jsonable(await local.ainvoke({"target": target}, conf))
    local_history = [s async for s in local.aget_state_history(conf)]

    async with stack_for({"feat_until": durable}) as stack:
        sdk = get_client(url=str(stack.http.base_url))
        thread = await sdk.threads.create()
        events = [
            (part.event, part.data)
            async for part in sdk.runs.stream(
                thread["thread_id"],
                "feat_until",
                input={"target": target},
                config={"recursion_limit": 1000},
                stream_mode=["values", "updates"],
            )
        ]
        state = await sdk.threads.get_state(thread["thread_id"])
        history = await whole_history(sdk, thread["thread_id"])
        [run] = await sdk.runs.list(thread["thread_id"])
        runs = await executions_of(client, run["run_id"])

    assert [e for e, _ in events].count("metadata") == 1
    updates = [d for e, d in events if e == "updates"]
    assert updates == [{"step": {"trail": [i]}} for i in range(target)]
    assert [e for e, _ in events if e not in ("metadata", "updates")] == ["values"] * (target + 1)
    assert events[-1] == ("values", expected)
    assert run["status"] == "success"
    assert state["values"] == expected
    assert len(history) == len(local_history)
    assert [h["metadata"]["step"] for h in history] == [h.metadata["step"] for h in local_history]
    statuses = [e.status for e, _ in runs]
    assert len(runs) >= 2, statuses
    assert statuses[-1] == WorkflowExecutionStatus.COMPLETED
    assert sum(node_count(h) for _, h in runs) == target
    assert all(len(h.events) < 6000 for _, h in runs)


async def test_an_interrupt_after_a_continue_waits_and_resumes(
    stack_for: Any, client: Client
) -> None:
    """A run that has continued as new stops at an interrupt as LangGraph does (the
    thread waits at the same task, with the same question); answered, it goes on from
    there, and the thread's values and history equal LangGraph's in-process."""
    target, conf = 720, {"recursion_limit": 1000}
    durable = load_test_graph("feat_asking", "feat_loop.py:asking_graph")
    local = with_saver(durable)
    local_conf: Any = {**conf, "configurable": {"thread_id": "x"}}
    await local.ainvoke({"target": target}, local_conf)
    local_waiting = await local.aget_state(local_conf)
    expected = to_jsonable(await local.ainvoke(Command(resume="yes"), local_conf))
    local_history = [s async for s in local.aget_state_history(local_conf)]

    async with stack_for({"feat_asking": durable}) as stack:
        sdk = get_client(url=str(stack.http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        first = await sdk.runs.wait(tid, "feat_asking", input={"target": target}, config=conf)
        waiting = await sdk.threads.get_state(tid)
        thread = await sdk.threads.get(tid)
        [asked] = await sdk.runs.list(tid)
        asked_executions = await executions_of(client, asked["run_id"])
        done = await sdk.runs.wait(tid, "feat_asking", command={"resume": "yes"}, config=conf)
        state = await sdk.threads.get_state(tid)
        history = await whole_history(sdk, tid)
        runs = await sdk.runs.list(tid)

    assert first["__interrupt__"][0]["value"] == "go on?"
    assert first["trail"] == list(range(target))
    assert thread["status"] == "interrupted"
    assert waiting["next"] == list(local_waiting.next) == ["ask"]
    assert waiting["tasks"][0]["interrupts"][0]["value"] == "go on?"
    assert len(asked_executions) >= 2, [e.status for e, _ in asked_executions]
    assert [e.status for e, _ in asked_executions][:-1] == [
        WorkflowExecutionStatus.CONTINUED_AS_NEW
    ] * (len(asked_executions) - 1)
    assert done == expected
    assert state["values"] == expected and state["next"] == []
    # A run that stopped at an interrupt is a success, as LangGraph Server records it.
    assert [r["status"] for r in runs] == ["success", "success"]
    assert [h["metadata"]["step"] for h in history] == [h.metadata["step"] for h in local_history]
    assert [h["next"] for h in history] == [list(h.next) for h in local_history]


async def test_a_rollback_after_a_continue_leaves_no_trace_of_the_run(
    stack_for: Any, client: Client
) -> None:
    """A run that has continued as new, cancelled with ``action="rollback"``: its
    checkpoints from every execution are gone, the run too, and the thread holds what it
    held before the run, in its values as in its history."""
    durable = load_test_graph("feat_until", "feat_loop.py:until_graph")
    async with stack_for({"feat_until": durable}) as stack:
        sdk = get_client(url=str(stack.http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        kept = await sdk.runs.wait(tid, "feat_until", input={"target": 3})
        before = await whole_history(sdk, tid)
        long = await sdk.runs.create(
            tid, "feat_until", input={"target": 5000}, config={"recursion_limit": 6000}
        )
        deadline = time.monotonic() + 120
        while len(await executions_of(client, long["run_id"])) < 2:
            assert time.monotonic() < deadline, "the long run never continued as new"
            await asyncio.sleep(0.5)
        await sdk.runs.cancel(tid, long["run_id"], wait=True, action="rollback")
        thread = await sdk.threads.get(tid)
        runs = await sdk.runs.list(tid)
        history = await whole_history(sdk, tid)
        # The API answers once the rollback is written; the workflow closes right after.
        handle = client.get_workflow_handle(long["run_id"])
        await asyncio.wait_for(handle.result(), 30)
        # From the history service: the visibility list may show it running a moment more.
        last = await handle.describe()
        executions = await executions_of(client, long["run_id"])
        again = await sdk.runs.wait(tid, "feat_until", input={"target": 5})

    assert kept == {"target": 3, "trail": [0, 1, 2]}
    assert len(executions) >= 2
    assert last.status == WorkflowExecutionStatus.COMPLETED
    assert thread["status"] == "idle" and thread["values"] == kept
    assert [r["status"] for r in runs] == ["success"]  # the first run's; the long one is gone
    assert long["run_id"] not in {r["run_id"] for r in runs}
    assert history == before
    assert again == {"target": 5, "trail": [0, 1, 2, 3, 4]}


async def test_a_subgraph_midway_goes_on_after_a_continue(stack_for: Any, client: Client) -> None:
    """A subgraph node that loops 720 steps outlives one history: the run continues as
    new while the subgraph is midway, and it goes on from its own checkpoint (no step
    repeated, none lost); the parent then runs its last node, as in-process."""
    target, conf = 720, {"recursion_limit": 1000}
    durable = load_test_graph("feat_outer", "feat_loop.py:outer_graph")
    local = with_saver(durable)
    local_conf: Any = {**conf, "configurable": {"thread_id": "x"}}
    expected = to_jsonable(await local.ainvoke({"target": target}, local_conf))
    local_history = [s async for s in local.aget_state_history(local_conf)]

    async with stack_for({"feat_outer": durable}) as stack:
        sdk = get_client(url=str(stack.http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        done = await sdk.runs.wait(tid, "feat_outer", input={"target": target}, config=conf)
        history = await whole_history(sdk, tid)
        [run] = await sdk.runs.list(tid)
        executions = await executions_of(client, run["run_id"])

    assert done == expected
    assert expected["log"] == ["before", f"after {target}"]
    assert run["status"] == "success"
    assert [h["metadata"]["step"] for h in history] == [h.metadata["step"] for h in local_history]
    assert len(executions) >= 2, [e.status for e, _ in executions]
    assert sum(node_count(h) for _, h in executions) == target + 2
