"""Crons in Postgres: what each makes runs of and who made it. When each fires is its
Temporal Schedule's (:mod:`tempograph.api.services.crons`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from tempograph.api.auth_filters import filter_sql
from tempograph.crypto import seal_json_text, unseal_json

_COLUMNS = (
    "cron_id, assistant_id, thread_id, user_id, schedule, timezone, end_time,"
    " on_run_completed, enabled, payload, metadata, created_at, updated_at"
)
_SEALED = ("payload", "caller")
SORTABLE = {"cron_id", "assistant_id", "thread_id", "end_time", "created_at", "updated_at"}
Conn = Any  # a connection (inside the caller's transaction) or the pool


def _row(record: asyncpg.Record) -> dict[str, Any]:
    out = dict(record)
    for key in ("cron_id", "assistant_id", "thread_id"):
        out[key] = str(out[key]) if out[key] is not None else None
    for key in ("payload", "metadata"):
        if isinstance(out[key], str):
            out[key] = json.loads(out[key])
    out["payload"] = unseal_json(out["payload"])
    for key in ("created_at", "updated_at", "end_time"):
        out[key] = out[key].isoformat() if out[key] is not None else None
    return out


def _where(
    *,
    tenant: str | None,
    assistant_id: UUID | None = None,
    thread_id: UUID | None = None,
    enabled: bool | None = None,
    metadata: dict[str, Any] | None = None,
    allowed: dict[str, Any] | None = None,
    threads_allowed: dict[str, Any] | None = None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in (
        ("tenant_id", tenant),
        ("assistant_id", assistant_id),
        ("thread_id", thread_id),
        ("enabled", enabled),
    ):
        if value is not None:
            args.append(value)
            clauses.append(f"crons.{column} = ${len(args)}")
    if allowed:
        clauses.append(filter_sql(allowed, "crons.metadata", args))
    if metadata:
        args.append(json.dumps(metadata))
        clauses.append(f"crons.metadata @> ${len(args)}::jsonb")
    if threads_allowed:  # a thread's cron only if its thread passes the threads' filter
        on_threads = filter_sql(threads_allowed, "t.metadata", args)
        clauses.append(
            "(crons.thread_id IS NULL OR EXISTS (SELECT 1 FROM threads t"
            f" WHERE t.thread_id = crons.thread_id AND {on_threads}))"
        )
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


class CronStore:
    """SQL for crons; rows are the API's Cron objects (without ``next_run_date``)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(self, conn: Conn, cron_id: UUID, fields: dict[str, Any]) -> dict[str, Any]:
        """Insert the cron (``fields`` by column; ``payload`` is sealed here)."""
        values = {**fields}
        for key in _SEALED:  # what the cron runs, and for whom: sealed at rest
            values[key] = seal_json_text(json.dumps(fields.get(key)))
        values["metadata"] = json.dumps(values["metadata"])
        names = ["cron_id", *values]
        marks = ", ".join(f"${i + 1}" for i in range(len(names)))
        record = await conn.fetchrow(
            f"INSERT INTO crons ({', '.join(names)}) VALUES ({marks}) RETURNING {_COLUMNS}",
            cron_id,
            *values.values(),
        )
        return _row(record)

    async def get(
        self, cron_id: UUID, tenant: str | None = None, conn: Conn | None = None, lock: bool = False
    ) -> dict[str, Any] | None:
        """The cron (``tenant``'s only, if given), with its ``caller`` and ``tenant_id``;
        ``lock``: held until the caller's transaction ends."""
        record = await (conn or self._pool).fetchrow(
            f"SELECT {_COLUMNS}, caller, tenant_id FROM crons WHERE cron_id = $1"
            " AND ($2::text IS NULL OR tenant_id = $2)" + (" FOR UPDATE" if lock else ""),
            cron_id,
            tenant,
        )
        if record is None:
            return None
        out = _row(record)
        caller = out["caller"]
        out["caller"] = unseal_json(json.loads(caller) if isinstance(caller, str) else caller)
        return out

    async def update(self, conn: Conn, cron_id: UUID, changes: dict[str, Any]) -> dict[str, Any]:
        """Set ``changes`` (by column; ``payload`` whole, sealed here; ``metadata`` merged)."""
        sets: list[str] = ["updated_at = now()"]
        args: list[Any] = [cron_id]
        for column, value in changes.items():
            if column in _SEALED:
                value = seal_json_text(json.dumps(value))
            args.append(json.dumps(value) if column == "metadata" else value)
            cast = "::jsonb" if column in (*_SEALED, "metadata") else ""
            merge = f"metadata || ${len(args)}::jsonb" if column == "metadata" else None
            sets.append(f"{column} = {merge or f'${len(args)}{cast}'}")
        record = await conn.fetchrow(
            f"UPDATE crons SET {', '.join(sets)} WHERE cron_id = $1 RETURNING {_COLUMNS}", *args
        )
        return _row(record)

    async def set_enabled(self, cron_id: UUID, enabled: bool) -> None:
        """What the Schedule's pause says (an operator may pause it in the Temporal UI)."""
        await self._pool.execute(
            "UPDATE crons SET enabled = $2 WHERE cron_id = $1", cron_id, enabled
        )

    async def delete(self, conn: Conn, cron_id: UUID) -> bool:
        deleted = await conn.fetchval(
            "DELETE FROM crons WHERE cron_id = $1 RETURNING true", cron_id
        )
        return bool(deleted)

    async def search(
        self,
        *,
        tenant: str | None,
        limit: int | None,
        offset: int,
        sort_by: str,
        sort_order: str,
        **filters: Any,
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of crons (all of them with ``limit`` None) and how many match."""
        if sort_by not in SORTABLE:
            raise ValueError(f"cannot sort crons by {sort_by!r}")
        where, args = _where(tenant=tenant, **filters)
        direction = "ASC" if sort_order == "asc" else "DESC"
        page = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
        async with self._pool.acquire() as conn:
            total = await conn.fetchval(f"SELECT count(*) FROM crons{where}", *args)
            records = await conn.fetch(
                f"SELECT {_COLUMNS} FROM crons{where}"
                f" ORDER BY {sort_by} {direction} NULLS LAST, cron_id {direction}{page}",
                *args,
            )
        return [_row(r) for r in records], int(total)

    async def count(self, *, tenant: str | None, **filters: Any) -> int:
        where, args = _where(tenant=tenant, **filters)
        return int(await self._pool.fetchval(f"SELECT count(*) FROM crons{where}", *args))

    async def of_thread(self, thread_id: UUID) -> list[str]:
        records = await self._pool.fetch(
            "SELECT cron_id FROM crons WHERE thread_id = $1", thread_id
        )
        return [str(r["cron_id"]) for r in records]

    async def of_assistant(self, assistant_id: UUID) -> list[str]:
        records = await self._pool.fetch(
            "SELECT cron_id FROM crons WHERE assistant_id = $1", assistant_id
        )
        return [str(r["cron_id"]) for r in records]


def ended(end_time: str | None, now: datetime) -> bool:
    return end_time is not None and datetime.fromisoformat(end_time) <= now
