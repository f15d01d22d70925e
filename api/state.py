"""What the app holds while it runs: the database (recovering on its own) and Temporal."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from temporalio.client import Client

from tempograph.api.graphs import GraphCatalog
from tempograph.api.streaming import Notifier
from tempograph.breakers import Breakers
from tempograph.checkpoints import PostgresCheckpointStore
from tempograph.database import DatabaseUnavailable, migrate, open_pool
from tempograph.starter import RunStarter
from tempograph.valuestore import ValueStore


@dataclass
class Database:
    """A pool that is (re)opened on demand, so the API outlives a Postgres outage."""

    url: str
    # Run once each time a pool is opened (after migrations): e.g. system assistants.
    on_open: list[Callable[[asyncpg.Pool], Awaitable[None]]] = field(default_factory=list)
    _pool: asyncpg.Pool | None = None
    # Set by an on_open hook: the memory store on the pool just opened.
    store: Any = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    pool = await open_pool(self.url)
                    try:
                        await migrate(pool)
                        for hook in self.on_open:
                            await hook(pool)
                    except BaseException:
                        await pool.close()
                        raise
                    self._pool = pool
        return self._pool

    async def ping(self) -> None:
        """Round-trip to Postgres; :class:`DatabaseUnavailable` if it does not answer."""
        pool = await self.pool()
        try:
            async with pool.acquire(timeout=5) as conn:
                await conn.fetchval("SELECT 1")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as err:
            raise DatabaseUnavailable(f"Postgres is unavailable: {err}") from None

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


@dataclass
class AppState:
    database: Database
    temporal: Client
    task_queue: str
    catalog: GraphCatalog
    notifier: Notifier
    values: ValueStore
    breakers: Breakers  # the dependencies' circuit breakers (GET /breakers, /metrics)
    webhook_allow_private: bool = False
    tenant_max_runs: int = 0  # per tenant, in flight at once (0: no limit)
    operator_tenant: str | None = None  # whose admins may use /codec (built-in auth)
    temporal_ui: str | None = None  # the Temporal UI's URL, for links to runs
    auth_kind: str = "none"  # none, builtin or custom: who may answer approvals

    async def checkpoints(self) -> PostgresCheckpointStore:
        """The thread checkpoints, on the current pool."""
        return PostgresCheckpointStore(await self.database.pool(), self.values)

    async def starter(self) -> RunStarter:
        """Starts runs' workflows on this app's task queue."""
        return RunStarter(self.temporal, await self.database.pool(), self.task_queue)

    @property
    def store(self) -> Any:
        """The long-term memory store, on the current pool (None while Postgres is away)."""
        return self.database.store
