"""LangGraph and LangChain types survive Temporal's payload conversion with their types."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import ormsgpack
import pydantic
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.types import Command, Interrupt, Send
from temporalio.api.common.v1 import Payload

from tempograph.temporal.codec import data_converter
from tempograph.temporal.converter import LANGGRAPH_ENCODING
from tempograph.workflows import serde

DATA_CONVERTER = data_converter(None)


class Order(pydantic.BaseModel):
    item: str
    quantity: int = 1


@dataclasses.dataclass
class Note:
    text: str
    tags: list[str]


# Graph loading registers a graph's own types like this (tempograph.workflows.serde.graph_types).
serde.allow({(Order.__module__, Order.__qualname__), (Note.__module__, Note.__qualname__)})

VALUES = [
    AIMessage(content="", tool_calls=[{"name": "search", "args": {"q": "x"}, "id": "call-1"}]),
    {"messages": [HumanMessage("hi", id="1"), ToolMessage("42", tool_call_id="call-1")]},
    Send("branch", {"i": 3}),
    Command(goto="next", update={"a": 1}, resume={"id": "yes"}),
    Interrupt(value={"question": "ok?"}, id="abc"),
    Order(item="pen", quantity=2),
    Note("n", ["a"]),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_round_trip_keeps_type_and_value(value: object) -> None:
    converter = DATA_CONVERTER.payload_converter
    (payload,) = converter.to_payloads([value])
    (back,) = converter.from_payloads([payload])
    assert type(back) is type(value)
    assert back == value


def test_plain_json_stays_readable_json() -> None:
    (payload,) = DATA_CONVERTER.payload_converter.to_payloads([{"step": 3, "ok": [True, None]}])
    assert payload.metadata["encoding"] == b"json/plain"
    assert payload.data == b'{"ok":[true,null],"step":3}'


def test_tuples_arrive_as_lists_as_in_langgraph_checkpointers() -> None:
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    serde = JsonPlusSerializer()
    (payload,) = DATA_CONVERTER.payload_converter.to_payloads([(1, "t")])
    (back,) = DATA_CONVERTER.payload_converter.from_payloads([payload])
    assert back == serde.loads_typed(serde.dumps_typed((1, "t"))) == [1, "t"]


class Unlisted(pydantic.BaseModel):
    secret: str


def test_a_type_off_the_allowlist_is_not_rebuilt() -> None:
    converter = DATA_CONVERTER.payload_converter
    (payload,) = converter.to_payloads([Unlisted(secret="s")])
    (back,) = converter.from_payloads([payload])
    assert back == {"secret": "s"}


def test_a_payload_naming_a_callable_does_not_run_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    constructor_single_arg = 0  # LangGraph's ext code for module.name(arg)
    data = ormsgpack.packb(
        ormsgpack.Ext(constructor_single_arg, ormsgpack.packb(["os", "system", f"touch {marker}"]))
    )
    payload = Payload(
        metadata={"encoding": LANGGRAPH_ENCODING, "langgraph-type": b"msgpack"}, data=data
    )
    (back,) = DATA_CONVERTER.payload_converter.from_payloads([payload])
    assert not marker.exists()
    assert back == f"touch {marker}"
