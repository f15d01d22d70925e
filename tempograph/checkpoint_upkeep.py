"""Whole-thread work on the checkpoint tables, each inside the caller's transaction:
delete a thread, roll back runs, copy a thread, keep each namespace's newest checkpoint
(:class:`tempograph.checkpoints.PostgresCheckpointStore`)."""

from __future__ import annotations

import asyncpg

from tempograph.checkpoint_rows import channel_versions, row_of


async def delete_thread(conn: asyncpg.Connection, thread_id: str) -> None:
    for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
        await conn.execute(f"DELETE FROM {table} WHERE thread_id = $1", thread_id)


async def delete_for_runs(conn: asyncpg.Connection, run_ids: list[str]) -> None:
    """The checkpoints ``run_ids`` wrote and their pending writes."""
    await conn.execute(
        "DELETE FROM checkpoint_writes w USING checkpoints c"
        " WHERE c.run_id = ANY($1::text[]) AND w.thread_id = c.thread_id"
        " AND w.checkpoint_ns = c.checkpoint_ns AND w.checkpoint_id = c.checkpoint_id",
        run_ids,
    )
    await conn.execute("DELETE FROM checkpoints WHERE run_id = ANY($1::text[])", run_ids)


async def copy_thread(conn: asyncpg.Connection, source: str, target: str) -> None:
    await conn.execute(
        "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id,"
        " parent_checkpoint_id, run_id, checkpoint_type, checkpoint, metadata_type,"
        " metadata, metadata_json) SELECT $2, checkpoint_ns, checkpoint_id,"
        " parent_checkpoint_id, run_id, checkpoint_type, checkpoint, metadata_type,"
        " metadata, metadata_json FROM checkpoints WHERE thread_id = $1"
        " ON CONFLICT DO NOTHING",
        source,
        target,
    )
    await conn.execute(
        "INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, value)"
        " SELECT $2, checkpoint_ns, channel, version, value FROM checkpoint_blobs"
        " WHERE thread_id = $1 ON CONFLICT DO NOTHING",
        source,
        target,
    )
    await conn.execute(
        "INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id,"
        " idx, channel, value, task_path) SELECT $2, checkpoint_ns, checkpoint_id,"
        " task_id, idx, channel, value, task_path FROM checkpoint_writes"
        " WHERE thread_id = $1 ON CONFLICT DO NOTHING",
        source,
        target,
    )


async def keep_latest(conn: asyncpg.Connection, ids: list[str]) -> None:
    """Each namespace of each thread keeps its newest checkpoint, with its pending writes
    and the channel versions it names; everything older goes."""
    await conn.execute(
        "CREATE TEMP TABLE keep ON COMMIT DROP AS SELECT DISTINCT ON (thread_id,"
        " checkpoint_ns) * FROM checkpoints WHERE thread_id = ANY($1::text[])"
        " ORDER BY thread_id, checkpoint_ns, checkpoint_id DESC",
        ids,
    )
    await conn.execute(
        "DELETE FROM checkpoint_writes w WHERE w.thread_id = ANY($1::text[])"
        " AND NOT EXISTS (SELECT 1 FROM keep k WHERE k.thread_id = w.thread_id"
        " AND k.checkpoint_ns = w.checkpoint_ns AND k.checkpoint_id = w.checkpoint_id)",
        ids,
    )
    await conn.execute(
        "DELETE FROM checkpoints c WHERE c.thread_id = ANY($1::text[])"
        " AND NOT EXISTS (SELECT 1 FROM keep k WHERE k.thread_id = c.thread_id"
        " AND k.checkpoint_ns = c.checkpoint_ns AND k.checkpoint_id = c.checkpoint_id)",
        ids,
    )
    versions = [
        (record["thread_id"], *version)
        for record in await conn.fetch("SELECT * FROM keep")
        for version in channel_versions(row_of(record))
    ]
    await conn.execute(
        "DELETE FROM checkpoint_blobs b WHERE b.thread_id = ANY($1::text[])"
        " AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[], $4::text[],"
        " $5::text[]) AS v(t, ns, channel, version) WHERE v.t = b.thread_id"
        " AND v.ns = b.checkpoint_ns AND v.channel = b.channel"
        " AND v.version = b.version)",
        ids,
        *([v[i] for v in versions] for i in range(4)),
    )
