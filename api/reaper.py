"""Expiring idle threads, as LangGraph Server's ``checkpointer.ttl`` does.

``{"strategy": "delete" | "keep_latest", "default_ttl": minutes, "sweep_interval_minutes":
m, "sweep_limit": n}`` in langgraph.json (or a thread's own ``ttl`` at create/patch). A
thread whose last activity is older than its TTL and that has nothing in flight is, every
sweep: erased (``delete``: rows, checkpoints and its Temporal executions, as a DELETE
does) or pruned to its newest checkpoint (``keep_latest``). Each API replica sweeps;
two sweeping the same thread do the same idempotent thing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from uuid import UUID

from tempograph.api.routes.threads import drop_thread
from tempograph.api.state import AppState

logger = logging.getLogger(__name__)

_DEFAULT_INTERVAL_MINUTES = 5.0
_DEFAULT_LIMIT = 10_000


class ThreadReaper:
    def __init__(self, state: AppState, config: dict[str, Any]) -> None:
        self.state = state
        self.default_ttl = config.get("default_ttl")
        self.strategy = str(config.get("strategy") or "delete")
        self.interval = float(config.get("sweep_interval_minutes") or _DEFAULT_INTERVAL_MINUTES)
        self.limit = int(config.get("sweep_limit") or _DEFAULT_LIMIT)

    async def sweep(self) -> int:
        """Expire what is due now; returns how many threads were handled."""
        pool = await self.state.database.pool()
        due = await pool.fetch(
            "SELECT thread_id, coalesce(ttl_strategy, $2) AS strategy FROM threads"
            " WHERE status <> 'busy' AND coalesce(ttl_minutes, $1) IS NOT NULL"
            " AND updated_at + make_interval(secs => coalesce(ttl_minutes, $1) * 60) < now()"
            " ORDER BY updated_at LIMIT $3",
            float(self.default_ttl) if self.default_ttl is not None else None,
            self.strategy,
            self.limit,
        )
        checkpoints = await self.state.checkpoints()
        for row in due:
            thread_id: UUID = row["thread_id"]
            if row["strategy"] == "keep_latest":
                await checkpoints.aprune([str(thread_id)], strategy="keep_latest")
                # Pruned: its clock starts again, so the next sweep leaves it alone.
                await pool.execute(
                    "UPDATE threads SET updated_at = now() WHERE thread_id = $1", thread_id
                )
            else:
                await drop_thread(self.state, thread_id)
        return len(due)

    async def run_forever(self) -> None:
        while True:
            try:
                handled = await self.sweep()
                if handled:
                    logger.info("thread TTL: %d expired threads handled", handled)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - Postgres or Temporal away: next sweep
                logger.warning("thread TTL sweep failed: %s", type(err).__name__)
            await asyncio.sleep(self.interval * 60)
