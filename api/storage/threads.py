"""Threads in Postgres: metadata, plus the status and state the runs leave behind."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from uuid import UUID

import asyncpg

from tempograph.api.auth_filters import filter_sql
from tempograph.api.snapshots import jsonable
from tempograph.crypto import at_rest, seal, seal_json_text, unseal_json
from tempograph.render import render_stored
from tempograph.valuestore import ValueStore
from tempograph.workflows.jsonable import dumps
from tempograph.workflows.values import INLINE, PartTable, encode, pack

# "values" is quoted everywhere: VALUES is an SQL keyword. A thread's values are JSON
# text, or (when a run left them with parts in the value store: a long list, a big value)
# ``values_value``, the encoded value, rendered when read: a run on a thread of a 10 MB
# state does not rewrite 10 MB of row, nor does every check of the thread read it.
_LIGHT = (
    "thread_id, created_at, updated_at, state_updated_at, metadata, config, status,"
    " interrupts, error"
)
_COLUMNS = f'{_LIGHT}, "values", values_value'
_JSON = ("metadata", "config", "values", "interrupts", "error")
_SEALED = ("values", "interrupts", "error")  # run content: sealed at rest
_TIMES = ("created_at", "updated_at", "state_updated_at")
SORTABLE = {"thread_id", "status", "created_at", "updated_at", "state_updated_at"}
STATUSES = {"idle", "busy", "interrupted", "error"}


def _row(record: asyncpg.Record) -> dict[str, Any]:
    out = dict(record)
    out.pop("values_value", None)
    out["thread_id"] = str(out["thread_id"])
    for key in _JSON:
        if isinstance(out.get(key), str):
            out[key] = json.loads(out[key])
    for key in _SEALED:
        if key in out:
            out[key] = unseal_json(out[key])
    for key in _TIMES:
        out[key] = out[key].isoformat()
    return out


def _json(value: Any) -> str | None:
    """A jsonb parameter; Python None is SQL NULL, not JSON null."""
    return None if value is None else json.dumps(value)


def _filters(
    metadata: dict[str, Any] | None,
    values: dict[str, Any] | None,
    status: str | None,
    ids: Sequence[UUID] | None = None,
    allowed: dict[str, Any] | None = None,
    tenant: str | None = None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if tenant is not None:
        args.append(tenant)
        clauses.append(f"tenant_id = ${len(args)}")
    if allowed:
        clauses.append(filter_sql(allowed, "metadata", args))
    if metadata:
        args.append(json.dumps(metadata))
        clauses.append(f"metadata @> ${len(args)}::jsonb")
    if values and at_rest() is None:
        # Sealed values, and values by reference, are matched in Python (_contains).
        args.append(json.dumps(values))
        clauses.append(f'("values" @> ${len(args)}::jsonb OR values_value IS NOT NULL)')
    if status is not None:
        args.append(status)
        clauses.append(f"status = ${len(args)}")
    if ids is not None:
        args.append(list(ids))
        clauses.append(f"thread_id = ANY(${len(args)}::uuid[])")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def _contains(document: Any, pattern: Any) -> bool:
    """Postgres's jsonb ``@>`` in Python: objects contain objects key by key, arrays
    contain each element of an array pattern, scalars are equal."""
    if isinstance(pattern, dict):
        return isinstance(document, dict) and all(
            key in document and _contains(document[key], value) for key, value in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(document, list) and all(
            any(_contains(item, wanted) for item in document) for wanted in pattern
        )
    if isinstance(document, list):  # a scalar pattern matches an array holding it
        return pattern in document
    if isinstance(document, bool) or isinstance(pattern, bool):
        return document is pattern  # JSON true is not 1
    return bool(document == pattern)


async def values_columns(values: Any, store: ValueStore) -> tuple[str | None, bytes | None]:
    """A thread row's ``"values"`` and ``values_value`` for ``values`` (a state's, as
    objects): small values as (sealed) JSON text; values with parts by reference, the
    parts stored first (content-addressed: the checkpoint that holds them stored the
    same ones)."""
    table = PartTable()
    encoded = encode(values, table, memo=True)
    if encoded.kind == INLINE:
        return seal_json_text(dumps(jsonable(values))), None
    data = {h: p.data for h, p in table.parts.items() if p.data is not None}
    if data:
        await store.put_many(data)
    return None, seal(pack(encoded))


class ThreadStore:
    """SQL for threads; the pool is injected. Rows are the API's Thread objects."""

    def __init__(self, pool: asyncpg.Pool, values: ValueStore) -> None:
        self._pool = pool
        self._values = values

    async def _rows(self, records: Sequence[asyncpg.Record]) -> list[dict[str, Any]]:
        """The threads of ``records``, their values by reference rendered."""
        out = []
        for record in records:
            row = _row(record)
            stored = record.get("values_value")
            if stored is not None:
                row["values"] = json.loads(await render_stored(stored, self._values))
            out.append(row)
        return out

    async def _one(self, record: asyncpg.Record | None) -> dict[str, Any] | None:
        return (await self._rows([record]))[0] if record is not None else None

    async def create(
        self,
        thread_id: UUID,
        metadata: dict[str, Any],
        if_exists: str = "raise",
        tenant: str | None = None,
        ttl: tuple[float, str] | None = None,
    ) -> dict[str, Any] | None:
        """The new thread (idle, no values) of ``tenant``. When the id exists already:
        the existing thread with ``if_exists="do_nothing"`` (if it is the tenant's), else
        None."""
        record = await self._pool.fetchrow(
            f"INSERT INTO threads (thread_id, metadata, tenant_id, ttl_minutes, ttl_strategy)"
            f" VALUES ($1, $2::jsonb, $3, $4, $5)"
            f" ON CONFLICT (thread_id) DO NOTHING RETURNING {_COLUMNS}",
            thread_id,
            json.dumps(metadata),
            tenant or "",
            ttl[0] if ttl else None,
            ttl[1] if ttl else None,
        )
        if record is not None:
            return _row(record)  # a new thread: no values yet
        if if_exists == "do_nothing":
            return await self.get(thread_id, tenant)
        return None

    async def get(
        self, thread_id: UUID, tenant: str | None = None, *, values: bool = True
    ) -> dict[str, Any] | None:
        """The thread; None when it is unknown or (``tenant`` given) another tenant's.
        Without ``values``, the thread less its values (for checks of its metadata or
        status: they need not read a state that can be megabytes)."""
        record = await self._pool.fetchrow(
            f"SELECT {_COLUMNS if values else _LIGHT} FROM threads WHERE thread_id = $1"
            " AND ($2::text IS NULL OR tenant_id = $2)",
            thread_id,
            tenant,
        )
        return await self._one(record)

    async def update(
        self, thread_id: UUID, metadata: dict[str, Any], ttl: tuple[float, str] | None = None
    ) -> dict[str, Any] | None:
        """Shallow-merge ``metadata`` into the thread's (and set its TTL, if given); None
        when the thread is unknown."""
        record = await self._pool.fetchrow(
            f"UPDATE threads SET metadata = metadata || $2::jsonb, updated_at = now(),"
            f" ttl_minutes = coalesce($3, ttl_minutes), ttl_strategy = coalesce($4, ttl_strategy)"
            f" WHERE thread_id = $1 RETURNING {_COLUMNS}",
            thread_id,
            json.dumps(metadata),
            ttl[0] if ttl else None,
            ttl[1] if ttl else None,
        )
        return await self._one(record)

    async def delete(
        self,
        thread_id: UUID,
        *,
        before_delete: Callable[[str | None], Awaitable[None]] | None = None,
    ) -> bool:
        """Delete the thread with its runs and their events; False when it is unknown.

        ``before_delete`` gets the thread's holder (the RunWorkflow running or waiting on
        it) and runs while the row is locked (a concurrent run insert waits on it); if it
        raises, nothing is deleted, so the caller can simply retry.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            found = await conn.fetchrow(
                "SELECT run_workflow_id FROM threads WHERE thread_id = $1 FOR UPDATE", thread_id
            )
            if found is None:
                return False
            if before_delete is not None:
                await before_delete(found["run_workflow_id"])
            await conn.execute("DELETE FROM threads WHERE thread_id = $1", thread_id)
        return True

    async def search(
        self,
        *,
        metadata: dict[str, Any] | None = None,
        values: dict[str, Any] | None = None,
        status: str | None = None,
        ids: Sequence[UUID] | None = None,
        limit: int = 10,
        offset: int = 0,
        sort_by: str = "updated_at",
        sort_order: str = "desc",
        allowed: dict[str, Any] | None = None,
        tenant: str | None = None,
        with_values: bool = True,
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of threads and how many match in all; ``allowed``: the auth filter on
        their metadata; ``tenant``: only that tenant's; ``with_values=False``: without
        their values (a ``select`` that leaves them out), which are not even read."""
        if sort_by not in SORTABLE:
            raise ValueError(f"cannot sort threads by {sort_by!r}")
        where, args = _filters(metadata, values, status, ids, allowed, tenant)
        direction = "ASC" if sort_order == "asc" else "DESC"
        order = f"{sort_by} {direction}, thread_id {direction}"
        if values:
            # Sealed at rest or by reference: the values filter is applied in Python to
            # the opened and rendered rows, in order (SQL leaves out what it can).
            records = await self._pool.fetch(
                f"SELECT {_COLUMNS} FROM threads{where} ORDER BY {order}", *args
            )
            rows = await self._rows(records)
            matching = [row for row in rows if _contains(row["values"], values)]
            return matching[offset : offset + limit], len(matching)
        async with self._pool.acquire() as conn:
            total = await conn.fetchval(f"SELECT count(*) FROM threads{where}", *args)
            records = await conn.fetch(
                f"SELECT {_COLUMNS if with_values else _LIGHT} FROM threads{where}"
                f" ORDER BY {order}"
                f" LIMIT {int(limit)} OFFSET {int(offset)}",
                *args,
            )
        return await self._rows(records), int(total)

    async def count(
        self,
        *,
        metadata: dict[str, Any] | None = None,
        values: dict[str, Any] | None = None,
        status: str | None = None,
        allowed: dict[str, Any] | None = None,
        tenant: str | None = None,
    ) -> int:
        if values:
            _, total = await self.search(
                metadata=metadata,
                values=values,
                status=status,
                allowed=allowed,
                tenant=tenant,
                limit=0,
            )
            return total
        where, args = _filters(metadata, values, status, allowed=allowed, tenant=tenant)
        return int(await self._pool.fetchval(f"SELECT count(*) FROM threads{where}", *args))

    async def set_state(
        self,
        thread_id: UUID,
        status: str,
        values: Any,
        interrupts: dict[str, Any],
        error: Any,
    ) -> dict[str, Any] | None:
        """Record what a run left behind: status, values (None for none yet), pending
        interrupts by task id, and the error (None when there is none). None when the
        thread is unknown (deleted meanwhile)."""
        if status not in STATUSES:
            raise ValueError(f"unknown thread status {status!r}; expected one of {STATUSES}")
        record = await self._pool.fetchrow(
            f'UPDATE threads SET status = $2, "values" = $3::jsonb, values_value = NULL,'
            f" interrupts = $4::jsonb, error = $5::jsonb, state_updated_at = now(),"
            f" updated_at = now()"
            f" WHERE thread_id = $1 RETURNING {_COLUMNS}",
            thread_id,
            status,
            seal_json_text(_json(values)),
            seal_json_text(json.dumps(interrupts)),
            seal_json_text(_json(error)),
        )
        return await self._one(record)
