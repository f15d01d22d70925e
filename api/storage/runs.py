"""Runs in Postgres: one row per API run, and each run's event log (written by workers)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from tempograph.workflows.jsonable import RUN_EVENTS_CHANNEL

_COLUMNS = (
    "run_id, thread_id, assistant_id, created_at, updated_at, status, metadata, kwargs,"
    " multitask_strategy"
)
FINAL = ("success", "error", "interrupted", "timeout")
IN_FLIGHT = ("pending", "running")


def _row(record: asyncpg.Record) -> dict[str, Any]:
    out = dict(record)
    for key in ("run_id", "thread_id", "assistant_id"):
        out[key] = str(out[key])
    for key in ("metadata", "kwargs"):
        if isinstance(out[key], str):
            out[key] = json.loads(out[key])
    for key in ("created_at", "updated_at"):
        out[key] = out[key].isoformat()
    return out


@dataclass
class Event:
    seq: int
    event: str
    data: str  # JSON text, as written


@dataclass
class NewRun:
    run_id: UUID
    thread_id: UUID
    assistant_id: UUID
    metadata: dict[str, Any]
    kwargs: dict[str, Any]
    multitask_strategy: str
    idempotency_key: str | None
    workflow_id: str | None


class RunStore:
    """SQL for runs and run events; the pool is injected."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(
        self, run: NewRun, *, reject_if_busy: bool
    ) -> tuple[dict[str, Any], str, bool]:
        try:
            return await self._create(run, reject_if_busy=reject_if_busy)
        except asyncpg.UniqueViolationError:
            # The same idempotency key sent twice at once: the other request won.
            found = await self._pool.fetchrow(
                f"SELECT {_COLUMNS} FROM runs WHERE idempotency_key = $1", run.idempotency_key
            )
            if found is None:
                raise
            return _row(found), "", False

    async def _create(
        self, run: NewRun, *, reject_if_busy: bool
    ) -> tuple[dict[str, Any], str, bool]:
        """Insert ``run`` as pending and mark its thread busy, atomically.

        Returns (run, the thread's previous status, created). With an idempotency key
        already used, the earlier run comes back and nothing is written. Raises
        :class:`ThreadBusy` for ``reject_if_busy`` when the thread has a run in flight,
        and :class:`LookupError` when the thread does not exist.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            if run.idempotency_key is not None:
                found = await conn.fetchrow(
                    f"SELECT {_COLUMNS} FROM runs WHERE idempotency_key = $1",
                    run.idempotency_key,
                )
                if found is not None:
                    return _row(found), "", False
            previous = await conn.fetchval(
                "SELECT status FROM threads WHERE thread_id = $1 FOR UPDATE", run.thread_id
            )
            if previous is None:
                raise LookupError(run.thread_id)
            if reject_if_busy:
                busy = await conn.fetchval(
                    "SELECT count(*) FROM runs WHERE thread_id = $1 AND status = ANY($2::text[])",
                    run.thread_id,
                    list(IN_FLIGHT),
                )
                if busy:
                    raise ThreadBusy(run.thread_id)
            record = await conn.fetchrow(
                f"INSERT INTO runs (run_id, thread_id, assistant_id, metadata, kwargs,"
                f" multitask_strategy, idempotency_key, workflow_id)"
                f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_COLUMNS}",
                run.run_id,
                run.thread_id,
                run.assistant_id,
                json.dumps(run.metadata),
                json.dumps(run.kwargs),
                run.multitask_strategy,
                run.idempotency_key,
                run.workflow_id,
            )
            await conn.execute(
                "UPDATE threads SET status = 'busy', updated_at = now() WHERE thread_id = $1",
                run.thread_id,
            )
        return _row(record), str(previous), True

    async def accepted(self, thread_id: UUID, thread_metadata: dict[str, Any]) -> None:
        """The engine took the run: the thread now belongs to its graph and assistant."""
        await self._pool.execute(
            "UPDATE threads SET metadata = metadata || $2::jsonb WHERE thread_id = $1",
            thread_id,
            json.dumps(thread_metadata),
        )

    async def undo_create(self, run_id: UUID, thread_id: UUID, previous_status: str) -> None:
        """The engine refused the run: remove it and give the thread its status back."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM runs WHERE run_id = $1", run_id)
            await conn.execute(
                "UPDATE threads SET status = CASE WHEN EXISTS (SELECT 1 FROM runs WHERE"
                " thread_id = $1 AND status = ANY($3::text[])) THEN 'busy' ELSE $2 END"
                " WHERE thread_id = $1",
                thread_id,
                previous_status,
                list(IN_FLIGHT),
            )

    async def get(self, thread_id: UUID, run_id: UUID) -> dict[str, Any] | None:
        record = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM runs WHERE run_id = $1 AND thread_id = $2", run_id, thread_id
        )
        return _row(record) if record is not None else None

    async def find(self, run_id: UUID) -> dict[str, Any] | None:
        record = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM runs WHERE run_id = $1", run_id)
        return _row(record) if record is not None else None

    async def list_runs(
        self, thread_id: UUID, limit: int, offset: int, status: str | None
    ) -> list[dict[str, Any]]:
        args: list[Any] = [thread_id]
        where = "thread_id = $1"
        if status is not None:
            args.append(status)
            where += " AND status = $2"
        records = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM runs WHERE {where} ORDER BY created_at DESC, run_id"
            f" LIMIT {int(limit)} OFFSET {int(offset)}",
            *args,
        )
        return [_row(r) for r in records]

    async def in_flight(self, thread_id: UUID) -> list[str]:
        records = await self._pool.fetch(
            "SELECT run_id FROM runs WHERE thread_id = $1 AND status = ANY($2::text[])"
            " ORDER BY created_at",
            thread_id,
            list(IN_FLIGHT),
        )
        return [str(r["run_id"]) for r in records]

    async def delete(self, thread_id: UUID, run_id: UUID) -> bool:
        status = await self._pool.execute(
            "DELETE FROM runs WHERE run_id = $1 AND thread_id = $2", run_id, thread_id
        )
        return bool(status.endswith(" 1"))

    async def mark_interrupted(self, run_ids: list[UUID]) -> None:
        """Runs cancelled before they started; their threads' status follows."""
        if not run_ids:
            return
        async with self._pool.acquire() as conn, conn.transaction():
            threads = await conn.fetch(
                "UPDATE runs SET status = 'interrupted', updated_at = now()"
                " WHERE run_id = ANY($1::uuid[]) AND status = 'pending' RETURNING thread_id",
                run_ids,
            )
            await _runs_left(conn, {r["thread_id"] for r in threads}, run_ids)

    async def delete_many(self, run_ids: list[UUID]) -> None:
        """Runs rolled back before they started: gone, and their threads' status follows."""
        if not run_ids:
            return
        async with self._pool.acquire() as conn, conn.transaction():
            threads = await conn.fetch(
                "DELETE FROM runs WHERE run_id = ANY($1::uuid[]) RETURNING thread_id", run_ids
            )
            await _runs_left(conn, {r["thread_id"] for r in threads}, run_ids)

    async def status(self, run_id: UUID) -> str | None:
        value = await self._pool.fetchval("SELECT status FROM runs WHERE run_id = $1", run_id)
        return str(value) if value is not None else None

    async def output(self, run_id: UUID) -> tuple[str, Any] | None:
        """The run's status and, once it ended, the body of ``wait``/``join``."""
        record = await self._pool.fetchrow(
            "SELECT status, output FROM runs WHERE run_id = $1", run_id
        )
        if record is None:
            return None
        output = record["output"]
        return str(record["status"]), json.loads(output) if isinstance(output, str) else output

    async def events_after(self, run_id: UUID, after: int, limit: int = 500) -> list[Event]:
        records = await self._pool.fetch(
            "SELECT seq, event, data FROM run_events WHERE run_id = $1 AND seq > $2"
            " ORDER BY seq LIMIT $3",
            run_id,
            after,
            limit,
        )
        return [Event(int(r["seq"]), str(r["event"]), str(r["data"])) for r in records]


async def _runs_left(conn: asyncpg.Connection, threads: set[UUID], run_ids: list[UUID]) -> None:
    """Runs went without running: threads with nothing left in flight are idle again, and
    whoever follows those runs wakes up."""
    for thread_id in threads:
        await conn.execute(
            "UPDATE threads SET status = 'idle', updated_at = now() WHERE thread_id = $1"
            " AND status = 'busy' AND NOT EXISTS (SELECT 1 FROM runs WHERE"
            " thread_id = $1 AND status = ANY($2::text[]))",
            thread_id,
            list(IN_FLIGHT),
        )
    for run_id in run_ids:
        await conn.execute("SELECT pg_notify($1, $2)", RUN_EVENTS_CHANNEL, str(run_id))


class ThreadBusy(Exception):
    """The thread has a pending or running run (multitask_strategy ``reject``)."""
