"""Starting a run's workflow on Temporal (with the rows it starts from), and the
request pieces the API and the workers build runs from."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from langgraph.types import Command, Send
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from tempograph.checkpoint_rows import load_start_rows
from tempograph.runs import (
    stored_request,
)
from tempograph.telemetry import continuing
from tempograph.workflows.types import (
    ASSISTANT_ID,
    GRAPH_ID,
    RUN_WORKFLOW,
    STATUS_ATTRIBUTE,
    THREAD_ID,
    RunInput,
    RunRequest,
    StreamSpec,
)
from tempograph.workflows.values import PartData, PartTable


def stream_spec(run_id: str, kwargs: dict[str, Any]) -> StreamSpec:
    modes = kwargs.get("stream_mode") or ["values"]
    return StreamSpec(
        run_id=run_id,
        modes=[modes] if isinstance(modes, str) else list(modes),
        subgraphs=bool(kwargs.get("subgraphs")),
        webhook=kwargs.get("webhook"),
    )


def command_from(body: dict[str, Any] | None) -> Command[Any] | None:
    """A stored ``command`` ({resume, update, goto}) as LangGraph's ``Command``."""
    if not body:
        return None
    goto = body.get("goto")
    targets = goto if isinstance(goto, list) else ([goto] if goto is not None else [])
    sends: list[Any] = [
        Send(t["node"], t.get("input")) if isinstance(t, dict) else t for t in targets
    ]
    update: Any = body.get("update")
    if isinstance(update, list):
        update = [tuple(pair) for pair in update]
    if body.get("resume") is not None:
        return Command(resume=body["resume"], update=update, goto=sends)
    if update is None and not sends:
        return None
    return Command(update=update, goto=sends)


class RunStarter:
    """Starts a stored run's RunWorkflow: the thread's checkpoints, then the workflow."""

    def __init__(self, client: Client, pool: asyncpg.Pool, task_queue: str) -> None:
        self._client = client
        self._pool = pool
        self._task_queue = task_queue

    async def start(self, run: dict[str, Any], request: RunRequest | None = None) -> None:
        """Start ``run`` (idempotent: a workflow with its id that exists already wins).
        ``request`` is the run's stored request, when the caller has it at hand."""
        trace: str | None = None
        async with self._pool.acquire() as conn:
            if request is None:
                # Started later (a queued run, by the end of the run before it): the
                # stored request, and the trace of the call that made the run.
                stored = await conn.fetchrow(
                    "SELECT request, kwargs::text AS kwargs, traceparent FROM runs"
                    " WHERE run_id = $1",
                    UUID(run["run_id"]),
                )
                if stored is None or stored["request"] is None:
                    return  # deleted meanwhile (its thread too, or a rollback)
                request = stored_request(stored["request"], stored["kwargs"])
                trace = stored["traceparent"]
            fork = (request.config.get("configurable") or {}).get("checkpoint_id")
            start, parts = await load_start_rows(conn, run["thread_id"], fork)
        attributes = [
            SearchAttributePair(THREAD_ID, run["thread_id"]),
            SearchAttributePair(GRAPH_ID, request.graph_id),
            SearchAttributePair(STATUS_ATTRIBUTE, "running"),
        ]
        if request.assistant_id:
            attributes.append(SearchAttributePair(ASSISTANT_ID, request.assistant_id))
        try:
            with continuing(trace):
                await self._client.start_workflow(
                    RUN_WORKFLOW,
                    RunInput(run["thread_id"], run["run_id"], request, start, parts),
                    id=run["run_id"],
                    task_queue=self._task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    # Handed to a worker of this client in the start's reply, if this process
                    # runs one for the queue with a free slot (else an ordinary start).
                    request_eager_start=True,
                    search_attributes=TypedSearchAttributes(attributes),
                    static_summary=f"{request.graph_id} on thread {run['thread_id']}",
                )
        except WorkflowAlreadyStartedError:
            pass


def part_data(parts: dict[bytes, bytes]) -> PartTable:
    return PartTable({h: PartData("", d) for h, d in parts.items()})
