"""A run's stream events, collected in the workflow and written by the next activity.

LangGraph's loop emits ``values``, ``updates``, ``checkpoints``, ``tasks``, ``debug`` and
``custom`` chunks through the stream protocol in its config; :class:`Outbox` is that
stream. The events wait here until an activity carries them (every node activity takes
the pending batch and writes it before running the node body, so streaming adds no
round trip), and the run's finish activity writes whatever is left.

A small event is JSON already. A large one (a ``values`` event of a long conversation)
is kept as an encoded value whose parts are the state's own parts, so it costs the
history and Postgres nothing new; the API renders it when it serves the event.

Keys make a re-sent event a no-op (a retried activity, or parallel ones carrying the same
batch). Each key has a suffix from the workflow's random source: a replay draws the same
one, a reset execution other ones, so a reset run's new events are kept beside its old.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from tempograph.workflows.jsonable import to_jsonable
from tempograph.workflows.types import PublishBatch, StreamEvent, StreamSpec
from tempograph.workflows.values import INLINE, EncodedValue, PartTable, encode

# Modes LangGraph's loop produces in the workflow; messages and custom writes from node
# bodies are published by the node activities themselves.
WORKFLOW_MODES = frozenset({"values", "updates", "checkpoints", "tasks", "debug", "custom"})
# Events whose payload serializes to more than this are stored as encoded values.
_JSON_NOW = 4096


class Outbox:
    """Pending events of the current segment of a run (see the module docstring)."""

    def __init__(self) -> None:
        self.spec: StreamSpec | None = None
        self._pending: list[StreamEvent] = []
        self._parts = PartTable()
        self._count = 0
        self._resumed_values = False

    def begin(self, spec: StreamSpec | None, *, opened: bool = False) -> None:
        """A segment starts: later events belong to ``spec.run_id``, opened by ``metadata``
        (unless ``opened``: it goes on in a continued execution)."""
        self.spec = spec
        self._pending = []
        self._parts = PartTable()
        # LangGraph's loop shows the state it resumes from: shown already, before it
        # continued as new.
        self._resumed_values = opened
        if spec is not None and not opened:
            self._add("metadata", {"run_id": spec.run_id, "attempt": 1})

    def modes(self) -> set[str]:
        return set(self.spec.modes) & WORKFLOW_MODES if self.spec is not None else set()

    def put(self, chunk: tuple[tuple[str, ...], str, Any]) -> None:
        """LangGraph's stream callback: ``(namespace, mode, payload)``."""
        namespace, mode, payload = chunk
        if mode == "values" and not namespace and self._resumed_values:
            self._resumed_values = False
            return
        if self.spec is None or mode not in self.spec.modes:
            return
        if namespace and not self.spec.subgraphs:
            return
        self._add("|".join((mode, *namespace)), payload)

    def error(self, error: dict[str, str]) -> None:
        shown = {"error": error.get("type", "Error"), "message": error["message"]}
        if error.get("node"):
            shown["node"] = error["node"]
        self._add("error", shown)

    def batch(self) -> tuple[PublishBatch, PartTable] | None:
        """What the next activity should write, and the parts its events name."""
        if self.spec is None:
            return None
        events = list(self._pending)
        return PublishBatch(run_id=self.spec.run_id, events=events), self._parts_of(events)

    def confirm(self, batch: PublishBatch | None) -> None:
        """``batch`` is in Postgres: forget it."""
        if batch is None or self.spec is None or batch.run_id != self.spec.run_id:
            return
        written = {e.key for e in batch.events}
        self._pending = [e for e in self._pending if e.key not in written]

    def drain(self) -> tuple[list[StreamEvent], PartTable]:
        pending, self._pending = self._pending, []
        return pending, self._parts_of(pending)

    def _parts_of(self, events: list[StreamEvent]) -> PartTable:
        table = PartTable()
        for event in events:
            if event.value is not None:
                for part_hash in event.value.part_hashes():
                    part = self._parts.parts[part_hash]
                    table.add(part_hash, part.kind, part.data, needed=False)
        return table

    def _add(self, event: str, payload: Any) -> None:
        self._count += 1
        suffix = f".{workflow.random().getrandbits(32):08x}" if workflow.in_workflow() else ""
        key = f"w{self._count}{suffix}"
        table = PartTable()
        encoded: EncodedValue = encode(payload, table, memo=True, needed=False)
        if encoded.kind == INLINE and encoded.size() <= _JSON_NOW:
            self._pending.append(StreamEvent(key, event, data=to_jsonable(payload)))
            return
        self._parts.merge(table)
        self._pending.append(StreamEvent(key, event, value=encoded))
