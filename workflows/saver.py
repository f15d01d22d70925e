"""The checkpointer LangGraph's loop uses inside a workflow: memory only, deterministic.

The run's checkpoints live in workflow memory (Temporal's history is what makes them
durable); they are exported as plain records to hand them to the thread, to the next run
and, later, to Postgres from an activity. Channel versions are counters with a suffix drawn
from the workflow's random source, so a replayed run writes byte-identical checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from tempograph.workflows.serde import serializer
from temporalio import workflow

Typed = tuple[str, bytes]


@dataclass
class CheckpointRecord:
    namespace: str
    checkpoint_id: str
    checkpoint: Typed
    metadata: Typed
    parent_id: str | None


@dataclass
class WriteRecord:
    namespace: str
    checkpoint_id: str
    task_id: str
    index: int
    channel: str
    value: Typed
    task_path: str


@dataclass
class BlobRecord:
    namespace: str
    channel: str
    version: str | int | float
    value: Typed


@dataclass
class ThreadCheckpoints:
    """Every checkpoint, pending write and channel blob of one thread, as records."""

    checkpoints: list[CheckpointRecord] = field(default_factory=list)
    writes: list[WriteRecord] = field(default_factory=list)
    blobs: list[BlobRecord] = field(default_factory=list)

    def head(self) -> ThreadCheckpoints:
        """The newest checkpoint of each namespace, with its writes and channel blobs.

        That is all a run needs to continue the thread; the full history stays with
        the thread.
        """
        newest: dict[str, CheckpointRecord] = {}
        for c in self.checkpoints:
            if c.namespace not in newest or c.checkpoint_id > newest[c.namespace].checkpoint_id:
                newest[c.namespace] = c
        # A subgraph's checkpoints matter to the next run only when it stopped midway,
        # after the parent's newest checkpoint; finished subgraphs are left behind.
        root = newest.get("")
        if root is not None:
            newest = {
                ns: c
                for ns, c in newest.items()
                if ns == "" or c.checkpoint_id > root.checkpoint_id
            }
        keep = {(c.namespace, c.checkpoint_id) for c in newest.values()}
        versions: set[tuple[str, str, str]] = set()
        for c in newest.values():
            checkpoint = serializer().loads_typed(c.checkpoint)
            for channel, version in checkpoint["channel_versions"].items():
                versions.add((c.namespace, channel, str(version)))
        return ThreadCheckpoints(
            checkpoints=list(newest.values()),
            writes=[w for w in self.writes if (w.namespace, w.checkpoint_id) in keep],
            blobs=[b for b in self.blobs if (b.namespace, b.channel, str(b.version)) in versions],
        )

    def merged(self, other: ThreadCheckpoints) -> ThreadCheckpoints:
        """These records with ``other``'s added (``other`` wins on the same key)."""
        checkpoints = {(c.namespace, c.checkpoint_id): c for c in self.checkpoints}
        checkpoints.update({(c.namespace, c.checkpoint_id): c for c in other.checkpoints})
        writes = {(w.namespace, w.checkpoint_id, w.task_id, w.index): w for w in self.writes}
        writes.update({(w.namespace, w.checkpoint_id, w.task_id, w.index): w for w in other.writes})
        blobs = {(b.namespace, b.channel, str(b.version)): b for b in self.blobs}
        blobs.update({(b.namespace, b.channel, str(b.version)): b for b in other.blobs})
        return ThreadCheckpoints(
            checkpoints=[checkpoints[k] for k in sorted(checkpoints)],
            writes=[writes[k] for k in sorted(writes)],
            blobs=[blobs[k] for k in sorted(blobs)],
        )

    def trimmed(self, keep: int) -> ThreadCheckpoints:
        """Only the newest ``keep`` root checkpoints and what they need.

        Subgraph checkpoints, writes and blobs older than the oldest kept root checkpoint
        go too (checkpoint ids sort by time); blobs stay while a kept checkpoint names
        their version.
        """
        roots = sorted(c.checkpoint_id for c in self.checkpoints if c.namespace == "")
        if len(roots) <= keep:
            return self
        oldest = roots[-keep]
        checkpoints = [c for c in self.checkpoints if c.checkpoint_id >= oldest]
        kept = {(c.namespace, c.checkpoint_id) for c in checkpoints}
        versions: set[tuple[str, str, str]] = set()
        for c in checkpoints:
            versions_of = serializer().loads_typed(c.checkpoint)["channel_versions"]
            for channel, version in versions_of.items():
                versions.add((c.namespace, channel, str(version)))
        return ThreadCheckpoints(
            checkpoints=checkpoints,
            writes=[w for w in self.writes if (w.namespace, w.checkpoint_id) in kept],
            blobs=[b for b in self.blobs if (b.namespace, b.channel, str(b.version)) in versions],
        )

    def head_id(self) -> str | None:
        """The newest root-namespace checkpoint id, if any."""
        ids = [c.checkpoint_id for c in self.checkpoints if c.namespace == ""]
        return max(ids) if ids else None


class WorkflowSaver(InMemorySaver):
    """An ``InMemorySaver`` for one thread, with counter versions and record export."""

    def __init__(self, thread_id: str, records: ThreadCheckpoints | None = None) -> None:
        super().__init__(serde=serializer())
        self._draws = 0
        self.thread_id = thread_id
        self._reported: set[tuple[str, ...]] = set()
        if records is not None:
            self.load(records)
            self._reported |= _keys(records)

    def get_next_version(self, current: str | None, channel: None) -> str:
        if current is None:
            number = 0
        elif isinstance(current, int):
            number = current
        else:
            number = int(current.split(".")[0])
        # The suffix tells apart the same counter on two branches (a fork rewrites a
        # channel at a number the abandoned branch used); replay draws the same one.
        # Outside a workflow (tests, tools) a per-saver count keeps suffixes distinct.
        self._draws += 1
        draw = workflow.random().random() if workflow.in_workflow() else self._draws
        return f"{number + 1:032}.{draw:016}"

    def load(self, records: ThreadCheckpoints) -> None:
        """Add records (from another run or the thread) to this saver."""
        tid = self.thread_id
        for c in records.checkpoints:
            self.storage[tid][c.namespace][c.checkpoint_id] = (
                c.checkpoint,
                c.metadata,
                c.parent_id,
            )
        for w in records.writes:
            key = (tid, w.namespace, w.checkpoint_id)
            self.writes[key][(w.task_id, w.index)] = (w.task_id, w.channel, w.value, w.task_path)
        for b in records.blobs:
            self.blobs[(tid, b.namespace, b.channel, b.version)] = b.value

    def export_new(self) -> ThreadCheckpoints:
        """Records neither loaded nor exported before: what this run adds to the thread."""
        every = self.export()
        reported = self._reported
        new = ThreadCheckpoints(
            checkpoints=[
                c for c in every.checkpoints if ("c", c.namespace, c.checkpoint_id) not in reported
            ],
            writes=[
                w
                for w in every.writes
                if ("w", w.namespace, w.checkpoint_id, w.task_id, str(w.index)) not in reported
            ],
            blobs=[
                b
                for b in every.blobs
                if ("b", b.namespace, b.channel, str(b.version)) not in reported
            ],
        )
        self._reported |= _keys(new)
        return new

    def export(self) -> ThreadCheckpoints:
        """All of this thread's records, in a stable order."""
        tid = self.thread_id
        out = ThreadCheckpoints()
        for ns, by_id in sorted(self.storage.get(tid, {}).items()):
            for cid, (cp, meta, parent) in sorted(by_id.items()):
                out.checkpoints.append(CheckpointRecord(ns, cid, cp, meta, parent))
        for (t, ns, cid), by_task in sorted(self.writes.items()):
            if t != tid:
                continue
            for (task_id, idx), (_, channel, value, path) in sorted(by_task.items()):
                out.writes.append(WriteRecord(ns, cid, task_id, idx, channel, value, path))
        for (t, ns, channel, version), value in sorted(self.blobs.items(), key=_blob_key):
            if t == tid:
                out.blobs.append(BlobRecord(ns, channel, version, value))
        return out


def _keys(records: ThreadCheckpoints) -> set[tuple[str, ...]]:
    return (
        {("c", c.namespace, c.checkpoint_id) for c in records.checkpoints}
        | {("w", w.namespace, w.checkpoint_id, w.task_id, str(w.index)) for w in records.writes}
        | {("b", b.namespace, b.channel, str(b.version)) for b in records.blobs}
    )


def _blob_key(item: tuple[tuple[str, str, str, Any], Typed]) -> tuple[str, str, str, str]:
    (t, ns, channel, version), _ = item
    return (t, ns, channel, str(version))
