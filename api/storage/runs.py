"""Reading runs and their event logs (workers and :mod:`tempograph.run_ends` write them).

A large event or output is stored as an encoded value naming the state's own parts, and
rendered to JSON here when it is read (:mod:`tempograph.render`). A run shows, beside
LangGraph Server's fields, ``workflow_id``: the Temporal workflow that runs it (the
first run of a RunWorkflow; its resumes share it), and in ``runs.get``, ``error``: why
an errored run ended (None otherwise).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from tempograph.crypto import unseal_json_text, unseal_text
from tempograph.render import render_stored
from tempograph.runs import FINAL, IN_FLIGHT, run_json
from tempograph.valuestore import ValueStore

__all__ = ["FINAL", "IN_FLIGHT", "Event", "RunStore"]

_COLUMNS = (
    "run_id, thread_id, assistant_id, created_at, updated_at, status, metadata, kwargs,"
    " multitask_strategy, workflow_id"
)


@dataclass
class Event:
    seq: int
    event: str
    data: str  # JSON text


class RunStore:
    """SQL reads of runs and run events; the pool and the value store are injected."""

    def __init__(self, pool: asyncpg.Pool, values: ValueStore) -> None:
        self._pool = pool
        self._values = values

    async def get(self, thread_id: UUID, run_id: UUID) -> dict[str, Any] | None:
        record = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM runs WHERE run_id = $1 AND thread_id = $2", run_id, thread_id
        )
        if record is None:
            return None
        run = run_json(record)
        run["usage"] = await self.usage(run_id)
        run["error"] = await self.error(run_id) if run["status"] == "error" else None
        return run

    async def error(self, run_id: UUID) -> dict[str, Any] | None:
        """Why an errored run ended, as its ``join`` body says: the node's error type and
        message, or Temporal's reason for a workflow it ended (a terminate, a timeout)."""
        output = await self.output(run_id)
        body = json.loads(output[1]) if output is not None and output[1] else None
        error = body.get("__error__") if isinstance(body, dict) else None
        return error if isinstance(error, dict) else None

    async def usage(self, run_id: UUID) -> dict[str, Any]:
        """What the run's model calls used and cost (every attempt's), in total and by
        model; ``cost_usd`` is None while no model of the run has a price."""
        return (await self.usages([run_id]))[str(run_id)]

    async def usages(self, run_ids: list[UUID]) -> dict[str, dict[str, Any]]:
        rows = await self._pool.fetch(
            "SELECT run_id, model, calls, input_tokens, output_tokens, cost_usd FROM run_usage"
            " WHERE run_id = ANY($1::uuid[]) ORDER BY model",
            run_ids,
        )
        by_run: dict[UUID, list[Any]] = {}
        for row in rows:
            by_run.setdefault(row["run_id"], []).append(row)
        found: dict[str, dict[str, Any]] = {}
        for run_id in run_ids:
            mine = by_run.get(run_id, [])
            costs = [r["cost_usd"] for r in mine if r["cost_usd"] is not None]
            inputs = sum(r["input_tokens"] for r in mine)
            outputs = sum(r["output_tokens"] for r in mine)
            found[str(run_id)] = {
                "input_tokens": inputs,
                "output_tokens": outputs,
                "total_tokens": inputs + outputs,
                "cost_usd": sum(costs) if costs else None,
                "models": {
                    r["model"]: {
                        k: r[k] for k in ("calls", "input_tokens", "output_tokens", "cost_usd")
                    }
                    for r in mine
                },
            }
        return found

    async def attempts(self, run_id: UUID) -> list[dict[str, Any]]:
        """The run's node attempts in the order they started (the console's timeline)."""
        rows = await self._pool.fetch(
            "SELECT node, task_id, attempt, started_at, ended_at, outcome, error"
            " FROM node_attempts WHERE run_id = $1 ORDER BY started_at, attempt",
            run_id,
        )
        return [
            {
                "node": r["node"],
                "task_id": r["task_id"],
                "attempt": r["attempt"],
                "started_at": r["started_at"].isoformat(),
                "ended_at": r["ended_at"].isoformat(),
                "duration_ms": round((r["ended_at"] - r["started_at"]).total_seconds() * 1000, 1),
                "outcome": r["outcome"],
                "error": json.loads(unseal_json_text(r["error"]) or "null"),
            }
            for r in rows
        ]

    async def find(self, run_id: UUID) -> dict[str, Any] | None:
        record = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM runs WHERE run_id = $1", run_id)
        return run_json(record) if record is not None else None

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
        runs = [run_json(r) for r in records]
        usage = await self.usages([UUID(run["run_id"]) for run in runs])
        for run in runs:  # a thread's page shows what each run cost
            run["usage"] = usage[run["run_id"]]
        return runs

    async def in_flight(self, thread_id: UUID) -> list[str]:
        records = await self._pool.fetch(
            "SELECT run_id FROM runs WHERE thread_id = $1 AND status = ANY($2::text[])"
            " ORDER BY created_at",
            thread_id,
            IN_FLIGHT,
        )
        return [str(r["run_id"]) for r in records]

    async def delete(self, thread_id: UUID, run_id: UUID) -> bool:
        status = await self._pool.execute(
            "DELETE FROM runs WHERE run_id = $1 AND thread_id = $2", run_id, thread_id
        )
        return bool(status.endswith(" 1"))

    async def execution(self, run_id: UUID) -> str | None:
        """The Temporal execution (its run id) that last claimed the run, if any."""
        value = await self._pool.fetchval("SELECT execution_id FROM runs WHERE run_id = $1", run_id)
        return str(value) if value is not None else None

    async def waits_for_answer(self, workflow_id: str, execution: str) -> bool:
        """Whether ``execution`` of ``workflow_id`` ran a run of it and now waits at an
        interrupt (a later resume of that workflow runs only once someone answers)."""
        return bool(
            await self._pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM runs r JOIN threads t USING (thread_id)"
                " WHERE r.workflow_id = $1 AND r.execution_id = $2 AND t.waiting"
                " AND t.run_workflow_id = $1)",
                workflow_id,
                execution,
            )
        )

    async def status(self, run_id: UUID) -> str | None:
        value = await self._pool.fetchval("SELECT status FROM runs WHERE run_id = $1", run_id)
        return str(value) if value is not None else None

    async def output(self, run_id: UUID) -> tuple[str, str | None] | None:
        """The run's status and, once it ended, the body of ``wait``/``join`` (JSON text)."""
        record = await self._pool.fetchrow(
            "SELECT status, output::text AS output, output_value FROM runs WHERE run_id = $1",
            run_id,
        )
        if record is None:
            return None
        if record["output_value"] is not None:
            return str(record["status"]), await self._render(bytes(record["output_value"]))
        return str(record["status"]), unseal_json_text(record["output"])

    async def of_thread(
        self, thread_id: UUID, leaving_out: set[UUID] | None = None
    ) -> list[tuple[UUID, str]]:
        """The thread's runs and their status, oldest first, less ``leaving_out``."""
        records = await self._pool.fetch(
            "SELECT run_id, status FROM runs WHERE thread_id = $1 AND run_id <> ALL($2::uuid[])"
            " ORDER BY created_at, run_id",
            thread_id,
            list(leaving_out or ()),
        )
        return [(r["run_id"], str(r["status"])) for r in records]

    async def last_seq(self, run_id: UUID) -> int:
        """The id of the run's newest event so far (0: none yet)."""
        value = await self._pool.fetchval(
            "SELECT coalesce(max(seq), 0) FROM run_events WHERE run_id = $1", run_id
        )
        return int(value)

    async def events_after(self, run_id: UUID, after: int, limit: int = 500) -> list[Event]:
        records = await self._pool.fetch(
            "SELECT seq, event, data, value FROM run_events WHERE run_id = $1 AND seq > $2"
            " ORDER BY seq LIMIT $3",
            run_id,
            after,
            limit,
        )
        out = []
        for r in records:
            data = unseal_text(r["data"]) if r["value"] is None else await self._render(r["value"])
            out.append(Event(int(r["seq"]), str(r["event"]), str(data)))
        return out

    async def _render(self, stored: bytes) -> str:
        return await render_stored(stored, self._values)
