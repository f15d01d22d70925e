"""Assistants in Postgres: a graph plus its configuration, versioned on every change."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import asyncpg

from tempograph.api.auth_filters import filter_sql

_COLUMNS = (
    "assistant_id, graph_id, config, context, metadata, name, description, version, "
    "created_at, updated_at"
)
SORTABLE = {"assistant_id", "graph_id", "name", "created_at", "updated_at"}


def _row(record: asyncpg.Record) -> dict[str, Any]:
    out = dict(record)
    out["assistant_id"] = str(out["assistant_id"])
    for key in ("config", "context", "metadata"):
        out[key] = json.loads(out[key]) if isinstance(out[key], str) else out[key]
    for key in ("created_at", "updated_at"):
        if key in out:
            out[key] = out[key].isoformat()
    return out


def _filters(
    graph_id: str | None,
    name: str | None,
    metadata: dict[str, Any] | None,
    allowed: dict[str, Any] | None = None,
    tenant: str | None = None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if tenant is not None:
        args.append(tenant)
        clauses.append(_visible_to(f"${len(args)}"))
    if allowed:
        clauses.append(filter_sql(allowed, "metadata", args))
    if graph_id is not None:
        args.append(graph_id)
        clauses.append(f"graph_id = ${len(args)}")
    if name is not None:
        args.append(f"%{name}%")
        clauses.append(f"name ILIKE ${len(args)}")
    if metadata:
        args.append(json.dumps(metadata))
        clauses.append(f"metadata @> ${len(args)}::jsonb")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def _visible_to(tenant: str) -> str:
    """SQL: the tenant's own assistants and the system assistants every tenant shares."""
    return (
        f"(tenant_id = {tenant} OR (tenant_id = ''"
        """ AND metadata @> '{"created_by": "system"}'))"""
    )


class AssistantStore:
    """SQL for assistants; the pool is injected."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(
        self,
        assistant_id: UUID,
        graph_id: str,
        config: dict[str, Any],
        context: dict[str, Any],
        metadata: dict[str, Any],
        name: str,
        description: str | None,
        tenant: str | None = None,
    ) -> dict[str, Any] | None:
        """The new assistant of ``tenant``, or None when the id exists already."""
        async with self._pool.acquire() as conn, conn.transaction():
            record = await conn.fetchrow(
                f"INSERT INTO assistants (assistant_id, graph_id, config, context, metadata,"
                f" name, description, tenant_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                f" ON CONFLICT (assistant_id) DO NOTHING RETURNING {_COLUMNS}",
                assistant_id,
                graph_id,
                json.dumps(config),
                json.dumps(context),
                json.dumps(metadata),
                name,
                description,
                tenant or "",
            )
            if record is None:
                return None
            await self._version(conn, record)
        return _row(record)

    async def get(self, assistant_id: UUID, tenant: str | None = None) -> dict[str, Any] | None:
        """The assistant; None when it is unknown or (``tenant`` given) not visible to it."""
        record = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM assistants WHERE assistant_id = $1"
            f" AND ($2::text IS NULL OR {_visible_to('$2')})",
            assistant_id,
            tenant,
        )
        return _row(record) if record is not None else None

    async def update(self, assistant_id: UUID, changes: dict[str, Any]) -> dict[str, Any] | None:
        """A new version with ``changes``; metadata is merged, other fields replaced."""
        async with self._pool.acquire() as conn, conn.transaction():
            current = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM assistants WHERE assistant_id = $1 FOR UPDATE",
                assistant_id,
            )
            if current is None:
                return None
            merged = _row(current)
            for key in ("graph_id", "config", "context", "name", "description"):
                if key in changes:
                    merged[key] = changes[key]
            merged["metadata"] = {**merged["metadata"], **(changes.get("metadata") or {})}
            record = await conn.fetchrow(
                f"UPDATE assistants SET graph_id = $2, config = $3, context = $4, metadata = $5,"
                f" name = $6, description = $7, updated_at = now(), version = 1 + (SELECT"
                f" max(version) FROM assistant_versions WHERE assistant_id = $1)"
                f" WHERE assistant_id = $1 RETURNING {_COLUMNS}",
                assistant_id,
                merged["graph_id"],
                json.dumps(merged["config"]),
                json.dumps(merged["context"]),
                json.dumps(merged["metadata"]),
                merged["name"],
                merged["description"],
            )
            await self._version(conn, record)
        return _row(record)

    async def versions(
        self, assistant_id: UUID, metadata: dict[str, Any] | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """The assistant's versions, newest first (``metadata``: those containing it)."""
        records = await self._pool.fetch(
            "SELECT assistant_id, version, graph_id, config, context, metadata, name,"
            " description, created_at FROM assistant_versions WHERE assistant_id = $1"
            " AND metadata @> $2::jsonb ORDER BY version DESC"
            f" LIMIT {int(limit)} OFFSET {int(offset)}",
            assistant_id,
            json.dumps(metadata or {}),
        )
        return [_row(r) for r in records]

    async def set_latest(self, assistant_id: UUID, version: int) -> dict[str, Any] | None:
        """Make an earlier (or later) version the current one, as it was; None if the
        assistant has no such version. The next change is numbered after the newest."""
        record = await self._pool.fetchrow(
            "UPDATE assistants a SET graph_id = v.graph_id, config = v.config,"
            " context = v.context, metadata = v.metadata, name = v.name,"
            " description = v.description, version = v.version, updated_at = now()"
            " FROM assistant_versions v WHERE a.assistant_id = $1"
            " AND v.assistant_id = a.assistant_id AND v.version = $2"
            f" RETURNING {', '.join('a.' + c.strip() for c in _COLUMNS.split(','))}",
            assistant_id,
            version,
        )
        return _row(record) if record is not None else None

    async def delete(self, assistant_id: UUID) -> bool:
        status = await self._pool.execute(
            "DELETE FROM assistants WHERE assistant_id = $1", assistant_id
        )
        return bool(status.endswith(" 1"))

    async def search(
        self,
        *,
        graph_id: str | None,
        name: str | None,
        metadata: dict[str, Any] | None,
        limit: int,
        offset: int,
        sort_by: str,
        sort_order: str,
        allowed: dict[str, Any] | None = None,
        tenant: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of assistants and how many match in all; ``allowed``: the auth filter
        on their metadata; ``tenant``: only those visible to it."""
        where, args = _filters(graph_id, name, metadata, allowed, tenant)
        order = f"{sort_by} {'ASC' if sort_order == 'asc' else 'DESC'}, assistant_id"
        async with self._pool.acquire() as conn:
            total = await conn.fetchval(f"SELECT count(*) FROM assistants{where}", *args)
            records = await conn.fetch(
                f"SELECT {_COLUMNS} FROM assistants{where} ORDER BY {order}"
                f" LIMIT {int(limit)} OFFSET {int(offset)}",
                *args,
            )
        return [_row(r) for r in records], int(total)

    async def count(
        self,
        *,
        graph_id: str | None,
        name: str | None,
        metadata: dict[str, Any] | None,
        allowed: dict[str, Any] | None = None,
        tenant: str | None = None,
    ) -> int:
        where, args = _filters(graph_id, name, metadata, allowed, tenant)
        return int(await self._pool.fetchval(f"SELECT count(*) FROM assistants{where}", *args))

    @staticmethod
    async def _version(conn: asyncpg.Connection, record: asyncpg.Record) -> None:
        await conn.execute(
            "INSERT INTO assistant_versions (assistant_id, version, graph_id, config, context,"
            " metadata, name, description) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            record["assistant_id"],
            record["version"],
            record["graph_id"],
            record["config"],
            record["context"],
            record["metadata"],
            record["name"],
            record["description"],
        )
