"""Built-in API keys: ``tg_<id>_<secret>``, sent as ``x-api-key``.

A key is stored as its id and the SHA-256 of its secret. The secret is 32 random bytes,
so a fast hash is the right one (as for GitHub's and Stripe's tokens); a slow password
hash would only make every request slower. The secret is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import asyncpg

from tempograph.errors import ErrorCode, TempographError
from tempograph.identity import TENANT, Role

PREFIX = "tg_"


@dataclass(frozen=True)
class KeyHolder:
    key_id: str
    tenant_id: str
    role: Role
    name: str | None


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse(key: str) -> tuple[str, str] | None:
    """(id, secret) of a key in our format, else None."""
    if not key.startswith(PREFIX):
        return None
    key_id, sep, secret = key[len(PREFIX) :].partition("_")
    if not sep or not key_id or not secret:
        return None
    return key_id, secret


class KeyStore:
    """API keys in Postgres; the pool is injected."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(self, tenant_id: str, role: str, name: str | None = None) -> tuple[str, Any]:
        """A new key: (the key, shown only now; its row without the secret)."""
        if not TENANT.fullmatch(tenant_id):
            raise TempographError(
                f"invalid tenant {tenant_id!r}: letters, digits, '_' and '-' (up to 63)",
                code=ErrorCode.INVALID_INPUT,
            )
        try:
            checked = Role(role)
        except ValueError:
            raise TempographError(
                f"invalid role {role!r}: one of {[r.value for r in Role]}",
                code=ErrorCode.INVALID_INPUT,
            ) from None
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        row = await self._pool.fetchrow(
            "INSERT INTO api_keys (key_id, secret_sha256, tenant_id, role, name)"
            " VALUES ($1, $2, $3, $4, $5)"
            " RETURNING key_id, tenant_id, role, name, created_at, revoked_at",
            key_id,
            _digest(secret),
            tenant_id,
            checked.value,
            name,
        )
        return f"{PREFIX}{key_id}_{secret}", _json(row)

    async def list(self, tenant_id: str | None = None) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            "SELECT key_id, tenant_id, role, name, created_at, revoked_at FROM api_keys"
            " WHERE $1::text IS NULL OR tenant_id = $1 ORDER BY created_at",
            tenant_id,
        )
        return [_json(r) for r in rows]

    async def revoke(self, key_id: str, tenant_id: str | None = None) -> bool:
        """Revoke a key (of ``tenant_id``, when given); False when there is no such key."""
        status = await self._pool.execute(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())"
            " WHERE key_id = $1 AND ($2::text IS NULL OR tenant_id = $2)",
            key_id,
            tenant_id,
        )
        return bool(status.endswith(" 1"))

    async def is_live(self, key_id: str) -> bool:
        """Whether the key ``key_id`` exists and has not been revoked."""
        revoked = await self._pool.fetchval(
            "SELECT revoked_at IS NOT NULL FROM api_keys WHERE key_id = $1", key_id
        )
        return revoked is False

    async def verify(self, key: str) -> KeyHolder | None:
        """Who holds ``key``, when it is a live key; None otherwise."""
        parsed = parse(key)
        if parsed is None:
            return None
        key_id, secret = parsed
        row = await self._pool.fetchrow(
            "SELECT secret_sha256, tenant_id, role, name FROM api_keys"
            " WHERE key_id = $1 AND revoked_at IS NULL",
            key_id,
        )
        if row is None or not hmac.compare_digest(bytes(row["secret_sha256"]), _digest(secret)):
            return None
        return KeyHolder(key_id, row["tenant_id"], Role(row["role"]), row["name"])


def _json(row: Any) -> dict[str, Any]:
    out = dict(row)
    for key in ("created_at", "revoked_at"):
        if out.get(key) is not None:
            out[key] = out[key].isoformat()
    return out
