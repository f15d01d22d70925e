"""The checkpointer LangGraph's loop uses inside a RunWorkflow: memory only, deterministic.

It starts from the thread's checkpoints the run needs (loaded from Postgres by whoever
started the run) and keeps what the run adds as rows whose channel values are
:class:`~tempograph.workflows.values.EncodedValue` parts. Workflow code never writes to
Postgres: every new row waits in :meth:`WorkflowSaver.batch` until an activity carries
it there (the next node activity, or the run's finish activity), and leaves the queue
when that activity has succeeded. A replay rebuilds the same rows, so writing them again
is harmless (they are keyed).

Channel versions are counters with a suffix drawn from the workflow's random source, so
two branches of a thread (a fork, a reset) never reuse a version for different values.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

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
    writes_sort_key,
)
from temporalio import workflow

from tempograph.workflows.ids import workflow_random
from tempograph.workflows.serde import serializer
from tempograph.workflows.types import (
    BlobRow,
    CheckpointBatch,
    CheckpointRow,
    WriteRow,
)
from tempograph.workflows.values import (
    EMPTY,
    SHARED,
    EncodedValue,
    PartData,
    PartTable,
    decode,
    empty,
    encode,
    table_source,
)


def next_version(current: str | int | float | None, draw: float | int) -> str:
    """LangGraph's counter version, as a string with ``draw`` (a float in [0, 1) or a
    count) as a tie-breaking suffix: ``0000000007.3f2a9c11``. Fixed widths keep string
    order the counter's order. Shorter than LangGraph's savers' (32 digits and a float):
    every checkpoint names each channel's version, and checkpoints ride in payloads."""
    if current is None:
        number = 0
    elif isinstance(current, int | float):
        number = int(current)
    else:
        number = int(current.split(".")[0])
    suffix = int(draw * 0x1_0000_0000) if isinstance(draw, float) else draw
    return f"{number + 1:010d}.{suffix & 0xFFFF_FFFF:08x}"


def _write_key(row: WriteRow) -> tuple[str, str, int]:
    return writes_sort_key(row.task_path, row.task_id, row.index)


class WorkflowSaver(BaseCheckpointSaver[str]):
    """LangGraph's checkpointer for one run of one thread (see the module docstring)."""

    def __init__(
        self,
        thread_id: str,
        start: CheckpointBatch | None = None,
        parts: PartTable | None = None,
        run_id: str | None = None,
    ) -> None:
        super().__init__(serde=serializer())
        self.thread_id = thread_id
        self.run_id = run_id
        self._parts = PartTable()
        self._rows: dict[str, dict[str, CheckpointRow]] = {}
        self._blobs: dict[tuple[str, str, str], EncodedValue] = {}
        self._writes: dict[tuple[str, str], dict[tuple[str, int], WriteRow]] = {}
        self._unsent = CheckpointBatch(thread_id)
        self._stored_parts: set[bytes] = set()
        self._draws = 0
        if start is not None:
            self._parts.merge(parts or PartTable())
            self._add(start)
            self._stored_parts |= start.part_hashes() | set(self._parts.parts)

    # -- what the run adds, for activities to write ---------------------------------

    def batch(self) -> tuple[CheckpointBatch, PartTable] | None:
        """The rows not written yet, and the bytes of parts not stored yet."""
        if self._unsent.empty():
            return None
        batch = CheckpointBatch(
            self.thread_id,
            self.run_id,
            list(self._unsent.checkpoints),
            list(self._unsent.blobs),
            list(self._unsent.writes),
        )
        table = PartTable()
        for part_hash in sorted(batch.part_hashes() - self._stored_parts):
            part = self._parts.parts[part_hash]
            table.add(part_hash, part.kind, part.data, needed=False)
        return batch, table

    def confirm(self, batch: CheckpointBatch | None) -> None:
        """``batch`` is in Postgres."""
        if batch is None:
            return
        written = {id(row) for row in [*batch.checkpoints, *batch.blobs, *batch.writes]}
        self._unsent.checkpoints = [r for r in self._unsent.checkpoints if id(r) not in written]
        self._unsent.blobs = [r for r in self._unsent.blobs if id(r) not in written]
        self._unsent.writes = [r for r in self._unsent.writes if id(r) not in written]
        self._stored_parts |= batch.part_hashes()

    @property
    def stored_parts(self) -> set[bytes]:
        """Parts known to be in the value store: they came in a record (its codec stored
        them, or they were stored before) or went out in one an activity has answered."""
        return self._stored_parts

    def drop_unsent(self) -> None:
        """Forget rows not written yet (a rolled-back segment's)."""
        self._unsent = CheckpointBatch(self.thread_id)

    def head_id(self, namespace: str = "") -> str | None:
        """The newest checkpoint id of ``namespace``, if any."""
        ids = self._rows.get(namespace, {})
        return max(ids) if ids else None

    def step_of(self, config: RunnableConfig) -> int:
        """The step of the checkpoint LangGraph's loop would start from with ``config``
        (-2, LangGraph's own figure, when there is none)."""
        found = self.get_tuple(config)
        return int(found.metadata.get("step", -2)) if found is not None else -2

    def continuation(self, also: str | None = None) -> tuple[CheckpointBatch, PartTable]:
        """What a continued execution starts from, by reference (as a run's start is
        loaded from Postgres): the newest root checkpoint and, after it, the newest of each
        subgraph namespace (a subgraph stopped midway), with their channel values and
        pending writes, and the root checkpoint ``also`` (where the segment started)."""
        roots = self._rows.get("", {})
        chosen = [roots[max(roots)]] if roots else []
        if also is not None and also in roots and chosen and also != chosen[0].checkpoint_id:
            chosen.append(roots[also])
        head = chosen[0].checkpoint_id if chosen else ""
        for namespace, rows in sorted(self._rows.items()):
            if namespace and rows and max(rows) > head:
                chosen.append(rows[max(rows)])
        batch = CheckpointBatch(self.thread_id)
        seen: set[tuple[str, str, str]] = set()
        for row in chosen:
            batch.checkpoints.append(row)
            versions = self.serde.loads_typed(row.checkpoint)["channel_versions"]
            for channel, version in versions.items():
                key = (row.namespace, channel, str(version))
                if key in self._blobs and key not in seen:
                    seen.add(key)
                    batch.blobs.append(BlobRow(*key, self._blobs[key]))
            batch.writes.extend(self._writes.get((row.namespace, row.checkpoint_id), {}).values())
        table = PartTable()
        for part_hash in sorted(batch.part_hashes()):
            table.add(part_hash, "", None, needed=True)
        return batch, table

    def part(self, part_hash: bytes) -> PartData:
        return self._parts.parts[part_hash]

    def parts_for(self, value: EncodedValue, needed: bool = True) -> PartTable:
        """The bytes of ``value``'s parts, for a record that carries it."""
        table = PartTable()
        for part_hash in value.part_hashes():
            part = self._parts.parts[part_hash]
            table.add(part_hash, part.kind, part.data, needed)
        return table

    # -- LangGraph's checkpointer interface ----------------------------------------

    def _add(self, batch: CheckpointBatch) -> None:
        for row in batch.checkpoints:
            self._rows.setdefault(row.namespace, {})[row.checkpoint_id] = row
        for blob in batch.blobs:
            self._blobs[(blob.namespace, blob.channel, blob.version)] = blob.value
        for write in batch.writes:
            key = (write.namespace, write.checkpoint_id)
            self._writes.setdefault(key, {})[(write.task_id, write.index)] = write

    def _decode(self, value: EncodedValue) -> Any:
        return decode(value, table_source(self._parts), SHARED)

    def _tuple(self, row: CheckpointRow) -> CheckpointTuple:
        checkpoint: Checkpoint = self.serde.loads_typed(row.checkpoint)
        values: dict[str, Any] = {}
        for channel, version in checkpoint["channel_versions"].items():
            blob = self._blobs.get((row.namespace, channel, str(version)))
            if blob is not None and blob.kind != EMPTY:
                values[channel] = self._decode(blob)
        writes = sorted(
            self._writes.get((row.namespace, row.checkpoint_id), {}).values(), key=_write_key
        )
        conf = {
            "thread_id": self.thread_id,
            "checkpoint_ns": row.namespace,
            "checkpoint_id": row.checkpoint_id,
        }
        parent = (
            {"configurable": {**conf, "checkpoint_id": row.parent_id}} if row.parent_id else None
        )
        return CheckpointTuple(
            config={"configurable": conf},
            checkpoint={**checkpoint, "channel_values": values},
            metadata=self.serde.loads_typed(row.metadata),
            parent_config=parent,  # type: ignore[arg-type]
            pending_writes=[(w.task_id, w.channel, self._decode(w.value)) for w in writes],
        )

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        namespace = config["configurable"].get("checkpoint_ns", "")
        rows = self._rows.get(namespace, {})
        checkpoint_id = get_checkpoint_id(config) or (max(rows) if rows else None)
        row = rows.get(checkpoint_id) if checkpoint_id else None
        return self._tuple(row) if row is not None else None

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        namespace = config["configurable"].get("checkpoint_ns") if config else None
        before_id = get_checkpoint_id(before) if before else None
        for ns in sorted(self._rows):
            if namespace is not None and ns != namespace:
                continue
            for checkpoint_id in sorted(self._rows[ns], reverse=True):
                if before_id and checkpoint_id >= before_id:
                    continue
                found = self._tuple(self._rows[ns][checkpoint_id])
                if filter and any(found.metadata.get(k) != v for k, v in filter.items()):
                    continue
                if limit is not None:
                    if limit <= 0:
                        return
                    limit -= 1
                yield found

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        copy = checkpoint.copy()
        values: dict[str, Any] = copy.pop("channel_values")  # type: ignore[misc]
        namespace = config["configurable"]["checkpoint_ns"]
        for channel, version in new_versions.items():
            value = (
                encode(values[channel], self._parts, memo=True, needed=False)
                if channel in values
                else empty()
            )
            blob = BlobRow(namespace, channel, str(version), value)
            self._blobs[(namespace, channel, str(version))] = value
            self._unsent.blobs.append(blob)
        row = CheckpointRow(
            namespace=namespace,
            checkpoint_id=checkpoint["id"],
            parent_id=config["configurable"].get("checkpoint_id"),
            checkpoint=self.serde.dumps_typed(copy),
            metadata=self.serde.dumps_typed(get_checkpoint_metadata(config, metadata)),
        )
        self._rows.setdefault(namespace, {})[row.checkpoint_id] = row
        self._unsent.checkpoints.append(row)
        return {
            "configurable": {
                "thread_id": self.thread_id,
                "checkpoint_ns": namespace,
                "checkpoint_id": checkpoint["id"],
            }
        }

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        namespace = config["configurable"].get("checkpoint_ns", "")
        checkpoint_id = config["configurable"]["checkpoint_id"]
        stored = self._writes.setdefault((namespace, checkpoint_id), {})
        for index, (channel, value) in enumerate(writes):
            key = (task_id, WRITES_IDX_MAP.get(channel, index))
            if key[1] >= 0 and key in stored:
                continue
            row = WriteRow(
                namespace,
                checkpoint_id,
                task_id,
                key[1],
                channel,
                encode(value, self._parts, memo=True, needed=False),
                task_path,
            )
            stored[key] = row
            self._unsent.writes.append(row)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.get_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for item in self.list(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self.put_writes(config, writes, task_id, task_path)

    def get_next_version(self, current: str | None, channel: None) -> str:
        # Outside a workflow (tests, tools) a per-saver count keeps suffixes distinct.
        self._draws += 1
        draw = workflow_random().random() if workflow.in_workflow() else self._draws
        return next_version(current, draw)
