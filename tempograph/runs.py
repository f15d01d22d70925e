"""Runs on threads in Postgres: which run holds a thread, which wait, and starting them.

A thread runs one RunWorkflow at a time. ``threads.run_workflow_id`` names it, the
thread's *holder*: the workflow of the running run, or of the run waiting at an
interrupt. Runs that arrive while the thread is held wait as ``pending`` rows, oldest
first. When the holder's workflow ends, its finish activity gives the thread to the
oldest of them and starts its workflow; when Temporal ended the holder some other way
(terminate, timeout, a limit), the API's sweeper does the same. Each step is a
transaction on the thread's row, so API replicas and workers agree on who runs next.
Temporal executes the runs and stays the authority on whether a workflow is open; this
module keeps order and records what the API shows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

import asyncpg

from tempograph.crypto import seal, seal_json_text, unseal_json, unsealed
from tempograph.workflows.jsonable import RUN_EVENTS_CHANNEL
from tempograph.workflows.serde import serializer
from tempograph.workflows.types import (
    CancelReason,
    RunRequest,
    RunStatus,
    ThreadStatus,
    thread_status,
)

IN_FLIGHT = [RunStatus.PENDING.value, RunStatus.RUNNING.value]
FINAL = [s.value for s in RunStatus if s.final]

_RUN_COLUMNS = (
    "run_id, thread_id, assistant_id, created_at, updated_at, status, metadata, kwargs,"
    " multitask_strategy, workflow_id"
)


def run_json(record: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """A runs row as the API's Run object."""
    out = dict(record)
    for key in ("run_id", "thread_id", "assistant_id"):
        out[key] = str(out[key])
    for key in ("metadata", "kwargs"):
        if isinstance(out[key], str):
            out[key] = json.loads(out[key])
    out["kwargs"] = unseal_json(out["kwargs"])
    for key in ("created_at", "updated_at"):
        out[key] = out[key].isoformat()
    return out


@dataclass
class NewRun:
    run_id: UUID
    thread_id: UUID
    assistant_id: UUID
    metadata: dict[str, Any]
    kwargs: dict[str, Any]  # as LangGraph Server shows them
    multitask_strategy: str
    idempotency_key: str | None
    request: RunRequest  # what the engine runs, kept exactly as made
    resume: bool = False
    # Merged into the thread's metadata (LangGraph Server records graph and assistant).
    thread_metadata: dict[str, Any] = field(default_factory=dict)
    # The caller's tenant (None: tenants do not apply) and identity.
    tenant_id: str | None = None
    created_by: str | None = None
    # How many runs the tenant may have in flight, this one included (0: no limit).
    tenant_max_runs: int = 0
    # The W3C traceparent of the request that made it (tracing on), for a later start.
    traceparent: str | None = None


@dataclass
class Admission:
    """What :func:`admit` decided for a new run."""

    run: dict[str, Any]
    created: bool = True
    # The run holds the thread now: start its workflow.
    start: bool = False
    # The workflow now holding the thread must stop (or, waiting, give it up).
    cancel: tuple[str, CancelReason] | None = None
    # A resume for the workflow waiting at an interrupt.
    resume_holder: str | None = None
    # Queued runs that multitask "interrupt" / "rollback" dropped.
    dropped: list[UUID] = field(default_factory=list)


class ThreadBusy(Exception):
    """The thread has a run in flight (multitask_strategy ``reject``); ``holder``: the
    workflow holding it."""

    def __init__(self, thread_id: UUID, holder: str | None) -> None:
        super().__init__(thread_id)
        self.holder = holder


class QuotaExceeded(Exception):
    """The tenant has as many runs in flight as it may have."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the tenant has {limit} runs in flight, its limit")
        self.limit = limit


async def tenant_in_flight(conn: asyncpg.Connection, tenant_id: str) -> int:
    """The tenant's runs pending or running."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM runs WHERE tenant_id = $1 AND status = ANY($2::text[])",
            tenant_id,
            IN_FLIGHT,
        )
    )


class NotWaiting(Exception):
    """A resume for a thread that has nothing waiting for input."""


async def runs_in_flight(conn: asyncpg.Connection, thread_id: UUID) -> list[asyncpg.Record]:
    """The thread's pending and running runs, oldest first."""
    return list(
        await conn.fetch(
            "SELECT run_id, status, kwargs FROM runs WHERE thread_id = $1"
            " AND status = ANY($2::text[]) ORDER BY created_at, run_id",
            thread_id,
            IN_FLIGHT,
        )
    )


async def settle(conn: asyncpg.Connection, thread_id: UUID) -> ThreadStatus | None:
    """Recompute the thread's status from its runs and state (:func:`thread_status`)."""
    row = await conn.fetchrow(
        "SELECT status, waiting, error IS NOT NULL AS failed, EXISTS (SELECT 1 FROM runs r"
        "   WHERE r.thread_id = t.thread_id AND r.status = ANY($2::text[])) AS busy"
        " FROM threads t WHERE thread_id = $1",
        thread_id,
        IN_FLIGHT,
    )
    if row is None:
        return None
    status = thread_status(in_flight=row["busy"], waiting=row["waiting"], failed=row["failed"])
    if status != row["status"]:
        await conn.execute(
            "UPDATE threads SET status = $2, updated_at = now() WHERE thread_id = $1",
            thread_id,
            status.value,
        )
    return status


async def notify(conn: asyncpg.Connection, run_ids: Sequence[str | UUID]) -> None:
    """Wake whoever follows these runs (streams, ``wait``, ``join``): something about them
    changed, maybe their status (see :data:`EVENTS_ONLY` for the other kind)."""
    if run_ids:
        await conn.execute(
            "SELECT pg_notify($1, r) FROM unnest($2::text[]) AS r",
            RUN_EVENTS_CHANNEL,
            [str(r) for r in run_ids],
        )


# The suffix of a notification that only says "new events" (a node started, a node
# streamed): streams read them; ``wait`` and ``join`` need not look at the run's status.
EVENTS_ONLY = " events"


async def admit(
    conn: asyncpg.Connection, new: NewRun, *, holder_waiting_ok: bool = True
) -> Admission:
    """Record ``new`` and decide its fate on its thread (inside the caller's transaction).

    Raises :class:`LookupError` for an unknown thread, :class:`ThreadBusy` for multitask
    ``reject`` on a busy thread, :class:`NotWaiting` for a resume with nothing to answer.
    """
    if new.idempotency_key is not None:
        found = await conn.fetchrow(
            f"SELECT {_RUN_COLUMNS}, tenant_id FROM runs WHERE idempotency_key = $1",
            new.idempotency_key,
        )
        if found is not None:
            earlier = dict(found)
            if new.tenant_id is not None and earlier.pop("tenant_id") != new.tenant_id:
                raise LookupError(new.thread_id)  # another tenant's key: not theirs to see
            earlier.pop("tenant_id", None)
            return Admission(run_json(earlier), created=False)
    thread = await conn.fetchrow(
        "SELECT run_workflow_id, waiting, tenant_id FROM threads WHERE thread_id = $1 FOR UPDATE",
        new.thread_id,
    )
    if thread is None or (new.tenant_id is not None and thread["tenant_id"] != new.tenant_id):
        raise LookupError(new.thread_id)
    if new.tenant_id is not None and new.tenant_max_runs:
        # One admission at a time per tenant, so concurrent requests cannot all slip in.
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('tempograph-tenant:' || $1))", new.tenant_id
        )
        if await tenant_in_flight(conn, new.tenant_id) >= new.tenant_max_runs:
            raise QuotaExceeded(new.tenant_max_runs)
    queued = await runs_in_flight(conn, new.thread_id)
    holder: str | None = thread["run_workflow_id"]
    if new.multitask_strategy == "reject" and queued:
        raise ThreadBusy(new.thread_id, holder)
    decision = Admission(run={})
    workflow_id = str(new.run_id)
    if holder is None:
        if new.resume and not thread["waiting"]:
            raise NotWaiting(new.thread_id)
        decision.start = True
    elif new.resume and not queued:
        decision.resume_holder = workflow_id = holder
    elif not queued:
        # The holder waits at an interrupt: a new input supersedes it (it ends, and the
        # new run starts from the thread's checkpoints), as LangGraph starts anew.
        decision.cancel = (holder, CancelReason.SUPERSEDE)
    elif new.multitask_strategy in ("interrupt", "rollback"):
        # The running segment stops (a resume too: it then starts from the thread's
        # checkpoints, as LangGraph Server runs it); the queued runs are dropped.
        rollback = new.multitask_strategy == "rollback"
        decision.dropped = [r["run_id"] for r in queued if r["status"] == RunStatus.PENDING]
        decision.cancel = (holder, CancelReason.ROLLBACK if rollback else CancelReason.CANCEL)
        if decision.dropped:
            if rollback:
                await conn.execute(
                    "DELETE FROM runs WHERE run_id = ANY($1::uuid[])", decision.dropped
                )
            else:
                await conn.execute(
                    "UPDATE runs SET status = 'interrupted', updated_at = now()"
                    " WHERE run_id = ANY($1::uuid[])",
                    decision.dropped,
                )
            await notify(conn, decision.dropped)
    record = await conn.fetchrow(
        f"INSERT INTO runs (run_id, thread_id, assistant_id, metadata, kwargs,"
        f" multitask_strategy, idempotency_key, workflow_id, request, tenant_id, created_by,"
        f" graph_id, traceparent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        f" RETURNING {_RUN_COLUMNS}",
        new.run_id,
        new.thread_id,
        new.assistant_id,
        json.dumps(new.metadata),
        seal_json_text(json.dumps(new.kwargs)),
        new.multitask_strategy,
        new.idempotency_key,
        workflow_id,
        # Its input is in kwargs already (the same JSON): a 10 MB input is kept once.
        seal(serializer().dumps_typed(replace(new.request, input=None))[1]),
        new.tenant_id or "",
        new.created_by,
        new.request.graph_id,
        new.traceparent,
    )
    # The new run is in flight: the thread is busy (one statement with the holder and the
    # metadata LangGraph Server records on the thread).
    await conn.execute(
        "UPDATE threads SET run_workflow_id = CASE WHEN $3 THEN $2 ELSE run_workflow_id END,"
        " status = $4, metadata = metadata || $5::jsonb, updated_at = now()"
        " WHERE thread_id = $1",
        new.thread_id,
        workflow_id,
        decision.start,
        thread_status(in_flight=True, waiting=False, failed=False).value,
        json.dumps(new.thread_metadata),
    )
    decision.run = run_json(record)
    return decision


async def withdraw(conn: asyncpg.Connection, run_id: UUID, thread_id: UUID) -> None:
    """Undo :func:`admit` for a run the engine refused (inside a transaction)."""
    await conn.execute(
        "UPDATE threads SET run_workflow_id = NULL WHERE thread_id = $1 AND run_workflow_id = $2",
        thread_id,
        str(run_id),
    )
    await conn.execute("DELETE FROM runs WHERE run_id = $1", run_id)
    await settle(conn, thread_id)


def stored_request(stored: bytes, kwargs: str | None = None) -> RunRequest:
    """A run's request as stored (sealed at rest); its input comes from the run's
    ``kwargs`` (JSON text, sealed at rest), where it is stored once (see :func:`admit`)."""
    request: RunRequest = serializer().loads_typed(("msgpack", unsealed(bytes(stored))))
    if kwargs is not None:
        request = replace(request, input=(unseal_json(json.loads(kwargs)) or {}).get("input"))
    return request
