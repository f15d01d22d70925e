"""Postgres: the embedded server for local use, the connection pool, and migrations.

``DATABASE_URL`` selects a real server. Without it, ``pgserver`` (a wheel carrying
Postgres 16 and pgvector) runs one under the data directory. Migrations
(:mod:`tempograph.migrations`) are an append-only list applied in order at start-up under
an advisory lock, so several API replicas starting at once apply each exactly once.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from tempograph.errors import ErrorCode, TempographError
from tempograph.migrations import MIGRATIONS
from tempograph.temporal.processes import running

# An arbitrary constant: the advisory lock that serialises migrations across replicas.
_MIGRATION_LOCK = 7_412_345_001


class DatabaseUnavailable(TempographError):
    """Postgres cannot be reached right now; the API answers 503 and keeps trying."""

    code = ErrorCode.SERVER_UNAVAILABLE


@dataclass
class EmbeddedPostgres:
    """A ``pgserver`` Postgres under ``data_dir``, for local development and tests."""

    data_dir: Path
    _server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server; returns its connection URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers); harmless here.
            warnings.simplefilter("ignore")
            import pgserver  # heavy import, only when the embedded server is used

            self._forget_dead_handles()
            self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        url: str = self._server.get_uri()
        return url

    def _forget_dead_handles(self) -> None:
        """pgserver stops the server when the last process using it exits, counting them
        in ``.handle_pids.json``; one killed (SIGKILL) stays there for good, and no later
        process would stop the server. Forget the ones that no longer run."""
        handles = self.data_dir / ".handle_pids.json"
        try:
            pids = json.loads(handles.read_text())
        except (OSError, ValueError):
            return
        alive = [pid for pid in pids if isinstance(pid, int) and running(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))

    def pid(self) -> int | None:
        """The postmaster's PID while it runs (its ``postmaster.pid``'s first line)."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if running(pid) else None

    def revive(self) -> None:
        """Start the server again after it died (a crash, or a chaos test's SIGKILL);
        Postgres replays its WAL. Raises while the dead server's backends still hold its
        shared memory: call again a moment later."""
        if self._server is not None and self.pid() is None:
            # A killed postmaster left as a zombie (nothing reaps orphans here) still
            # looks alive to Postgres's own check of the PID file: that file is stale.
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
            self._server.ensure_postgres_running()

    def stop(self) -> None:
        """Stop the server, returning once its postmaster has exited (``pg_ctl stop``
        returns when the PID file goes, a moment before)."""
        if self._server is not None:
            pid = self.pid()
            self._server.cleanup()
            self._server = None
            for _ in range(100):
                if pid is None or not running(pid):
                    break
                time.sleep(0.1)


class PooledConnection(asyncpg.Connection):  # type: ignore[misc]
    """A pool connection released without asyncpg's reset query (advisory unlock, CLOSE
    ALL, UNLISTEN, RESET ALL: one more round trip per acquire). Pooled connections take no
    session state: locks are transaction-scoped, LISTEN has its own connection, nothing
    SETs. The pool still rolls back a transaction left open."""

    def get_reset_query(self) -> str:
        return ""


async def open_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool on ``url``; :class:`DatabaseUnavailable` if Postgres does not answer."""
    try:
        pool: asyncpg.Pool = await asyncpg.create_pool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=10,
            connection_class=PooledConnection,
        )
    except (TimeoutError, OSError, asyncpg.PostgresError) as err:
        raise DatabaseUnavailable(f"cannot reach Postgres: {err}") from None
    return pool


async def migrate(pool: asyncpg.Pool) -> int:
    """Apply the migrations not applied yet; returns the schema version now in force."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS tempograph_migrations ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = await conn.fetchval("SELECT coalesce(max(version), 0) FROM tempograph_migrations")
        for version, sql in enumerate(MIGRATIONS, start=1):
            if version > applied:
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO tempograph_migrations (version) VALUES ($1)", version
                )
    return len(MIGRATIONS)
