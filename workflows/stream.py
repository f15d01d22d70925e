"""A run's stream events, collected in the workflow and written by the next activity.

LangGraph's loop emits ``values``, ``updates``, ``checkpoints``, ``tasks``, ``debug`` and
``custom`` chunks through the stream protocol in its config; :class:`Outbox` is that
stream. The events wait here until an activity carries them (every node activity takes
the pending batch and writes it before running the node body, so streaming adds no
round trip), and the run's finish activity writes whatever is left. Keys are numbered in
order, so an activity that is retried, or two parallel ones carrying the same batch,
write each event once.
"""

from __future__ import annotations

from typing import Any

from tempograph.workflows.jsonable import to_jsonable
from tempograph.workflows.types import PublishBatch, StreamEvent, StreamSpec

# Modes LangGraph's loop produces in the workflow; messages and custom writes from node
# bodies are published by the node activities themselves.
WORKFLOW_MODES = frozenset({"values", "updates", "checkpoints", "tasks", "debug", "custom"})


class Outbox:
    """Pending events of the current segment of a run (see the module docstring)."""

    def __init__(self) -> None:
        self.spec: StreamSpec | None = None
        self._pending: list[StreamEvent] = []
        self._count = 0

    def begin(self, spec: StreamSpec | None) -> None:
        """A segment starts: later events belong to ``spec.run_id``, opened by ``metadata``."""
        self.spec = spec
        self._pending = []
        if spec is not None:
            self._add("metadata", {"run_id": spec.run_id, "attempt": 1})

    def modes(self) -> set[str]:
        return set(self.spec.modes) & WORKFLOW_MODES if self.spec is not None else set()

    def put(self, chunk: tuple[tuple[str, ...], str, Any]) -> None:
        """LangGraph's stream callback: ``(namespace, mode, payload)``."""
        namespace, mode, payload = chunk
        if self.spec is None or mode not in self.spec.modes:
            return
        if namespace and not self.spec.subgraphs:
            return
        name = "|".join((mode, *namespace))
        self._add(name, to_jsonable(payload))

    def error(self, error: dict[str, str]) -> None:
        self._add("error", {"error": error.get("type", "Error"), "message": error["message"]})

    def batch(self) -> PublishBatch | None:
        """What the next activity should write (None when nothing is streamed)."""
        if self.spec is None:
            return None
        return PublishBatch(run_id=self.spec.run_id, events=list(self._pending))

    def confirm(self, batch: PublishBatch | None) -> None:
        """``batch`` is in Postgres: forget it."""
        if batch is None or self.spec is None or batch.run_id != self.spec.run_id:
            return
        written = {e.key for e in batch.events}
        self._pending = [e for e in self._pending if e.key not in written]

    def drain(self) -> list[StreamEvent]:
        pending, self._pending = self._pending, []
        return pending

    def _add(self, event: str, data: Any) -> None:
        self._count += 1
        self._pending.append(StreamEvent(key=f"w{self._count}", event=event, data=data))
