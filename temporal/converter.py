"""A data converter that keeps LangGraph and LangChain types intact across Temporal.

Every payload is written with LangGraph's own serializer (``JsonPlusSerializer``), so
``AIMessage`` with tool calls, ``Send``, ``Command``, ``Interrupt``, pydantic models and
dataclasses arrive as the same types they left as. Plain JSON values are written as
``json/plain`` so they stay readable in the Temporal UI and to other SDKs.
"""

from __future__ import annotations

import json
from typing import Any

from tempograph.workflows import serde
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    BinaryNullPayloadConverter,
    CompositePayloadConverter,
    DataConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
)

LANGGRAPH_ENCODING = b"binary/langgraph"
_TYPE_KEY = "langgraph-type"


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
        kind, data = serde.serializer().dumps_typed(value)
        return Payload(
            metadata={"encoding": LANGGRAPH_ENCODING, _TYPE_KEY: kind.encode()},
            data=data,
        )

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        kind = payload.metadata.get(_TYPE_KEY, b"msgpack").decode()
        return serde.serializer().loads_typed((kind, payload.data))


class TempographPayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(
            BinaryNullPayloadConverter(),
            PlainJSONPayloadConverter(),
            LangGraphPayloadConverter(),
        )


DATA_CONVERTER = DataConverter(payload_converter_class=TempographPayloadConverter)
