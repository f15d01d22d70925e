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
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
from langgraph.types import Command, Send
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from tempograph.checkpoints import load_start_rows, rows_to_params, write_rows
from tempograph.crypto import seal, seal_json_text, seal_text, unseal_json, unsealed
from tempograph.render import needed_parts, render
from tempograph.valuestore import ValueStore
from tempograph.workflows.jsonable import RUN_EVENTS_CHANNEL, dumps
from tempograph.workflows.serde import serializer
from tempograph.workflows.types import (
    ASSISTANT_ID,
    GRAPH_ID,
    RUN_WORKFLOW,
    THREAD_ID,
    CancelReason,
    CheckpointBatch,
    FinishOutcome,
    ResumeRequest,
    RunEnd,
    RunInput,
    RunRequest,
    RunStatus,
    SegmentEnd,
    StreamEvent,
    StreamSpec,
    ThreadStatus,
    thread_status,
)
from tempograph.workflows.values import INLINE, PartData, PartTable, pack

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
    """The thread has a run in flight (multitask_strategy ``reject``)."""


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


async def _in_flight(conn: asyncpg.Connection, thread_id: UUID) -> list[asyncpg.Record]:
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
    queued = await _in_flight(conn, new.thread_id)
    holder: str | None = thread["run_workflow_id"]
    if new.multitask_strategy == "reject" and queued:
        raise ThreadBusy(new.thread_id)
    decision = Admission(run={})
    workflow_id = str(new.run_id)
    if new.resume:
        if holder is not None and not queued:
            decision.resume_holder = workflow_id = holder
        elif holder is None:
            if not thread["waiting"]:
                raise NotWaiting(new.thread_id)
            decision.start = True
    elif holder is None:
        decision.start = True
    elif not queued:
        # The holder waits at an interrupt: a new input supersedes it (it ends, and the
        # new run starts from the thread's checkpoints), as LangGraph starts anew.
        decision.cancel = (holder, CancelReason.SUPERSEDE)
    elif new.multitask_strategy in ("interrupt", "rollback"):
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
        f" multitask_strategy, idempotency_key, workflow_id, request, tenant_id, created_by)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {_RUN_COLUMNS}",
        new.run_id,
        new.thread_id,
        new.assistant_id,
        json.dumps(new.metadata),
        seal_json_text(json.dumps(new.kwargs)),
        new.multitask_strategy,
        new.idempotency_key,
        workflow_id,
        seal(serializer().dumps_typed(new.request)[1]),
        new.tenant_id or "",
        new.created_by,
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


# -- writing what runs did --------------------------------------------------------------


async def write_events(
    conn: asyncpg.Connection, run_id: str, events: Sequence[StreamEvent]
) -> bool:
    """Append ``events`` to the run's log (inside the caller's transaction); False if the
    run is gone. Numbers are taken in the same transaction as the insert, so they commit
    in order; a key written before is skipped."""
    if not events:
        return await conn.fetchval("SELECT true FROM runs WHERE run_id = $1", UUID(run_id)) or False
    last = await conn.fetchval(
        "UPDATE runs SET event_seq = event_seq + $2, updated_at = now() WHERE run_id = $1"
        " RETURNING event_seq",
        UUID(run_id),
        len(events),
    )
    if last is None:
        return False
    first = last - len(events) + 1
    await conn.executemany(
        "INSERT INTO run_events (run_id, seq, key, event, data, value)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (run_id, key) DO NOTHING",
        [
            (
                UUID(run_id),
                first + i,
                e.key,
                e.event,
                seal_text(dumps(e.data)) if e.value is None else None,
                seal(pack(e.value)) if e.value is not None else None,
            )
            for i, e in enumerate(events)
        ],
    )
    await conn.execute("SELECT pg_notify($1, $2)", RUN_EVENTS_CHANNEL, run_id + EVENTS_ONLY)
    return True


_RECORD_NODE = """
WITH
  cp AS (
    INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id,
      run_id, checkpoint_type, checkpoint, metadata_type, metadata, metadata_json)
    SELECT t, ns, id, parent, run, ct, c, mt, m, mj::jsonb
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::bytea[], $8::text[], $9::bytea[], $10::text[])
      AS x(t, ns, id, parent, run, ct, c, mt, m, mj)
    ON CONFLICT DO NOTHING),
  bl AS (
    INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, value)
    SELECT * FROM unnest($11::text[], $12::text[], $13::text[], $14::text[], $15::bytea[])
    ON CONFLICT DO NOTHING),
  wr AS (
    INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx,
      channel, value, task_path)
    SELECT * FROM unnest($16::text[], $17::text[], $18::text[], $19::text[], $20::int[],
                         $21::text[], $22::bytea[], $23::text[])
    ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO UPDATE
      SET channel = excluded.channel, value = excluded.value, task_path = excluded.task_path
      WHERE checkpoint_writes.idx < 0),
  before AS (SELECT status, execution_id, thread_id FROM runs WHERE run_id = $24),
  run AS (
    UPDATE runs SET event_seq = event_seq + $25, updated_at = now(), execution_id = $26,
      status = CASE WHEN status = 'pending'
                      OR (execution_id IS NOT NULL AND execution_id <> $26)
                    THEN 'running' ELSE status END
    WHERE run_id = $24 RETURNING event_seq),
  ev AS (
    INSERT INTO run_events (run_id, seq, key, event, data, value)
    SELECT $24, run.event_seq - $25 + e.ord, e.key, e.event, e.data, e.value
    FROM run, unnest($27::text[], $28::text[], $29::text[], $30::bytea[])
      WITH ORDINALITY AS e(key, event, data, value, ord)
    ON CONFLICT (run_id, key) DO NOTHING)
SELECT b.thread_id,
       b.execution_id IS NOT NULL AND b.execution_id <> $26 AS reopened,
       pg_notify($31, $24::text || $32)
FROM before b
"""


async def record_node(
    conn: asyncpg.Connection,
    batch: CheckpointBatch | None,
    run_id: str | None,
    events: Sequence[StreamEvent],
    workflow_id: str,
    execution: str,
    *,
    ending: bool = False,
) -> None:
    """What a node activity writes before its node runs, in one statement (one round
    trip): the run's new checkpoint rows, the run claimed by this execution (pending
    becomes running; a finished run runs again under a new execution, an operator's
    reset), and its pending events. The finish activity writes the same with ``ending``
    (its notification then tells ``wait`` to look at the run's status)."""
    checkpoints, blobs, writes = _rows(batch)
    if run_id is None:
        if batch is not None:
            await write_rows(conn, batch)
        return
    record = await conn.fetchrow(
        _RECORD_NODE,
        *_columns(checkpoints, 10),
        *_columns(blobs, 5),
        *_columns(writes, 8),
        UUID(run_id),
        len(events),
        execution,
        [e.key for e in events],
        [e.event for e in events],
        [seal_text(dumps(e.data)) if e.value is None else None for e in events],
        [seal(pack(e.value)) if e.value is not None else None for e in events],
        RUN_EVENTS_CHANNEL,
        "" if ending else EVENTS_ONLY,
    )
    if record is not None and record["reopened"]:
        await _reopened(conn, record["thread_id"], workflow_id)


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as parallel arrays (one per column), for ``unnest``."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


def _rows(batch: CheckpointBatch | None) -> tuple[list[Any], list[Any], list[Any]]:
    if batch is None:
        return [], [], []
    return rows_to_params(batch)


async def _reopened(conn: asyncpg.Connection, thread_id: UUID, workflow_id: str) -> None:
    await conn.execute(
        "UPDATE threads SET run_workflow_id = coalesce(run_workflow_id, $2) WHERE thread_id = $1",
        thread_id,
        workflow_id,
    )
    await settle(conn, thread_id)


async def _render_end(end: RunEnd, values: ValueStore) -> tuple[str | None, str | None]:
    """The thread's values and the run's output as JSON text; the output is None when it
    is large (then it is stored as an encoded value and rendered when read)."""

    def text(value: Any, parts: dict[bytes, bytes]) -> str:
        return render(value, parts)

    wanted = [v for v in (end.values, end.output) if v is not None]
    missing = needed_parts(wanted)
    parts: dict[bytes, bytes] = {}
    local = {h: p.data for h, p in end.parts.parts.items() if p.data is not None}
    remote = [h for h in missing if h not in local]
    parts = {**{h: local[h] for h in missing if h in local}}
    if remote:
        parts.update(await values.get_many(remote))
    thread_values = text(end.values, parts) if end.values is not None else None
    output = None
    if end.output is not None and end.output.kind == INLINE:
        output = text(end.output, parts)
    return thread_values, output


async def finish_segment(
    conn: asyncpg.Connection, end: RunEnd, values: ValueStore
) -> tuple[FinishOutcome, dict[str, Any] | None]:
    """Record a segment's end (inside the caller's transaction).

    Returns what the waiting run should do next and, when the workflow ends and gives the
    thread to a queued run, that run (to start)."""
    thread_id = UUID(end.thread_id)
    thread = await conn.fetchrow(
        "SELECT run_workflow_id FROM threads WHERE thread_id = $1 FOR UPDATE", thread_id
    )
    if thread is None:
        return FinishOutcome(), None  # the thread was deleted meanwhile
    # Rows, claim, events and the notification (delivered at commit) in one statement.
    await record_node(
        conn, end.persist, end.run_id, end.events, end.workflow_id, end.execution, ending=True
    )
    if end.run_id is not None:
        await _record_end(conn, end, values, thread_id)
    outcome = FinishOutcome()
    next_run = None
    holds = thread["run_workflow_id"] == end.workflow_id
    if end.final and holds:
        next_run = await hand_off(conn, thread_id)
    elif end.final and thread["run_workflow_id"] is not None:
        # A retry after the hand-off committed but its start failed: start it again.
        next_run = await unstarted_holder(conn, thread_id)
    elif not end.final and holds:
        outcome = await _queued_for_waiting(conn, thread_id, end.workflow_id)
    await settle(conn, thread_id)
    return outcome, next_run


async def _record_end(
    conn: asyncpg.Connection, end: RunEnd, values: ValueStore, thread_id: UUID
) -> None:
    assert end.run_id is not None
    run_id = UUID(end.run_id)
    status = SegmentEnd(end.status)  # enums cross payloads as their strings
    if status is SegmentEnd.ROLLBACK:
        # As LangGraph Server does: a rolled-back run is gone, with its checkpoints.
        await conn.execute(
            "DELETE FROM checkpoint_writes w USING checkpoints c"
            " WHERE c.run_id = $1 AND w.thread_id = c.thread_id"
            " AND w.checkpoint_ns = c.checkpoint_ns AND w.checkpoint_id = c.checkpoint_id",
            end.run_id,
        )
        await conn.execute("DELETE FROM checkpoints WHERE run_id = $1", end.run_id)
        await conn.execute("DELETE FROM runs WHERE run_id = $1", run_id)
    thread_values, output = await _render_end(end, values)
    await conn.execute(
        "UPDATE runs SET status = $2, output = $3::jsonb, output_value = $4, updated_at = now()"
        " WHERE run_id = $1 AND (execution_id IS NULL OR execution_id = $5)",
        run_id,
        status.value,
        seal_json_text(output),
        seal(pack(end.output)) if end.output is not None and output is None else None,
        end.execution,
    )
    error = None
    if end.error is not None:
        error = {"error": end.error.get("type", "Error"), "message": end.error["message"]}
        if end.error.get("node"):
            error["node"] = end.error["node"]
    await conn.execute(
        'UPDATE threads SET "values" = coalesce($2::jsonb, "values"), interrupts = $3::jsonb,'
        " error = $4::jsonb, waiting = $5, updated_at = now(), state_updated_at = now()"
        " WHERE thread_id = $1",
        thread_id,
        seal_json_text(thread_values),
        seal_json_text(dumps(end.interrupts)),
        seal_json_text(dumps(error)) if error is not None else None,
        end.waiting,
    )


async def hand_off(conn: asyncpg.Connection, thread_id: UUID) -> dict[str, Any] | None:
    """The holder's workflow ended: the oldest queued run holds the thread now."""
    record = await conn.fetchrow(
        f"SELECT {_RUN_COLUMNS} FROM runs WHERE thread_id = $1 AND status = 'pending'"
        " ORDER BY created_at, run_id LIMIT 1",
        thread_id,
    )
    workflow_id = str(record["run_id"]) if record is not None else None
    if record is not None:
        await conn.execute(
            "UPDATE runs SET workflow_id = $2 WHERE run_id = $1", record["run_id"], workflow_id
        )
    await conn.execute(
        "UPDATE threads SET run_workflow_id = $2 WHERE thread_id = $1", thread_id, workflow_id
    )
    return run_json(record) if record is not None else None


async def unstarted_holder(conn: asyncpg.Connection, thread_id: UUID) -> dict[str, Any] | None:
    """The run holding the thread if its workflow may not have started yet."""
    record = await conn.fetchrow(
        f"SELECT {_RUN_COLUMNS} FROM runs WHERE thread_id = $1 AND status = 'pending'"
        " AND workflow_id = run_id::text AND workflow_id ="
        " (SELECT run_workflow_id FROM threads WHERE thread_id = $1)",
        thread_id,
    )
    return run_json(record) if record is not None else None


async def _queued_for_waiting(
    conn: asyncpg.Connection, thread_id: UUID, workflow_id: str
) -> FinishOutcome:
    """A run stopped at an interrupt while others queued: the first queued one is a
    resume (answer it now) or a new input (the waiting run gives the thread up)."""
    record = await conn.fetchrow(
        "SELECT run_id, request FROM runs WHERE thread_id = $1 AND status = 'pending'"
        " ORDER BY created_at, run_id LIMIT 1",
        thread_id,
    )
    if record is None:
        return FinishOutcome()
    request = _request(record["request"])
    command = request.command
    if not isinstance(command, Command) or command.resume is None:
        return FinishOutcome(release=True)
    await conn.execute(
        "UPDATE runs SET workflow_id = $2 WHERE run_id = $1", record["run_id"], workflow_id
    )
    return FinishOutcome(resume=ResumeRequest(value=command.resume, stream=request.stream))


def _request(stored: bytes) -> RunRequest:
    request: RunRequest = serializer().loads_typed(("msgpack", unsealed(bytes(stored))))
    return request


async def finalize_closed(
    conn: asyncpg.Connection, workflow_id: str, status: WorkflowExecutionStatus, reason: str
) -> tuple[list[str], dict[str, Any] | None]:
    """Temporal closed ``workflow_id`` without its finish activity (terminated, timed out,
    cancelled before it could finish, failed by a limit): its runs end with the reason,
    and its thread goes to the next queued run. Returns the runs ended and that run."""
    cancelled = status == WorkflowExecutionStatus.CANCELED
    thread_id = await conn.fetchval(
        "SELECT thread_id FROM threads WHERE run_workflow_id = $1 FOR UPDATE", workflow_id
    )
    ended = await conn.fetch(
        "UPDATE runs SET status = $2, output = $3::jsonb, updated_at = now()"
        " WHERE workflow_id = $1 AND status = ANY($4::text[]) RETURNING run_id, thread_id",
        workflow_id,
        RunStatus.INTERRUPTED.value if cancelled else RunStatus.ERROR.value,
        None
        if cancelled
        else seal_json_text(dumps({"__error__": {"error": "RunEnded", "message": reason}})),
        IN_FLIGHT,
    )
    thread_id = thread_id or (ended[0]["thread_id"] if ended else None)
    next_run = None
    if thread_id is not None:
        for record in ended:
            await write_events(
                conn,
                str(record["run_id"]),
                [
                    StreamEvent(
                        f"end:{workflow_id}", "error", {"error": "RunEnded", "message": reason}
                    )
                ]
                if not cancelled
                else [],
            )
        if ended and not cancelled:
            await conn.execute(
                "UPDATE threads SET error = $2::jsonb WHERE thread_id = $1",
                thread_id,
                dumps({"error": "RunEnded", "message": reason}),
            )
        holder = await conn.fetchval(
            "SELECT run_workflow_id FROM threads WHERE thread_id = $1", thread_id
        )
        if holder == workflow_id:
            next_run = await hand_off(conn, thread_id)
        await settle(conn, thread_id)
    await notify(conn, [r["run_id"] for r in ended])
    return [str(r["run_id"]) for r in ended], next_run


# -- starting runs on Temporal ------------------------------------------------------------


def stream_spec(run_id: str, kwargs: dict[str, Any]) -> StreamSpec:
    modes = kwargs.get("stream_mode") or ["values"]
    return StreamSpec(
        run_id=run_id,
        modes=[modes] if isinstance(modes, str) else list(modes),
        subgraphs=bool(kwargs.get("subgraphs")),
        webhook=kwargs.get("webhook"),
    )


def command_from(body: dict[str, Any] | None) -> Command[Any] | None:
    """A stored ``command`` ({resume, update, goto}) as LangGraph's ``Command``."""
    if not body:
        return None
    if body.get("resume") is not None:
        return Command(resume=body["resume"])
    goto = body.get("goto")
    targets = goto if isinstance(goto, list) else ([goto] if goto is not None else [])
    sends: list[Any] = [
        Send(t["node"], t.get("input")) if isinstance(t, dict) else t for t in targets
    ]
    update: Any = body.get("update")
    if isinstance(update, list):
        update = [tuple(pair) for pair in update]
    if update is None and not sends:
        return None
    return Command(update=update, goto=sends)


class RunStarter:
    """Starts a stored run's RunWorkflow: the thread's checkpoints, then the workflow."""

    def __init__(self, client: Client, pool: asyncpg.Pool, task_queue: str) -> None:
        self._client = client
        self._pool = pool
        self._task_queue = task_queue

    async def start(self, run: dict[str, Any], request: RunRequest | None = None) -> None:
        """Start ``run`` (idempotent: a workflow with its id that exists already wins).
        ``request`` is the run's stored request, when the caller has it at hand."""
        async with self._pool.acquire() as conn:
            if request is None:
                stored = await conn.fetchval(
                    "SELECT request FROM runs WHERE run_id = $1", UUID(run["run_id"])
                )
                if stored is None:
                    return  # deleted meanwhile (its thread too, or a rollback)
                request = _request(stored)
            fork = (request.config.get("configurable") or {}).get("checkpoint_id")
            start, parts = await load_start_rows(conn, run["thread_id"], fork)
        attributes = [
            SearchAttributePair(THREAD_ID, run["thread_id"]),
            SearchAttributePair(GRAPH_ID, request.graph_id),
        ]
        if request.assistant_id:
            attributes.append(SearchAttributePair(ASSISTANT_ID, request.assistant_id))
        try:
            await self._client.start_workflow(
                RUN_WORKFLOW,
                RunInput(run["thread_id"], run["run_id"], request, start, parts),
                id=run["run_id"],
                task_queue=self._task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                # Handed to a worker of this client in the start's reply, if this process
                # runs one for the queue with a free slot (else an ordinary start).
                request_eager_start=True,
                search_attributes=TypedSearchAttributes(attributes),
                static_summary=f"{request.graph_id} on thread {run['thread_id']}",
            )
        except WorkflowAlreadyStartedError:
            pass


def part_data(parts: dict[bytes, bytes]) -> PartTable:
    return PartTable({h: PartData("", d) for h, d in parts.items()})
