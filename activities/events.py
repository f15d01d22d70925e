"""Run events and run ends in Postgres: the durable log behind the API's SSE streams.

Every event of an API run gets the next number of that run (``runs.event_seq``, bumped
in the same transaction as the insert, so numbers commit in order and a reader that
has seen event *n* never misses a smaller one later). Each event has a key; writing a
key again is a no-op, which is what makes retried activities and parallel nodes
carrying the same batch safe. Writers ``NOTIFY tempograph_runs`` with the run id so API
replicas wake their streams without polling.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg
from tempograph.workflows.jsonable import RUN_EVENTS_CHANNEL as CHANNEL
from tempograph.workflows.jsonable import dumps, to_jsonable
from tempograph.workflows.types import FINISH_RUN_ACTIVITY, RunEnd, StreamEvent, StreamSpec
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tempograph.database import open_pool


async def write_events(
    conn: asyncpg.Connection, run_id: str, events: Sequence[StreamEvent], *, start: bool = True
) -> bool:
    """Append ``events`` to the run's log (inside the caller's transaction); False if the
    run is gone. ``start`` moves a pending run to running."""
    last = await conn.fetchval(
        "UPDATE runs SET event_seq = event_seq + $2, updated_at = now(),"
        " status = CASE WHEN $3 AND status = 'pending' THEN 'running' ELSE status END"
        " WHERE run_id = $1 RETURNING event_seq",
        UUID(run_id),
        len(events),
        start,
    )
    if last is None:
        return False
    first = int(last) - len(events) + 1
    if events:
        await conn.executemany(
            "INSERT INTO run_events (run_id, seq, key, event, data) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (run_id, key) DO NOTHING",
            [
                (UUID(run_id), first + i, e.key, e.event, dumps(e.data))
                for i, e in enumerate(events)
            ],
        )
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, run_id)
    return True


class EventLog:
    """The worker's connection to the API's Postgres (opened on first use)."""

    def __init__(self, database_url: str | None) -> None:
        self._url = database_url
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        if self._url is None:
            raise ApplicationError(
                "this worker has no DATABASE_URL, so it cannot record runs started through the"
                " API; start it with the API's database",
                type="NoDatabase",
                non_retryable=True,
            )
        async with self._lock:
            if self._pool is None:
                self._pool = await open_pool(self._url, max_size=4)
        return self._pool

    async def publish(self, run_id: str, events: Sequence[StreamEvent]) -> None:
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            await write_events(conn, run_id, events)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @activity.defn(name=FINISH_RUN_ACTIVITY)
    async def finish_run(self, end: RunEnd) -> None:
        """The segment's last events, its status and output, and the thread's new state, in
        one transaction: a stream that sees the final status has seen every event."""
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            if not await write_events(conn, end.run_id, end.events, start=False):
                return  # the run (or its thread) was deleted meanwhile
            if end.status == "rollback":
                # As LangGraph Server does: a rolled-back run is gone, with its events.
                await conn.execute("DELETE FROM runs WHERE run_id = $1", UUID(end.run_id))
            await conn.execute(
                "UPDATE runs SET status = $2, output = $3, updated_at = now()"
                " WHERE run_id = $1 AND status NOT IN ('success', 'error', 'timeout')",
                UUID(end.run_id),
                end.status,
                dumps(end.output),
            )
            error = None
            if end.error is not None:
                error = {"error": end.error.get("type", "Error"), "message": end.error["message"]}
            await conn.execute(
                "UPDATE threads SET"
                " status = CASE WHEN EXISTS (SELECT 1 FROM runs WHERE thread_id = $1"
                "   AND status IN ('pending', 'running')) THEN 'busy' ELSE $2 END,"
                ' "values" = $3, interrupts = $4, error = $5,'
                " updated_at = now(), state_updated_at = now()"
                " WHERE thread_id = $1",
                UUID(end.thread_id),
                end.thread_status,
                dumps(end.values),
                dumps(end.interrupts),
                dumps(error),
            )
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, end.run_id)


class NodeStream:
    """Events a node body produces while it runs (chat model tokens, custom writes).

    Callbacks may come from an executor thread (sync nodes); a flusher task on the
    activity's loop writes them in small batches. Keys count events within the node
    execution, so a retried attempt does not show again what an earlier one showed.
    """

    def __init__(self, log: EventLog, spec: StreamSpec, task_id: str) -> None:
        self._log = log
        self.spec = spec
        self._task_id = task_id
        self._pending: list[StreamEvent] = []
        self._count = 0
        self._lock = threading.Lock()
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._closed = False
        self._task = asyncio.ensure_future(self._flusher())

    def wants(self, mode: str) -> bool:
        if mode == "messages":
            return bool({"messages", "messages-tuple"} & set(self.spec.modes))
        return mode in self.spec.modes

    def put(self, chunk: tuple[tuple[str, ...], str, Any]) -> None:
        """A LangGraph stream chunk ``(namespace, mode, payload)``, from any thread."""
        namespace, mode, payload = chunk
        if not self.wants(mode) or (namespace and not self.spec.subgraphs):
            return
        data = to_jsonable(list(payload) if mode == "messages" else payload)
        with self._lock:
            self._count += 1
            key = f"n:{self._task_id}:{self._count}"
            self._pending.append(StreamEvent(key, "|".join((mode, *namespace)), data))
        self._loop.call_soon_threadsafe(self._wake.set)

    async def _flusher(self) -> None:
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            await self._log.publish(self.spec.run_id, batch)

    async def close(self) -> None:
        self._closed = True
        self._wake.set()
        try:
            await self._task
        finally:
            await self._flush()
