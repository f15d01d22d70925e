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

from typing import Any, cast
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langgraph._internal._constants import CONFIG_KEY_RUNTIME, CONFIG_KEY_STREAM, NS_SEP
from langgraph.pregel import Pregel
from langgraph.pregel._messages import _state_values
from langgraph.pregel.protocol import StreamProtocol
from langgraph.runtime import Runtime
from langgraph.types import Command
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
        # Events not encoded yet: (key, event, payload).
        self._raw: list[tuple[str, str, Any]] = []
        self._parts = PartTable()
        self._count = 0
        self._resumed_values = False

    def begin(self, spec: StreamSpec | None, *, opened: bool = False) -> None:
        """A segment starts: later events belong to ``spec.run_id``, opened by ``metadata``
        (unless ``opened``: it goes on in a continued execution)."""
        self.spec = spec
        self._pending = []
        self._raw = []
        self._parts = PartTable()
        # LangGraph's loop shows the state it resumes from: shown already, before it
        # continued as new.
        self._resumed_values = opened
        if spec is not None and not opened:
            self._add("metadata", {"run_id": spec.run_id, "attempt": 1})

    def modes(self) -> set[str]:
        return set(self.spec.modes) & WORKFLOW_MODES if self.spec is not None else set()

    def wants_messages(self) -> bool:
        return self.spec is not None and bool({"messages", "messages-tuple"} & set(self.spec.modes))

    def streaming(self, config: Any, graph: Any) -> Any:
        """``config`` (for ``graph``, a durable graph) streaming into this outbox in the
        current segment's modes."""
        configurable = {
            k: v
            for k, v in config["configurable"].items()
            if k not in (CONFIG_KEY_STREAM, CONFIG_KEY_RUNTIME)
        }
        callbacks = [*(config.get("callbacks") or []), *subgraph_messages(self, graph)]
        if self.modes():
            configurable[CONFIG_KEY_STREAM] = StreamProtocol(self.put, cast(Any, self.modes()))
            # LangGraph takes the root's stream writer from the runtime when it streams
            # into a caller; custom writes in workflow code (an entrypoint) land here.
            configurable[CONFIG_KEY_RUNTIME] = Runtime(
                stream_writer=lambda chunk: self.put(((), "custom", chunk))
            )
        return {**config, "configurable": configurable, "callbacks": callbacks}

    def put(self, chunk: tuple[tuple[str, ...], str, Any]) -> None:
        """LangGraph's stream callback: ``(namespace, mode, payload)``."""
        namespace, mode, payload = chunk
        if mode == "values" and not namespace and self._resumed_values:
            self._resumed_values = False
            return
        if self.spec is None or (mode not in self.spec.modes and mode != "messages"):
            return
        if namespace and not self.spec.subgraphs:
            return
        key = None
        if mode == "messages":
            if not self.wants_messages():
                return
            payload = list(payload)
            message_id = getattr(payload[0], "id", None)
            if message_id is not None:
                # Keyed by the message, not by the run's count and random source: shown
                # by a handler that histories recorded before it did not have.
                key = f"wm:{'|'.join(namespace)}:{message_id}"
        self._add("|".join((mode, *namespace)), payload, key)

    def error(self, error: dict[str, str]) -> None:
        shown = {"error": error.get("type", "Error"), "message": error["message"]}
        if error.get("node"):
            shown["node"] = error["node"]
        self._add("error", shown)

    def batch(self) -> tuple[PublishBatch, PartTable] | None:
        """What the next activity should write, and the parts its events name."""
        if self.spec is None:
            return None
        self._encode_raw()
        events = list(self._pending)
        return PublishBatch(run_id=self.spec.run_id, events=events), self._parts_of(events)

    def confirm(self, batch: PublishBatch | None) -> None:
        """``batch`` is in Postgres: forget it."""
        if batch is None or self.spec is None or batch.run_id != self.spec.run_id:
            return
        written = {e.key for e in batch.events}
        self._pending = [e for e in self._pending if e.key not in written]

    def drain(self) -> tuple[list[StreamEvent], PartTable]:
        self._encode_raw()
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

    def _add(self, event: str, payload: Any, key: str | None = None) -> None:
        if key is None:
            self._count += 1
            suffix = f".{workflow.random().getrandbits(32):08x}" if workflow.in_workflow() else ""
            key = f"w{self._count}{suffix}"
        self._raw.append((key, event, payload))

    def _encode_raw(self) -> None:
        """Encode the events added since the last batch. Not when added: an ``updates``
        event holds a node's writes before the superstep's reducers ran, and
        ``add_messages`` then gives a message without an id its id in place; in process
        the stream is serialized when read, with the id, and so is this one."""
        raw, self._raw = self._raw, []
        for key, event, payload in raw:
            table = PartTable()
            encoded: EncodedValue = encode(payload, table, memo=True, needed=False)
            if encoded.kind == INLINE and encoded.size() <= _JSON_NOW:
                self._pending.append(StreamEvent(key, event, data=to_jsonable(payload)))
                continue
            self._parts.merge(table)
            self._pending.append(StreamEvent(key, event, value=encoded))


def subgraph_messages(outbox: Outbox, graph: Any) -> list[BaseCallbackHandler]:
    """A :class:`SubgraphNodeMessages` for ``graph`` (a durable graph) when the stream
    shows messages and the graph has compiled subgraphs as nodes."""
    spec = outbox.spec
    if spec is None or spec.subgraphs or not outbox.wants_messages():
        return []
    loop = graph.workflow_graph
    nodes = frozenset(n for n, node in loop.nodes.items() if isinstance(node.bound, Pregel))
    return [SubgraphNodeMessages(outbox, nodes)] if nodes else []


class SubgraphNodeMessages(BaseCallbackHandler):
    """The ``messages`` stream's share that is made in the workflow.

    In process, LangGraph's messages stream shows the messages a node returns when the
    node ends (those it was not given). A node body runs in an activity, which shows its
    own. But a compiled subgraph added as a node runs its loop here, in the workflow:
    without ``subgraphs`` the messages it returns (its inner nodes' answers) are shown at
    the parent's level when it ends, as in process. (With ``subgraphs``, its inner nodes'
    activities have shown them already, so this handler is used only without.)
    LangGraph leaves its own handler out of a loop that does not stream ``messages``,
    which is why this one is not a ``StreamMessagesHandler``.
    """

    run_inline = True

    def __init__(self, outbox: Outbox, nodes: frozenset[str]) -> None:
        self._outbox = outbox
        self._nodes = nodes
        self._open: dict[UUID, tuple[dict[str, Any], set[Any]]] = {}

    def on_chain_start(
        self,
        serialized: Any,
        inputs: Any,
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        metadata = metadata or {}
        node = metadata.get("langgraph_node")
        namespace = str(metadata.get("langgraph_checkpoint_ns", ""))
        if node in self._nodes and kwargs.get("name") == node and NS_SEP not in namespace:
            given = {m.id for m in _messages_in(inputs) if m.id is not None}
            self._open[run_id] = (metadata, given)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        opened = self._open.pop(run_id, None)
        if opened is None:
            return
        metadata, shown = opened
        for message in _messages_in(outputs):
            if message.id not in shown:
                shown.add(message.id)
                self._outbox.put(((), "messages", (message, metadata)))

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._open.pop(run_id, None)


def _messages_in(value: Any) -> list[BaseMessage]:
    """The messages in a node's input or output: a state, an update, a Command's update,
    or a list of those."""
    if isinstance(value, Command):
        value = value.update
    if isinstance(value, BaseMessage):
        return [value]
    if isinstance(value, list | tuple):
        return [m for item in value for m in _messages_in(item)]
    found: list[BaseMessage] = []
    for item in _state_values(value):  # LangGraph's own: a dict, pydantic or dataclass
        if isinstance(item, BaseMessage):
            found.append(item)
        elif isinstance(item, list | tuple):
            found.extend(m for m in item if isinstance(m, BaseMessage))
    return found
