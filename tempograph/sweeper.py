"""Temporal's truth in the API: runs whose workflow ended without recording its end.

A RunWorkflow records its end itself (its finish activity). When Temporal ends it some
other way (an operator's Terminate or Cancel before it could finish, an execution
timeout, a payload or history limit, a failure past the finish), nothing inside it runs
again, so the API process sweeps: every second, each workflow that holds a thread or
runs a segment and has written nothing for a couple of seconds is looked up in Temporal;
if it is closed, its runs end with the reason Temporal gives, and its thread goes to the
next queued run. One replica sweeps at a time (a Postgres advisory lock); the others skip.

It also heals two rarer leftovers: a run whose workflow was never started (the API died
between recording it and starting it), and a thread held by a state update that never
finished.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistoryEventFilterType
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from tempograph.run_ends import finalize_closed, hand_off
from tempograph.runs import IN_FLIGHT, run_json, settle
from tempograph.starter import RunStarter
from tempograph.temporal.codec import failure_message

logger = logging.getLogger(__name__)

_LOCK = 7_412_345_003  # advisory lock key; database.py's is ..001, the store's ..002
# A workflow that wrote nothing for this long is looked up in Temporal.
QUIET = timedelta(seconds=2)
# A held thread whose run never started, or a state update that never gave it back.
ABANDONED = timedelta(seconds=30)


class Sweeper:
    """See the module docstring. ``pool`` opens the API's pool on demand."""

    def __init__(
        self,
        pool: Callable[[], Awaitable[asyncpg.Pool]],
        client: Client,
        task_queue: str,
        interval: float = 1.0,
        refresh_values: Callable[[UUID], Awaitable[None]] | None = None,
    ) -> None:
        self._pool = pool
        self._client = client
        self._task_queue = task_queue
        self._interval = interval
        # The thread's values from its newest checkpoint (the API's graphs read them).
        self._refresh_values = refresh_values

    async def run_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except (asyncpg.PostgresError, OSError, RPCError) as err:
                logger.warning("sweep failed, retrying: %s", err)
            except Exception:
                logger.exception("sweep failed, retrying")
            await asyncio.sleep(self._interval)

    async def sweep(self) -> int:
        """One pass; returns how many workflows it found closed or missing."""
        pool = await self._pool()
        async with pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _LOCK):
                return 0
            suspects = await conn.fetch(
                "SELECT r.workflow_id, bool_or(t.run_workflow_id = r.workflow_id) AS holder,"
                " bool_or(r.status = 'running') AS started,"
                " min(r.created_at) AS since FROM runs r JOIN threads t USING (thread_id)"
                " WHERE r.status = ANY($1::text[]) AND r.updated_at < now() - $2::interval"
                " AND (r.status = 'running' OR t.run_workflow_id = r.workflow_id)"
                " GROUP BY r.workflow_id LIMIT 500",
                IN_FLIGHT,
                QUIET,
            )
            stale_updates = await conn.fetch(
                "SELECT thread_id, run_workflow_id FROM threads"
                " WHERE run_workflow_id LIKE 'update:%' AND updated_at < now() - $1::interval",
                ABANDONED,
            )
            found = await asyncio.gather(*(self._check(dict(s)) for s in suspects))
        for record in stale_updates:
            await self._release_update(record["thread_id"], record["run_workflow_id"])
        return sum(found)

    async def settle_closed(self, workflow_id: str) -> bool:
        """Record now, if Temporal has closed it, the end of a workflow that holds a
        thread (a request found the thread busy just after an operator ended it); True
        when it was closed. One Temporal has not (yet) is left to the sweep."""
        return bool(await self._settle(workflow_id))

    async def _check(self, suspect: dict[str, Any]) -> int:
        settled = await self._settle(suspect["workflow_id"])
        if settled is None and suspect["started"]:
            # It ran (a node claimed it) and Temporal has no such workflow now: an
            # operator deleted it (`temporal workflow delete`, the UI's Delete).
            reason = f"its workflow {suspect['workflow_id']} was deleted from Temporal"
            logger.warning("run workflow %s is gone: %s", suspect["workflow_id"], reason)
            await self._finalize(suspect["workflow_id"], WorkflowExecutionStatus.TERMINATED, reason)
            return 1
        if settled is None:
            return await self._never_started(suspect)
        return int(settled)

    async def _settle(self, workflow_id: str) -> bool | None:
        """True when Temporal had closed ``workflow_id`` (its end is recorded now), False
        while it runs, None when Temporal has no such workflow."""
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            status = (await handle.describe()).status
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            return None
        if status in (None, WorkflowExecutionStatus.RUNNING):
            return False
        reason = await _close_reason(handle, status, self._client.data_converter)
        logger.warning("run workflow %s closed without recording its end: %s", workflow_id, reason)
        await self._finalize(workflow_id, status, reason)
        return True

    async def _finalize(
        self, workflow_id: str, status: WorkflowExecutionStatus, reason: str
    ) -> None:
        pool = await self._pool()
        async with pool.acquire() as conn, conn.transaction():
            thread_id, next_run = await finalize_closed(conn, workflow_id, status, reason)
        if thread_id is not None and self._refresh_values is not None:
            await self._refresh_values(thread_id)
        if next_run is not None:
            await RunStarter(self._client, pool, self._task_queue).start(next_run)

    async def _never_started(self, suspect: dict[str, Any]) -> int:
        """Temporal has no such workflow: if it holds a thread and has for a while, its
        start was lost (the API died between recording the run and starting it)."""
        if not suspect["holder"]:
            return 0
        pool = await self._pool()
        async with pool.acquire() as conn:
            record = await conn.fetchrow(
                "SELECT r.run_id, r.thread_id, r.assistant_id, r.created_at, r.updated_at,"
                " r.status, r.metadata, r.kwargs, r.multitask_strategy, r.workflow_id"
                " FROM runs r WHERE r.run_id::text = $1 AND r.status = 'pending'"
                " AND r.created_at < now() - $2::interval",
                suspect["workflow_id"],
                ABANDONED,
            )
        if record is None:
            return 0
        logger.warning("starting run %s, whose start was lost", record["run_id"])
        await RunStarter(self._client, pool, self._task_queue).start(run_json(record))
        return 1

    async def _release_update(self, thread_id: Any, token: str) -> None:
        pool = await self._pool()
        next_run = None
        async with pool.acquire() as conn, conn.transaction():
            holder = await conn.fetchval(
                "SELECT run_workflow_id FROM threads WHERE thread_id = $1 FOR UPDATE", thread_id
            )
            if holder == token:
                next_run = await hand_off(conn, thread_id)
                await settle(conn, thread_id)
        if next_run is not None:
            await RunStarter(self._client, pool, self._task_queue).start(next_run)


async def _close_reason(
    handle: Any, status: WorkflowExecutionStatus, converter: DataConverter
) -> str:
    """What ended the workflow, in words, from its closing event."""
    words = {
        WorkflowExecutionStatus.TERMINATED: "terminated",
        WorkflowExecutionStatus.CANCELED: "cancelled",
        WorkflowExecutionStatus.TIMED_OUT: "timed out",
        WorkflowExecutionStatus.FAILED: "failed",
        WorkflowExecutionStatus.COMPLETED: "completed without recording its end",
        WorkflowExecutionStatus.CONTINUED_AS_NEW: "continued as new",
    }
    text = f"its workflow {handle.id} was {words.get(status, status.name.lower())}"
    try:
        async for event in handle.fetch_history_events(
            event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
        ):
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
                reason = event.workflow_execution_terminated_event_attributes.reason
                return f"{text}: {reason}" if reason else text
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
                failure = event.workflow_execution_failed_event_attributes.failure
                return f"{text}: {await failure_message(converter, failure)}"
    except RPCError:
        pass
    return text
