"""A data converter that keeps LangGraph and LangChain types intact across Temporal.

Every payload is written with LangGraph's own serializer (``JsonPlusSerializer``), so
``AIMessage`` with tool calls, ``Send``, ``Command``, ``Interrupt``, pydantic models and
dataclasses arrive as the same types they left as. Plain JSON values are written as
``json/plain`` so they stay readable in the Temporal UI and to other SDKs.

A record that carries encoded state values (a :class:`~tempograph.workflows.values.PartTable`
in its ``parts`` field) becomes a ``binary/tempograph`` payload: the record without its
parts, and the parts beside it, so the codec (:mod:`tempograph.temporal.codec`) can store
each part once and leave only its hash in the history.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import ormsgpack
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    BinaryNullPayloadConverter,
    CompositePayloadConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
)

from tempograph.workflows import serde
from tempograph.workflows.values import PartData, PartTable

LANGGRAPH_ENCODING = b"binary/langgraph"
SEGMENTED_ENCODING = b"binary/tempograph"
# On a payload that never reaches Temporal's server: a local activity's input.
LOCAL_KEY = "tempograph-local"
# On a record whose receiver fetches the parts it decodes itself (a node's call: its
# thread's decoded parts are often cached where it runs): the codec leaves them out.
LAZY_KEY = "tempograph-lazy"
_TYPE_KEY = "langgraph-type"
_ENVELOPE_VERSION = 1


def pack_envelope(kind: str, record: bytes, table: PartTable) -> bytes:
    """A ``binary/tempograph`` payload's data: the record and its parts beside it."""
    parts = [[h, p.kind, p.data, p.needed] for h, p in table.parts.items()]
    return ormsgpack.packb([_ENVELOPE_VERSION, kind, record, parts])


def unpack_envelope(data: bytes) -> tuple[str, bytes, PartTable]:
    version, kind, record, parts = ormsgpack.unpackb(data)
    if version != _ENVELOPE_VERSION:
        raise ValueError(f"unknown binary/tempograph envelope version {version}")
    table = PartTable({bytes(h): PartData(k, d, bool(n)) for h, k, d, n in parts})
    return kind, record, table


def _is_plain_json(value: Any, depth: int = 0) -> bool:
    if depth > 64:
        return False
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if type(value) is list:
        return all(_is_plain_json(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(isinstance(k, str) and _is_plain_json(v, depth + 1) for k, v in value.items())
    return False


class PlainJSONPayloadConverter(JSONPlainPayloadConverter):
    """``json/plain`` for values that are JSON already; everything else falls through."""

    def to_payload(self, value: Any) -> Payload | None:
        if not _is_plain_json(value):
            return None
        return Payload(
            metadata={"encoding": self.encoding.encode()},
            data=json.dumps(value, separators=(",", ":"), sort_keys=True).encode(),
        )


class LangGraphPayloadConverter(EncodingPayloadConverter):
    """Any other value, through LangGraph's serializer (msgpack with type extensions),
    rebuilding only the types on :mod:`tempograph.workflows.serde`'s allowlist."""

    @property
    def encoding(self) -> str:
        return LANGGRAPH_ENCODING.decode()

    def to_payload(self, value: Any) -> Payload | None:
        kind, data = serde.dumps(value)
        return Payload(
            metadata={"encoding": LANGGRAPH_ENCODING, _TYPE_KEY: kind.encode()},
            data=data,
        )

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        kind = payload.metadata.get(_TYPE_KEY, b"msgpack").decode()
        return serde.serializer().loads_typed((kind, payload.data))


class SegmentedPayloadConverter(EncodingPayloadConverter):
    """A record with parts (see the module docstring); anything else falls through."""

    @property
    def encoding(self) -> str:
        return SEGMENTED_ENCODING.decode()

    def to_payload(self, value: Any) -> Payload | None:
        table = getattr(value, "parts", None)
        if not isinstance(table, PartTable) or not table.parts:
            return None
        bare = dataclasses.replace(value, parts=PartTable())
        kind, data = serde.dumps(bare)
        metadata = {"encoding": SEGMENTED_ENCODING}
        if getattr(value, "local", False):
            metadata[LOCAL_KEY] = b"1"
        elif getattr(value, "fetches_parts", False):
            metadata[LAZY_KEY] = b"1"
        return Payload(metadata=metadata, data=pack_envelope(kind, data, table))

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        kind, data, table = unpack_envelope(payload.data)
        record = serde.serializer().loads_typed((kind, data))
        record.parts = table
        return record


class TempographPayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(
            BinaryNullPayloadConverter(),
            PlainJSONPayloadConverter(),
            SegmentedPayloadConverter(),
            LangGraphPayloadConverter(),
        )
