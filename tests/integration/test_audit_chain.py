"""The audit log's hash chain detects a changed, removed or reordered row (on a database
of its own: the test tampers with it as a superuser would)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import asyncpg
import pytest

from tempograph.audit import AuditLog, Entry
from tempograph.database import migrate, open_pool


@pytest.fixture
async def scratch(postgres_url: str) -> AsyncIterator[asyncpg.Pool]:
    name = f"audit_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_url)
    await admin.execute(f"CREATE DATABASE {name}")
    url = urlsplit(postgres_url)._replace(path=f"/{name}").geturl()
    pool = await open_pool(url)
    await migrate(pool)
    try:
        yield pool
    finally:
        await pool.close()
        await admin.execute(f"DROP DATABASE {name}")
        await admin.close()


async def tamper(pool: asyncpg.Pool, statement: str) -> None:
    async with pool.acquire() as conn:
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        await conn.execute(statement)
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")


async def test_the_chain_holds_and_breaks_where_a_row_was_touched(scratch: asyncpg.Pool) -> None:
    log = AuditLog(scratch)
    empty = await log.verify()
    assert (empty.ok, empty.rows) == (True, 0)
    for n in range(5):
        await log.append(
            Entry(actor=f"user{n}", action="threads.create", outcome=200, detail={"n": n})
        )
    intact = await log.verify()
    assert (intact.ok, intact.rows) == (True, 5)
    assert len(intact.head) == 64
    await tamper(scratch, "UPDATE audit_log SET outcome = 403 WHERE seq = 3")
    changed = await log.verify()
    assert (changed.ok, changed.broken_at, changed.reason) == (False, 3, "the row was changed")
    await tamper(scratch, "UPDATE audit_log SET outcome = 200 WHERE seq = 3")
    assert (await log.verify()).ok
    await tamper(scratch, "DELETE FROM audit_log WHERE seq = 2")
    removed = await log.verify()
    assert (removed.ok, removed.broken_at, removed.reason) == (False, 3, "a row is missing")


async def test_concurrent_appends_keep_one_chain(scratch: asyncpg.Pool) -> None:
    import asyncio

    log = AuditLog(scratch)
    await asyncio.gather(
        *(log.append(Entry(actor="c", action="runs.create", outcome=200)) for _ in range(20))
    )
    verdict = await log.verify()
    assert (verdict.ok, verdict.rows) == (True, 20)
