"""The audit log: who did what, to which resource, with what outcome, and when.

Rows are appended one at a time under an advisory lock, each carrying the SHA-256 of
the row before it and of its own canonical content (``audit_log_content`` in Postgres),
so a changed, removed or reordered row breaks the chain. ``detail`` (which holds
approval answers) is sealed at rest like other run content; the chain covers it sealed.
Postgres refuses UPDATE, DELETE and TRUNCATE on the table. :meth:`AuditLog.verify`
walks the chain and reports the head hash: record it elsewhere to also detect a cut tail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from tempograph.crypto import seal_json, unseal_json

GENESIS = bytes(32)
_CONTENT = (
    "audit_log_content(seq, at, tenant_id, actor, key_id, action, resource, resource_id,"
    " outcome, detail)"
)
_COLUMNS = "seq, at, tenant_id, actor, key_id, action, resource, resource_id, outcome, detail"


@dataclass
class Entry:
    actor: str
    action: str
    outcome: int
    tenant_id: str = ""
    key_id: str | None = None
    resource: str | None = None
    resource_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    rows: int
    head: str  # hex SHA-256 of the last row
    broken_at: int | None = None
    reason: str = ""


class AuditLog:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def append(self, entry: Entry) -> int:
        """Append ``entry``; returns its sequence number."""
        # One round trip: audit_log_append takes the lock, reads the chain's last hash and
        # inserts (migration 9), all in the statement's own transaction.
        seq: int = await self._pool.fetchval(
            "SELECT audit_log_append($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
            entry.tenant_id,
            entry.actor,
            entry.key_id,
            entry.action,
            entry.resource,
            entry.resource_id,
            entry.outcome,
            json.dumps(seal_json(json.loads(json.dumps(entry.detail, default=str)))),
        )
        return seq

    async def search(
        self,
        *,
        tenant_id: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS}, encode(hash, 'hex') AS hash FROM audit_log"
            " WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR actor = $2)"
            " AND ($3::text IS NULL OR action = $3) AND ($4::timestamptz IS NULL OR at >= $4)"
            " AND ($5::timestamptz IS NULL OR at < $5)"
            f" ORDER BY seq LIMIT {int(limit)} OFFSET {int(offset)}",
            tenant_id,
            actor,
            action,
            since,
            until,
        )
        out = []
        for row in rows:
            item = dict(row)
            item["at"] = item["at"].isoformat()
            item["detail"] = unseal_json(json.loads(item["detail"]))
            out.append(item)
        return out

    async def verify(self) -> Verdict:
        """Walk the chain from the first row; the first row that does not hold is named."""
        rows = 0
        expected_prev, expected_seq = GENESIS, 1
        async with self._pool.acquire() as conn, conn.transaction():
            async for row in conn.cursor(
                f"SELECT seq, prev_hash, hash, sha256(prev_hash || {_CONTENT}) AS recomputed"
                " FROM audit_log ORDER BY seq"
            ):
                rows += 1
                seq = row["seq"]
                if seq != expected_seq:
                    return Verdict(False, rows, expected_prev.hex(), seq, "a row is missing")
                if bytes(row["prev_hash"]) != expected_prev:
                    return Verdict(False, rows, expected_prev.hex(), seq, "the chain is broken")
                if bytes(row["hash"]) != bytes(row["recomputed"]):
                    return Verdict(False, rows, expected_prev.hex(), seq, "the row was changed")
                expected_prev, expected_seq = bytes(row["hash"]), seq + 1
        return Verdict(True, rows, expected_prev.hex())
