"""Threads whose holder Temporal closed without the run's finish (terminated, timed
out, cancelled before it could finish): the runs' ends, the thread's values and pending
interrupts from its newest checkpoint, and the next queued run. And the other way
round: a finished run an operator reset, running again before its row says so.

The sweeper (:mod:`tempograph.sweeper`) finds such workflows within seconds; the API
comes here sooner when a request meets one: a signal that finds the workflow gone, or a
``reject`` that finds the thread held by a workflow that has closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from functools import partial
from typing import Any
from uuid import UUID

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from tempograph.api.snapshots import jsonable
from tempograph.api.state import AppState
from tempograph.api.storage.runs import FINAL, RunStore
from tempograph.api.storage.threads import ThreadStore, values_columns
from tempograph.crypto import seal_json_text
from tempograph.errors import ErrorCode, TempographError
from tempograph.run_ends import finalize_closed
from tempograph.runs import settle
from tempograph.sweeper import Sweeper
from tempograph.workflows.jsonable import dumps

logger = logging.getLogger(__name__)


def sweeper(state: AppState) -> Sweeper:
    """The sweeper of ``state``'s API: it brings a thread's values up to date from its
    checkpoints before the next run starts."""
    return Sweeper(
        state.database.pool,
        state.temporal,
        state.task_queue,
        refresh_values=partial(refresh_values, state),
    )


async def holder_closed(state: AppState, holder: str | None) -> bool:
    """Whether the thread's holder had closed in Temporal (an operator's terminate the
    sweeper has not seen yet); its end is recorded now, and the thread is free."""
    if holder is None or holder.startswith("update:"):
        return False
    try:
        return await sweeper(state).settle_closed(holder)
    except RPCError as err:
        raise unavailable(err) from None


async def release_vanished(
    state: AppState, workflow_id: str, reason: str, *, rollback: bool = False
) -> None:
    """A thread's holder is gone from Temporal: end its runs (``rollback``: delete them
    and their checkpoints, as the rollback asked would have), start the next one."""
    pool = await state.database.pool()
    async with pool.acquire() as conn, conn.transaction():
        thread_id, next_run = await finalize_closed(
            conn, workflow_id, WorkflowExecutionStatus.TERMINATED, reason, rollback=rollback
        )
    if thread_id is not None:
        await refresh_values(state, thread_id)
    if next_run is not None:
        try:
            await (await state.starter()).start(next_run)
        except RPCError as err:
            raise unavailable(err) from None


async def thread_graph(state: AppState, thread: dict[str, Any]) -> Any:
    """The thread's graph reading and writing its checkpoints; None before it has one."""
    graph = state.catalog.graphs.get(thread["metadata"].get("graph_id"))
    if graph is None:
        return None
    return graph.copy({"checkpointer": await state.checkpoints()})


async def refresh_values(state: AppState, thread_id: UUID) -> None:
    """The thread's ``values`` from its newest checkpoint. A run's finish activity writes
    them; a run Temporal ended without it (terminated, timed out) wrote checkpoints up to
    its last finished node, and ``threads.get`` shows those, as ``get_state`` does. Called
    before the next queued run starts, so nothing newer is overwritten."""
    pool = await state.database.pool()
    thread = await ThreadStore(pool, state.values).get(thread_id, values=False)
    graph = await thread_graph(state, thread) if thread is not None else None
    if graph is None:
        return
    try:
        snapshot = await graph.aget_state({"configurable": {"thread_id": str(thread_id)}})
    except Exception:  # the run's end is recorded; the values stay as they were
        logger.exception("could not read thread %s's newest state", thread_id)
        return
    if snapshot.created_at is None:
        return  # no checkpoint yet
    text, stored = await values_columns(snapshot.values, state.values)
    # And its pending interrupts: a resumed segment that Temporal ended had answered the
    # ones the thread shows (finalize_closed stopped it waiting), unless it ended before
    # its node took the answer; then they are pending still, and the thread waits again.
    interrupts = {t.id: jsonable(list(t.interrupts)) for t in snapshot.tasks if t.interrupts}
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            'UPDATE threads SET "values" = $2::jsonb, values_value = $3, interrupts = $4::jsonb,'
            " waiting = waiting OR $5, state_updated_at = now() WHERE thread_id = $1",
            thread_id,
            text,
            stored,
            seal_json_text(dumps(interrupts)),
            bool(interrupts),
        )
        await settle(conn, thread_id)


def unavailable(err: RPCError) -> TempographError:
    if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return TempographError(
            f"Temporal is unavailable: {err.message}", code=ErrorCode.SERVER_UNAVAILABLE
        )
    return TempographError(f"Temporal refused the request: {err.message}")


# How often a join waiting for a reset execution to claim its run looks, and how long.
_RERUN_POLL = 0.2
_RERUN_WAIT = 120.0


async def until_rerun_claims(
    state: AppState, runs: RunStore, run: dict[str, Any]
) -> AsyncIterator[None]:
    """A finished run that an operator reset in Temporal runs again under a new
    execution, but its row shows the old end until that execution's first node (or its
    end) claims it, which can take a while (a slow router, a long replay). Until then,
    wait here (yielding every few seconds, for heartbeats), so ``join`` answers with the
    new end instead of the old one. Returns at once for a run in flight, or whose
    workflow's current execution is the one that claimed it."""
    if run["status"] not in FINAL or not run.get("workflow_id"):
        return
    execution = await runs.execution(UUID(run["run_id"]))
    if execution is None:
        return
    handle = state.temporal.get_workflow_handle(run["workflow_id"])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _RERUN_WAIT
    beat = loop.time() + 5
    while loop.time() < deadline:
        try:
            described = await handle.describe()
        except RPCError:
            return
        if described.status != WorkflowExecutionStatus.RUNNING or described.run_id == execution:
            return
        if await runs.waits_for_answer(run["workflow_id"], described.run_id):
            return  # it stopped at an interrupt before this run's part (a resume) came up
        await asyncio.sleep(_RERUN_POLL)
        if loop.time() > beat:
            beat = loop.time() + 5
            yield None
        claimed = await runs.execution(UUID(run["run_id"]))
        if claimed != execution:
            return
