"""Checkpoint rows in Postgres: what one superstep writes (a checkpoint without its
channel values, a row per new channel *version*, a row per pending write) and the rows a
run starts from. The SQL beside :class:`tempograph.checkpoints.PostgresCheckpointStore`,
shared with the activities that write a run's rows (:mod:`tempograph.run_ends`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from tempograph.crypto import seal, unsealed
from tempograph.workflows.jsonable import to_jsonable
from tempograph.workflows.serde import serializer
from tempograph.workflows.types import BlobRow, CheckpointBatch, CheckpointRow, WriteRow
from tempograph.workflows.values import (
    PartTable,
    pack,
    unpack,
)

CHECKPOINT_COLUMNS = (
    "thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint_type,"
    " checkpoint, metadata_type, metadata"
)


def rows_to_params(batch: CheckpointBatch) -> tuple[list[Any], list[Any], list[Any]]:
    """The batch's rows as SQL parameters, one row per key as the inserts would leave
    them one after another: the first checkpoint and blob of a key, the first write of a
    task's index, the last of a special (negative) index (those overwrite)."""
    serde = serializer()
    checkpoints = []
    for row in batch.checkpoints:
        metadata = serde.loads_typed(row.metadata)
        run_id = metadata.get("run_id") if isinstance(metadata, dict) else None
        checkpoints.append(
            (
                batch.thread_id,
                row.namespace,
                row.checkpoint_id,
                row.parent_id,
                str(run_id) if run_id is not None else batch.run_id,
                row.checkpoint[0],
                seal(row.checkpoint[1]),
                row.metadata[0],
                seal(row.metadata[1]),
                json.dumps(to_jsonable(metadata)),
            )
        )
    blobs = [
        (batch.thread_id, b.namespace, b.channel, b.version, seal(pack(b.value)))
        for b in batch.blobs
    ]
    writes = [
        (
            batch.thread_id,
            w.namespace,
            w.checkpoint_id,
            w.task_id,
            w.index,
            w.channel,
            seal(pack(w.value)),
            w.task_path,
        )
        for w in batch.writes
    ]
    return _first(checkpoints, 3), _first(blobs, 4), _first(writes, 5)


def _first(rows: list[tuple[Any, ...]], width: int) -> list[tuple[Any, ...]]:
    """``rows`` keeping the first of each key (the first ``width`` columns); a write with
    a negative index (column 4) keeps the last instead."""
    kept: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for row in rows:
        key = row[:width]
        if key not in kept or (width == 5 and row[4] < 0):
            kept[key] = row
    return list(kept.values()) if len(kept) < len(rows) else rows


async def write_rows(conn: asyncpg.Connection, batch: CheckpointBatch) -> None:
    """Write ``batch``'s rows on ``conn`` (inside the caller's transaction). The parts its
    values name must be stored already (the codec stored them on the way here)."""
    checkpoints, blobs, writes = rows_to_params(batch)
    if checkpoints:
        await conn.executemany(
            "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id,"
            " parent_checkpoint_id, run_id, checkpoint_type, checkpoint, metadata_type, metadata,"
            " metadata_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)"
            " ON CONFLICT DO NOTHING",
            checkpoints,
        )
    if blobs:
        await conn.executemany(
            "INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, value)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            blobs,
        )
    if writes:
        # Special writes (negative index: error, interrupt, resume) replace; others stay.
        await conn.executemany(
            "INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id,"
            " idx, channel, value, task_path) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            " ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO UPDATE"
            " SET channel = excluded.channel, value = excluded.value,"
            " task_path = excluded.task_path WHERE checkpoint_writes.idx < 0",
            writes,
        )


def row_of(record: asyncpg.Record) -> CheckpointRow:
    return CheckpointRow(
        namespace=record["checkpoint_ns"],
        checkpoint_id=record["checkpoint_id"],
        parent_id=record["parent_checkpoint_id"],
        checkpoint=(record["checkpoint_type"], unsealed(bytes(record["checkpoint"]))),
        metadata=(record["metadata_type"], unsealed(bytes(record["metadata"]))),
    )


def channel_versions(row: CheckpointRow) -> list[tuple[str, str, str]]:
    """(namespace, channel, version) of every channel value the checkpoint names."""
    versions = serializer().loads_typed(row.checkpoint)["channel_versions"]
    return [(row.namespace, channel, str(v)) for channel, v in versions.items()]


async def load_rows(
    conn: asyncpg.Connection, thread_id: str, rows: Sequence[CheckpointRow]
) -> CheckpointBatch:
    """``rows`` with their channel values (the versions each names) and pending writes."""
    wanted = [version for row in rows for version in channel_versions(row)]
    batch = CheckpointBatch(thread_id, checkpoints=list(rows))
    if wanted:
        for record in await conn.fetch(
            "SELECT b.checkpoint_ns, b.channel, b.version, b.value FROM checkpoint_blobs b"
            " JOIN unnest($2::text[], $3::text[], $4::text[]) AS w(ns, channel, version)"
            " ON b.checkpoint_ns = w.ns AND b.channel = w.channel AND b.version = w.version"
            " WHERE b.thread_id = $1",
            thread_id,
            [w[0] for w in wanted],
            [w[1] for w in wanted],
            [w[2] for w in wanted],
        ):
            batch.blobs.append(
                BlobRow(
                    record["checkpoint_ns"],
                    record["channel"],
                    record["version"],
                    unpack(unsealed(bytes(record["value"]))),
                )
            )
    if rows:
        for record in await conn.fetch(
            "SELECT w.checkpoint_ns, w.checkpoint_id, w.task_id, w.idx, w.channel, w.value,"
            " w.task_path FROM checkpoint_writes w"
            " JOIN unnest($2::text[], $3::text[]) AS c(ns, id)"
            " ON w.checkpoint_ns = c.ns AND w.checkpoint_id = c.id"
            " WHERE w.thread_id = $1 ORDER BY w.task_path, w.task_id, w.idx",
            thread_id,
            [r.namespace for r in rows],
            [r.checkpoint_id for r in rows],
        ):
            batch.writes.append(
                WriteRow(
                    record["checkpoint_ns"],
                    record["checkpoint_id"],
                    record["task_id"],
                    record["idx"],
                    record["channel"],
                    unpack(unsealed(bytes(record["value"]))),
                    record["task_path"],
                )
            )
    return batch


async def load_start_rows(
    conn: asyncpg.Connection, thread_id: str, checkpoint_id: str | None = None
) -> tuple[CheckpointBatch, PartTable]:
    """See :meth:`CheckpointStore.load_start`."""
    if checkpoint_id is None:
        root = await conn.fetchrow(
            f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE thread_id = $1"
            " AND checkpoint_ns = '' ORDER BY checkpoint_id DESC LIMIT 1",
            thread_id,
        )
    else:
        root = await conn.fetchrow(
            f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE thread_id = $1"
            " AND checkpoint_ns = '' AND checkpoint_id = $2",
            thread_id,
            checkpoint_id,
        )
    if root is None:
        return CheckpointBatch(thread_id), PartTable()
    # Subgraphs that stopped midway (an interrupt inside one) keep their own checkpoints.
    nested = await conn.fetch(
        f"SELECT DISTINCT ON (checkpoint_ns) {CHECKPOINT_COLUMNS} FROM checkpoints"
        " WHERE thread_id = $1 AND checkpoint_ns <> '' AND checkpoint_id > $2"
        " ORDER BY checkpoint_ns, checkpoint_id DESC",
        thread_id,
        root["checkpoint_id"],
    )
    batch = await load_rows(conn, thread_id, [row_of(root), *map(row_of, nested)])
    table = PartTable()
    for part_hash in sorted(batch.part_hashes()):
        table.add(part_hash, "", None, needed=True)
    return batch, table
