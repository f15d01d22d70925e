"""Writing what runs did: node rows and events, a segment's end, and what happens to the
thread then (the next queued run holds it; Temporal's own ends are settled here too).
Admission and a thread's status are :mod:`tempograph.runs`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg
from langgraph.types import Command
from temporalio.client import WorkflowExecutionStatus

from tempograph.checkpoint_rows import rows_to_params, write_rows
from tempograph.crypto import seal, seal_json_text, seal_text
from tempograph.render import render
from tempograph.runs import (
    _RUN_COLUMNS,
    EVENTS_ONLY,
    IN_FLIGHT,
    notify,
    run_json,
    settle,
    stored_request,
)
from tempograph.workflows.jsonable import RUN_EVENTS_CHANNEL, dumps
from tempograph.workflows.types import (
    CheckpointBatch,
    FinishOutcome,
    ResumeRequest,
    RunEnd,
    RunStatus,
    SegmentEnd,
    StreamEvent,
)
from tempograph.workflows.values import INLINE, EncodedValue, pack


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
      channel, value, task_path, run_id)
    SELECT *, $24::uuid::text FROM unnest($16::text[], $17::text[], $18::text[], $19::text[],
                                    $20::int[], $21::text[], $22::bytea[], $23::text[])
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


def _text(value: EncodedValue | None) -> str | None:
    """``value`` as JSON text when it is inline (small: no parts); None when it has parts
    in the value store, and is then stored as it is encoded and rendered when read."""
    return render(value, {}) if value is not None and value.kind == INLINE else None


async def finish_segment(
    conn: asyncpg.Connection, end: RunEnd
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
        await _record_end(conn, end, thread_id)
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


async def _record_end(conn: asyncpg.Connection, end: RunEnd, thread_id: UUID) -> None:
    assert end.run_id is not None
    run_id = UUID(end.run_id)
    status = SegmentEnd(end.status)  # enums cross payloads as their strings
    if status is SegmentEnd.ROLLBACK:
        await _roll_back(conn, thread_id, [run_id])
    thread_values, output = _text(end.values), _text(end.output)
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
    # The values as JSON text, or (large) by reference: one of the two, when the run
    # left values at all. Not when another run's checkpoints are newer than this run's:
    # an operator reset an older run's last workflow task (its finish runs again, and no
    # node), and the thread's state is still the newer runs'.
    await conn.execute(
        'UPDATE threads SET "values" = CASE WHEN $6 THEN $2::jsonb ELSE "values" END,'
        " values_value = CASE WHEN $6 THEN $7 ELSE values_value END, interrupts = $3::jsonb,"
        " error = $4::jsonb, waiting = $5, updated_at = now(), state_updated_at = now()"
        " WHERE thread_id = $1 AND NOT EXISTS (SELECT 1 FROM checkpoints h"
        " WHERE h.thread_id = $1::text AND h.checkpoint_ns = '' AND h.run_id IS DISTINCT FROM $8"
        " AND h.checkpoint_id > (SELECT max(checkpoint_id) FROM checkpoints"
        " WHERE run_id = $8 AND thread_id = $1::text AND checkpoint_ns = ''))",
        thread_id,
        seal_json_text(thread_values),
        seal_json_text(dumps(end.interrupts)),
        seal_json_text(dumps(error)) if error is not None else None,
        end.waiting,
        end.values is not None,
        seal(pack(end.values)) if end.values is not None and thread_values is None else None,
        end.run_id,
    )


async def _roll_back(conn: asyncpg.Connection, thread_id: UUID, run_ids: Sequence[UUID]) -> None:
    """As LangGraph Server does: a rolled-back run is gone, with its checkpoints and the
    writes it added to earlier ones (a resume's answer and its first task's writes)."""
    ids = [str(r) for r in run_ids]
    await conn.execute(
        "DELETE FROM checkpoint_writes w USING checkpoints c"
        " WHERE c.run_id = ANY($1::text[]) AND w.thread_id = c.thread_id"
        " AND w.checkpoint_ns = c.checkpoint_ns AND w.checkpoint_id = c.checkpoint_id",
        ids,
    )
    await conn.execute(
        "DELETE FROM checkpoint_writes WHERE thread_id = $1 AND run_id = ANY($2::text[])",
        str(thread_id),
        ids,
    )
    await conn.execute("DELETE FROM checkpoints WHERE run_id = ANY($1::text[])", ids)
    await conn.execute("DELETE FROM runs WHERE run_id = ANY($1::uuid[])", list(run_ids))


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
    request = stored_request(record["request"])
    command = request.command
    if not isinstance(command, Command) or command.resume is None:
        return FinishOutcome(release=True)
    await conn.execute(
        "UPDATE runs SET workflow_id = $2 WHERE run_id = $1", record["run_id"], workflow_id
    )
    return FinishOutcome(resume=ResumeRequest.of(command, request.stream))


async def finalize_closed(
    conn: asyncpg.Connection,
    workflow_id: str,
    status: WorkflowExecutionStatus,
    reason: str,
    *,
    rollback: bool = False,
) -> tuple[UUID | None, dict[str, Any] | None]:
    """Temporal closed ``workflow_id`` without its finish activity (terminated, timed out,
    cancelled before it could finish, failed by a limit): its runs end with the reason
    (``rollback``: a rollback asked of it finds it closed, and they go, with their
    checkpoints), and its thread goes to the next queued run. Returns the thread (None:
    none found) and that run, for the caller to start once the thread's values are
    brought up to date (the checkpoints the closed workflow wrote are its newest state)."""
    cancelled = rollback or status == WorkflowExecutionStatus.CANCELED
    thread_id = await conn.fetchval(
        "SELECT thread_id FROM threads WHERE run_workflow_id = $1 FOR UPDATE", workflow_id
    )
    if rollback:
        ended = await conn.fetch(
            "SELECT run_id, thread_id FROM runs WHERE workflow_id = $1"
            " AND status = ANY($2::text[])",
            workflow_id,
            IN_FLIGHT,
        )
        if ended:  # one workflow's runs: one thread's
            await _roll_back(conn, ended[0]["thread_id"], [r["run_id"] for r in ended])
    else:
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
        ending = StreamEvent(
            f"end:{workflow_id}", "error", {"error": "RunEnded", "message": reason}
        )
        for record in ended if not cancelled else ():  # a cancel's stream just ends
            await write_events(conn, str(record["run_id"]), [ending])
        if ended:
            # A segment was running (a resumed one too): the thread no longer waits for
            # the answer it took (the caller reads what is pending from the checkpoints).
            await conn.execute(
                "UPDATE threads SET waiting = false, error = coalesce($2::jsonb, error)"
                " WHERE thread_id = $1",
                thread_id,
                None if cancelled else dumps({"error": "RunEnded", "message": reason}),
            )
        holder = await conn.fetchval(
            "SELECT run_workflow_id FROM threads WHERE thread_id = $1", thread_id
        )
        if holder == workflow_id:
            next_run = await hand_off(conn, thread_id)
        await settle(conn, thread_id)
    await notify(conn, [r["run_id"] for r in ended])
    return thread_id, next_run
