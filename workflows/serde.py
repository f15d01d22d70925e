"""LangGraph's serializer with an explicit allowlist of the types it may rebuild.

Everything Tempograph moves through Temporal or stores as checkpoint records is written
with LangGraph's ``JsonPlusSerializer``. Decoding rebuilds objects by importing and
calling ``module.name(...)`` named in the payload, so the list of types it may rebuild
is what keeps a crafted payload from running code in a worker. The list is: LangGraph's
curated core types (messages, ``Send``, ``Command``, ``Interrupt`` and the other safe
built-ins), Tempograph's own records, and, per registered graph, the types LangGraph
itself derives from the graph's schemas and channels plus the classes defined in the
graph's module. A type outside the list is not rebuilt: LangGraph logs it and hands over
its raw fields, as LangGraph's own checkpointers do in strict mode.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from types import ModuleType
from typing import Any

import ormsgpack
from langgraph._internal._serde import build_serde_allowlist, collect_allowlist_from_schemas
from langgraph.checkpoint.serde.jsonplus import (
    EXT_CONSTRUCTOR_KW_ARGS,
    JsonPlusSerializer,
    _msgpack_enc,
)

_OWN_TYPES: frozenset[tuple[str, str]] = frozenset(
    {
        ("tempograph.workflows.types", name)
        for name in (
            "BlobRow",
            "CancelReason",
            "ErrorType",
            "RunStatus",
            "SegmentEnd",
            "ThreadStatus",
            "CheckpointBatch",
            "CheckpointRow",
            "FinishOutcome",
            "NodeCall",
            "NodeResult",
            "PublishBatch",
            "ResumeRequest",
            "RunEnd",
            "RunFlush",
            "RunInput",
            "RunRequest",
            "RunState",
            "StreamEvent",
            "StreamSpec",
            "WebhookDelivery",
            "WriteRow",
        )
    }
    | {("tempograph.workflows.values", n) for n in ("EncodedValue", "PartData", "PartTable")}
    | {("tempograph.workflows.crons", "CronFired")}
)


class _Allowlist:
    types: set[tuple[str, ...]] = set(build_serde_allowlist()) | set(_OWN_TYPES)
    serializer: JsonPlusSerializer | None = None


def allow(types: set[tuple[str, ...]]) -> None:
    """Let the serializer rebuild ``types`` ((module, qualname) pairs) from now on."""
    if not types <= _Allowlist.types:
        _Allowlist.types |= types
        _Allowlist.serializer = None


def serializer() -> JsonPlusSerializer:
    """The process's serializer, rebuilt when the allowlist has grown."""
    if _Allowlist.serializer is None:
        _Allowlist.serializer = JsonPlusSerializer(
            allowed_msgpack_modules=frozenset(_Allowlist.types)
        )
    return _Allowlist.serializer


def graph_types(graph: Any, module: ModuleType | None) -> set[tuple[str, ...]]:
    """The types a graph's state, inputs and outputs can hold, as LangGraph derives them
    for its own checkpointers, plus every class its module defines."""
    schemas: list[Any] = []
    builder = getattr(graph, "builder", None)
    for owner in (builder, graph):
        for attr in ("state_schema", "input_schema", "output_schema", "context_schema"):
            try:
                value = getattr(owner, attr, None)
            except Exception:  # noqa: BLE001 - a compiled graph builds these with pydantic
                continue
            if isinstance(value, type):
                schemas.append(value)
    for node in (getattr(builder, "nodes", None) or {}).values():
        if isinstance(getattr(node, "input_schema", None), type):
            schemas.append(node.input_schema)
    channels = getattr(builder, "channels", None) or getattr(graph, "channels", None)
    types: set[tuple[str, ...]] = set()
    # One at a time: pydantic refuses some schemas (typing.TypedDict before 3.12); those
    # contribute the classes of their module below instead.
    for schema in schemas:
        try:
            types |= collect_allowlist_from_schemas(schemas=[schema])
        except Exception:  # noqa: BLE001 - skip what pydantic cannot walk
            continue
    try:
        types |= collect_allowlist_from_schemas(channels=channels)
    except Exception:  # noqa: BLE001 - channel types pydantic cannot walk
        pass
    if module is not None:
        for value in vars(module).values():
            if inspect.isclass(value) and value.__module__ == module.__name__:
                types.add((value.__module__, value.__qualname__))
    return types


# -- our own records, serialized without LangGraph's generic checks ---------------------
#
# LangGraph's serializer finds a dataclass after a dozen isinstance checks, one of them
# against a runtime-checkable Protocol (slow), for every record and nested record: about
# a tenth of a millisecond each, dozens per run. Our records' types are known, so they
# are written here directly, in exactly the form LangGraph writes a dataclass (the same
# bytes; LangGraph's own reader reads them). Values inside them that are not our records
# (user inputs, messages, commands) still go through LangGraph's serializer.


class _Records:
    # record type -> (field names, names of fields that may hold records)
    types: dict[type, tuple[tuple[str, ...], frozenset[str]]] = {}


def register_records(*types: type) -> None:
    """Let :func:`dumps` write these dataclasses (and records nested in them) directly."""
    for cls in types:
        _Records.types[cls] = ((), frozenset())
    names = {cls.__name__ for cls in _Records.types}
    for cls in list(_Records.types):
        hints = typing.get_type_hints(cls)
        fields = tuple(f.name for f in dataclasses.fields(cls))
        nested = frozenset(
            name for name in fields if any(n in str(hints.get(name, "")) for n in names)
        )
        _Records.types[cls] = (fields, nested)


def _deep(value: Any) -> Any:
    kind = type(value)
    if kind in _Records.types:
        return _ext(value)
    if kind is list or kind is tuple:
        return [_deep(v) for v in value]
    if kind is dict:
        return {k: _deep(v) for k, v in value.items()}
    return value


def _ext(record: Any) -> ormsgpack.Ext:
    kind = type(record)
    fields, nested = _Records.types[kind]
    values = {
        name: _deep(getattr(record, name)) if name in nested else getattr(record, name)
        for name in fields
    }
    return ormsgpack.Ext(
        EXT_CONSTRUCTOR_KW_ARGS, _msgpack_enc((kind.__module__, kind.__name__, values))
    )


def dumps(value: Any) -> tuple[str, bytes]:
    """``serializer().dumps_typed(value)``, faster for our records (same bytes)."""
    if type(value) in _Records.types:
        return "msgpack", _msgpack_enc(_ext(value))
    kind, data = serializer().dumps_typed(value)
    return kind, data
