"""Checkpoints on Postgres: LangGraph's checkpointer interface, with values by reference.

:class:`CheckpointStore` is LangGraph's ``BaseCheckpointSaver`` plus the two operations
the engine needs around a run: :meth:`~CheckpointStore.write_batch` (the rows a run made,
written by an activity) and :meth:`~CheckpointStore.load_start` (the rows a run starts
from). :class:`PostgresCheckpointStore` implements it on asyncpg and is what the API uses
for state, history, ``update_state``, forks and copies; LangGraph's own conformance suite
runs against it (``tests/integration/test_checkpoint_store.py``).

The layout follows LangGraph's Postgres saver: one row per checkpoint (without its channel
values), one row per *version* of a channel (so an unchanged channel, such as a long
message list, is not written again at every step) and one row per pending write. A
channel value is an :class:`~tempograph.workflows.values.EncodedValue` whose parts live,
content-addressed, in ``tempograph_values``: a new version of a long list shares all but
its last part with the version before it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from typing import Any, TypeVar

import asyncpg
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)

from tempograph import checkpoint_upkeep as upkeep
from tempograph.checkpoint_rows import (
    CHECKPOINT_COLUMNS,
    load_rows,
    load_start_rows,
    row_of,
    write_rows,
)
from tempograph.valuestore import ValueStore
from tempograph.workflows.jsonable import to_jsonable
from tempograph.workflows.saver import next_version
from tempograph.workflows.serde import serializer
from tempograph.workflows.types import BlobRow, CheckpointBatch, CheckpointRow, WriteRow
from tempograph.workflows.values import (
    EMPTY,
    SHARED,
    PartData,
    PartTable,
    decode,
    empty,
    encode,
)

T = TypeVar("T")


class CheckpointStore(BaseCheckpointSaver[str], ABC):
    """LangGraph's checkpointer, plus writing and loading a run's rows in bulk."""

    @abstractmethod
    async def write_batch(self, batch: CheckpointBatch) -> None:
        """Write the rows of ``batch``; rows already written are left as they are."""

    @abstractmethod
    async def load_start(
        self, thread_id: str, checkpoint_id: str | None = None
    ) -> tuple[CheckpointBatch, PartTable]:
        """What a run needs to continue ``thread_id``: its newest root checkpoint (or
        ``checkpoint_id``), the newest checkpoint of each subgraph namespace that
        stopped after it, their channel values and pending writes; and the parts those
        values name (without their bytes: the codec fetches them where they are read)."""


class PostgresCheckpointStore(CheckpointStore):
    """:class:`CheckpointStore` on an asyncpg pool; parts in ``values``.

    The sync methods run the async ones on the loop the store was created on, from another
    thread (a sync node body); calling them on that loop's own thread raises.
    """

    def __init__(self, pool: asyncpg.Pool, values: ValueStore) -> None:
        super().__init__(serde=serializer())
        self._pool = pool
        self.values = values
        self._draws = 0
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    # -- the engine's bulk operations ------------------------------------------------

    async def write_batch(self, batch: CheckpointBatch) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await write_rows(conn, batch)

    async def load_start(
        self, thread_id: str, checkpoint_id: str | None = None
    ) -> tuple[CheckpointBatch, PartTable]:
        async with self._pool.acquire() as conn:
            return await load_start_rows(conn, thread_id, checkpoint_id)

    # -- reading ---------------------------------------------------------------------

    async def _source(self, batch: CheckpointBatch) -> dict[bytes, bytes]:
        hashes = sorted(batch.part_hashes())
        return await self.values.get_many(hashes) if hashes else {}

    async def _tuples(self, thread_id: str, rows: list[CheckpointRow]) -> list[CheckpointTuple]:
        async with self._pool.acquire() as conn:
            batch = await load_rows(conn, thread_id, rows)
        fetched = await self._source(batch)

        def source(part_hash: bytes) -> PartData:
            return PartData("", fetched[part_hash])

        blobs = {(b.namespace, b.channel, b.version): b.value for b in batch.blobs}
        writes: dict[tuple[str, str], list[WriteRow]] = {}
        for write in batch.writes:
            writes.setdefault((write.namespace, write.checkpoint_id), []).append(write)
        out = []
        for row in rows:
            checkpoint: Checkpoint = self.serde.loads_typed(row.checkpoint)
            values: dict[str, Any] = {}
            for channel, version in checkpoint["channel_versions"].items():
                blob = blobs.get((row.namespace, channel, str(version)))
                if blob is not None and blob.kind != EMPTY:
                    values[channel] = decode(blob, source, SHARED)
            conf = {
                "thread_id": thread_id,
                "checkpoint_ns": row.namespace,
                "checkpoint_id": row.checkpoint_id,
            }
            out.append(
                CheckpointTuple(
                    config={"configurable": conf},
                    checkpoint={**checkpoint, "channel_values": values},
                    metadata=self.serde.loads_typed(row.metadata),
                    parent_config=(
                        {"configurable": {**conf, "checkpoint_id": row.parent_id}}
                        if row.parent_id
                        else None
                    ),
                    pending_writes=[
                        (w.task_id, w.channel, decode(w.value, source, SHARED))
                        for w in writes.get((row.namespace, row.checkpoint_id), [])
                    ],
                )
            )
        return out

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread_id = str(config["configurable"]["thread_id"])
        namespace = config["configurable"].get("checkpoint_ns", "")
        checkpoint_id = get_checkpoint_id(config)
        query = (
            f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE thread_id = $1"
            " AND checkpoint_ns = $2"
        )
        args: list[Any] = [thread_id, namespace]
        if checkpoint_id:
            query += " AND checkpoint_id = $3"
            args.append(checkpoint_id)
        else:
            query += " ORDER BY checkpoint_id DESC LIMIT 1"
        record = await self._pool.fetchrow(query, *args)
        if record is None:
            return None
        (found,) = await self._tuples(thread_id, [row_of(record)])
        return found

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        clauses: list[str] = []
        args: list[Any] = []
        if config is not None:
            args.append(str(config["configurable"]["thread_id"]))
            clauses.append(f"thread_id = ${len(args)}")
            namespace = config["configurable"].get("checkpoint_ns")
            if namespace is not None:
                args.append(namespace)
                clauses.append(f"checkpoint_ns = ${len(args)}")
            if checkpoint_id := get_checkpoint_id(config):
                args.append(checkpoint_id)
                clauses.append(f"checkpoint_id = ${len(args)}")
        if filter:
            args.append(json.dumps(to_jsonable(filter)))
            clauses.append(f"metadata_json @> ${len(args)}::jsonb")
        if before is not None and (before_id := get_checkpoint_id(before)):
            args.append(before_id)
            clauses.append(f"checkpoint_id < ${len(args)}")
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        order = "checkpoint_id DESC" if config is not None else "thread_id, checkpoint_id DESC"
        query = f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints{where} ORDER BY {order}"
        if limit is not None:
            query += f" LIMIT {max(int(limit), 0)}"
        records = await self._pool.fetch(query, *args)
        # Page through, a few at a time, so a long history is not decoded at once.
        for start in range(0, len(records), 20):
            page = records[start : start + 20]
            by_thread: dict[str, list[asyncpg.Record]] = {}
            for record in page:
                by_thread.setdefault(record["thread_id"], []).append(record)
            found: dict[tuple[str, str, str], CheckpointTuple] = {}
            for thread_id, thread_records in by_thread.items():
                for tup in await self._tuples(thread_id, [row_of(r) for r in thread_records]):
                    conf = tup.config["configurable"]
                    found[(thread_id, conf["checkpoint_ns"], conf["checkpoint_id"])] = tup
            for record in page:
                yield found[(record["thread_id"], record["checkpoint_ns"], record["checkpoint_id"])]

    # -- writing ---------------------------------------------------------------------

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        copy = checkpoint.copy()
        values: dict[str, Any] = copy.pop("channel_values")  # type: ignore[misc]
        thread_id = str(config["configurable"]["thread_id"])
        namespace = config["configurable"].get("checkpoint_ns", "")
        table = PartTable()
        batch = CheckpointBatch(thread_id)
        for channel, version in new_versions.items():
            value = encode(values[channel], table, memo=True) if channel in values else empty()
            batch.blobs.append(BlobRow(namespace, channel, str(version), value))
        batch.checkpoints.append(
            CheckpointRow(
                namespace=namespace,
                checkpoint_id=checkpoint["id"],
                parent_id=config["configurable"].get("checkpoint_id"),
                checkpoint=self.serde.dumps_typed(copy),
                metadata=self.serde.dumps_typed(get_checkpoint_metadata(config, metadata)),
            )
        )
        await self._store_parts(table)
        await self.write_batch(batch)
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": namespace,
                "checkpoint_id": checkpoint["id"],
            }
        }

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        thread_id = str(config["configurable"]["thread_id"])
        namespace = config["configurable"].get("checkpoint_ns", "")
        checkpoint_id = config["configurable"]["checkpoint_id"]
        table = PartTable()
        batch = CheckpointBatch(thread_id)
        for index, (channel, value) in enumerate(writes):
            batch.writes.append(
                WriteRow(
                    namespace,
                    checkpoint_id,
                    task_id,
                    WRITES_IDX_MAP.get(channel, index),
                    channel,
                    encode(value, table, memo=True),
                    task_path,
                )
            )
        await self._store_parts(table)
        await self.write_batch(batch)

    async def _store_parts(self, table: PartTable) -> None:
        data = {h: p.data for h, p in table.parts.items() if p.data is not None}
        if data:
            await self.values.put_many(data)

    async def adelete_thread(self, thread_id: str) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await upkeep.delete_thread(conn, str(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints the given runs wrote, and their pending writes (a
        rollback). Channel versions they wrote stay; nothing names them any more."""
        if not run_ids:
            return
        async with self._pool.acquire() as conn, conn.transaction():
            await upkeep.delete_for_runs(conn, [str(r) for r in run_ids])

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Every checkpoint, version and write of one thread under another id; the values
        are shared (content-addressed), so nothing large is copied."""
        async with self._pool.acquire() as conn, conn.transaction():
            await upkeep.copy_thread(conn, str(source_thread_id), str(target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """``keep_latest``: each namespace keeps its newest checkpoint (with its writes and
        channel versions); ``delete``: everything goes."""
        ids = [str(t) for t in thread_ids]
        if not ids:
            return
        if strategy == "delete":
            for thread_id in ids:
                await self.adelete_thread(thread_id)
            return
        if strategy != "keep_latest":
            raise ValueError(f"unknown prune strategy {strategy!r}")
        async with self._pool.acquire() as conn, conn.transaction():
            await upkeep.keep_latest(conn, ids)

    def get_next_version(self, current: str | None, channel: None) -> str:
        import random

        # Outside workflow code: a random suffix keeps two writers' versions apart.
        self._draws += 1
        return next_version(current, random.random())

    # -- sync variants (sync node bodies, LangGraph's sync graph methods) ------------

    def _sync(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        if loop is None or getattr(loop, "_thread_id", None) == threading.get_ident():
            coro.close()
            raise RuntimeError(
                "PostgresCheckpointStore's sync methods run only from another thread than its"
                " event loop's; use the async methods there"
            )
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._sync(self.aget_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        async def collect() -> list[CheckpointTuple]:
            return [t async for t in self.alist(config, filter=filter, before=before, limit=limit)]

        yield from self._sync(collect())

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._sync(self.aput(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._sync(self.aput_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._sync(self.adelete_thread(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._sync(self.adelete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._sync(self.acopy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._sync(self.aprune(thread_ids, strategy=strategy))


__all__ = ["CheckpointStore", "PostgresCheckpointStore", "load_start_rows", "write_rows"]
