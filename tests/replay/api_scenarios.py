"""Replay scenarios driven through the HTTP API (runs with event streams, resumes as new
API runs, cancel, multitask interrupt, update_state, forks, delayed runs).

Each scenario drives one thread with the official SDK and returns its id; the recorder
keeps the histories of the thread's workflow and of every run workflow on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from uuid import uuid4

from langgraph_sdk.client import LangGraphClient
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client

from tests.integration.api_server import webhook_receiver


async def _until(sdk: LangGraphClient, thread_id: str, run_id: str, status: str) -> None:
    for _ in range(200):
        if (await sdk.runs.get(thread_id, run_id))["status"] == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} never became {status}")


async def stream_modes(sdk: LangGraphClient) -> str:
    thread = await sdk.threads.create()
    async for _ in sdk.runs.stream(
        thread["thread_id"],
        "chat",
        input={"messages": [{"role": "user", "content": "hi", "id": "h-1"}]},
        stream_mode=["values", "updates", "messages-tuple", "custom", "debug"],
    ):
        pass
    return str(thread["thread_id"])


async def approval_segments(sdk: LangGraphClient) -> str:
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    await sdk.runs.wait(tid, "approval", input={"request": "buy"})
    await sdk.runs.wait(tid, "approval", command={"resume": {"approved": True}})
    await sdk.runs.wait(tid, "approval", command={"resume": "ann"})
    await sdk.runs.wait(tid, "approval", command={"resume": "looks good"})
    return str(tid)


async def durability_exit(sdk: LangGraphClient) -> str:
    """``durability="exit"``: a run kept at its interrupt and its end only, resumed."""
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    await sdk.runs.wait(tid, "chain3", input={"steps": []}, durability="exit")
    await sdk.runs.wait(tid, "approval", input={"request": "buy"}, durability="exit")
    await sdk.runs.wait(tid, "approval", command={"resume": {"approved": True}})
    return str(tid)


async def cancel_and_interrupt(sdk: LangGraphClient) -> str:
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    first = await sdk.runs.create(tid, "slow", input={"seconds": 30})
    await _until(sdk, tid, first["run_id"], "running")
    await sdk.runs.cancel(tid, first["run_id"], wait=True)
    second = await sdk.runs.create(tid, "slow", input={"seconds": 30})
    await _until(sdk, tid, second["run_id"], "running")
    await sdk.runs.wait(tid, "slow", input={"seconds": 0}, multitask_strategy="interrupt")
    return str(tid)


async def early_cancel(sdk: LangGraphClient) -> str:
    """A cancel sent as the run starts: it meets the first node's result, and no node
    starts after it; then a rollback the same way; then a cancel of a delayed run."""
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    for action in ("interrupt", "rollback"):
        run = await sdk.runs.create(tid, "quick_then_slow", input={"seconds": 1})
        await sdk.runs.cancel(tid, run["run_id"], action=action)
        await sdk.runs.join(tid, run["run_id"])
    # Cancelled while it waits for its time (after_seconds): it never runs a step.
    delayed = await sdk.runs.create(tid, "quick_then_slow", input={"seconds": 0}, after_seconds=60)
    await sdk.runs.cancel(tid, delayed["run_id"], wait=True)
    return str(tid)


async def update_and_fork(sdk: LangGraphClient) -> str:
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    await sdk.runs.wait(tid, "chain3", input={"steps": []})
    await sdk.threads.update_state(tid, {"steps": ["manual"]}, as_node="c")
    history = await sdk.threads.get_history(tid, limit=20)
    first = [h for h in history if h["next"] == ["a"]][-1]
    await sdk.runs.wait(
        tid, "chain3", input=None, checkpoint_id=first["checkpoint"]["checkpoint_id"]
    )
    await sdk.runs.wait(tid, "chain3", input={"steps": ["later"]}, after_seconds=1)
    return str(tid)


async def superseded_interrupt(sdk: LangGraphClient) -> str:
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    await sdk.runs.wait(tid, "approval", input={"request": "first"})
    # A new input while a run waits at interrupt(): the waiting run ends, the new one starts.
    await sdk.runs.wait(tid, "approval", input={"request": "second"})
    await sdk.runs.wait(tid, "approval", command={"resume": {"approved": False}})
    return str(tid)


async def rollback(sdk: LangGraphClient) -> str:
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    await sdk.runs.wait(tid, "slow", input={"seconds": 0})
    doomed = await sdk.runs.create(tid, "slow", input={"seconds": 30})
    await _until(sdk, tid, doomed["run_id"], "running")
    await sdk.runs.cancel(tid, doomed["run_id"], wait=True, action="rollback")
    doomed = await sdk.runs.create(tid, "slow", input={"seconds": 30})
    await _until(sdk, tid, doomed["run_id"], "running")
    await sdk.runs.wait(tid, "slow", input={"seconds": 0}, multitask_strategy="rollback")
    return str(tid)


async def webhook(sdk: LangGraphClient) -> str:
    async with webhook_receiver() as (url, received):
        thread = await sdk.threads.create()
        tid = thread["thread_id"]
        await sdk.runs.wait(tid, "chain3", input={"steps": []}, webhook=url)
        for _ in range(200):
            if received:
                break
            await asyncio.sleep(0.05)
        return str(tid)


async def approval_deadline(sdk: LangGraphClient) -> str:
    """Nobody answers: the node policy's deadline (a timer) answers with its default."""
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    await sdk.runs.wait(tid, "refund_deadline", input={"amount": 900})
    for _ in range(200):
        if not (await sdk.threads.get_state(tid))["next"]:
            return str(tid)
        await asyncio.sleep(0.05)
    raise AssertionError("the deadline never answered")


async def subgraph_interrupts(sdk: LangGraphClient) -> str:
    """Two questions inside a subgraph node, answered in turn; a subgraph state update
    between them."""
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    await sdk.runs.wait(tid, "nested_as_node", input={"text": "hi"})
    waiting = await sdk.threads.get_state(tid, subgraphs=True)
    namespace = waiting["tasks"][0]["state"]["checkpoint"]["checkpoint_ns"]
    await sdk.threads.update_state(tid, {"text": "edited"}, checkpoint={"checkpoint_ns": namespace})
    await sdk.runs.wait(tid, "nested_as_node", command={"resume": "yes"})
    await sdk.runs.wait(tid, "nested_as_node", command={"resume": "sure"})
    return str(tid)


async def graph_in_node_interrupts(sdk: LangGraphClient) -> str:
    """Two questions inside a graph a node invokes itself, answered in turn."""
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    await sdk.runs.wait(tid, "nested_in_node", input={"text": "hi"})
    await sdk.runs.wait(tid, "nested_in_node", command={"resume": "yes"})
    await sdk.runs.wait(tid, "nested_in_node", command={"resume": "sure"})
    return str(tid)


async def reset_after_failure(sdk: LangGraphClient, client: Client, scratch: Path) -> str:
    """The operator's Reset (the UI's, by Temporal's API here): a run whose middle node
    failed is reset, once the fault is gone, to the workflow task that scheduled that
    node. Its new execution holds the old events up to there, the reset's failed
    workflow task, and the branch that ran again."""
    mark = scratch / "reset-mark"
    mark.write_text("fail")
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    await sdk.runs.wait(tid, "reset", input={"mark": str(mark), "steps": []}, raise_error=False)
    [run] = await sdk.runs.list(tid)
    history = await client.get_workflow_handle(run["workflow_id"]).fetch_history()
    scheduled = next(
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "reset.middle"
    )
    point = max(
        e.event_id
        for e in history.events
        if e.event_id < scheduled and e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )
    mark.write_text("fixed")
    await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=run["workflow_id"]),
            reason="the tool is fixed",
            workflow_task_finish_event_id=point,
            request_id=str(uuid4()),
        )
    )
    await _until(sdk, tid, run["run_id"], "success")
    return str(tid)


# Scenarios that also act on Temporal directly, as an operator does.
OPERATOR_SCENARIOS: dict[str, Callable[[LangGraphClient, Client, Path], Awaitable[str]]] = {
    "api_reset_after_failure": reset_after_failure,
}

API_SCENARIOS: dict[str, Callable[[LangGraphClient], Awaitable[str]]] = {
    "api_stream_modes": stream_modes,
    "api_approval_segments": approval_segments,
    "api_cancel_and_interrupt": cancel_and_interrupt,
    "api_early_cancel": early_cancel,
    "api_update_and_fork": update_and_fork,
    "api_superseded_interrupt": superseded_interrupt,
    "api_rollback": rollback,
    "api_webhook": webhook,
    "api_approval_deadline": approval_deadline,
    "api_subgraph_interrupts": subgraph_interrupts,
    "api_graph_in_node_interrupts": graph_in_node_interrupts,
    "api_durability_exit": durability_exit,
}

API_GRAPHS: dict[str, str] = {
    "chat": "api_graphs.py:chat",
    "chain3": "api_graphs.py:chain3",
    "slow": "api_graphs.py:slow_graph",
    "quick_then_slow": "api_graphs.py:quick_then_slow",
    "nested_as_node": "nested.py:as_node",
    "nested_in_node": "nested.py:in_node",
    "reset": "reset_graph.py:graph",
}
