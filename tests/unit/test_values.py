"""Encoded values: round trips, parts shared between versions, rendering, the codec."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.types import Send

from tempograph import render as render_module
from tempograph.render import RenderPlan, render
from tempograph.temporal.codec import INLINE_LIMIT, ClaimCheckCodec, data_converter
from tempograph.valuestore import MemoryValueStore, MissingValue
from tempograph.workflows import value_caches
from tempograph.workflows.jsonable import dumps, to_jsonable
from tempograph.workflows.types import NodeCall, NodeResult, StreamSpec
from tempograph.workflows.values import (
    BLOB,
    CHUNK,
    CHUNKS,
    INLINE,
    MAP,
    SHARED,
    PartTable,
    decode,
    encode,
    pack,
    table_source,
    unpack,
)


def conversation(n: int) -> list[Any]:
    return [
        (HumanMessage if i % 2 == 0 else AIMessage)(content=f"{'x' * 480} {i}", id=f"m-{i}")
        for i in range(n)
    ]


@pytest.mark.parametrize(
    "value",
    [
        None,
        {"a": 1, "b": [1, 2, 3]},
        list(range(500)),
        "y" * 100_000,
        b"z" * 70_000,
        {"messages": conversation(100), "summary": "short", "n": 3},
        {"outer": {"inner": {"messages": conversation(70)}}},
        [Send("node", {"x": i}) for i in range(80)],
        (1, 2, 3),
    ],
)
def test_round_trip(value: Any) -> None:
    table = PartTable()
    encoded = unpack(pack(encode(value, table)))
    back = decode(encoded, table_source(table), SHARED)
    expected = list(value) if isinstance(value, tuple) else value
    assert back == expected


def test_small_dicts_are_one_inline_value() -> None:
    table = PartTable()
    assert encode({"a": 1, "b": "two"}, table).kind == INLINE
    assert not table.parts


def test_a_long_conversation_is_a_map_of_chunks() -> None:
    table = PartTable()
    encoded = encode({"messages": conversation(1000), "n": 1}, table)
    assert encoded.kind == MAP
    assert encoded.entries["messages"].kind == CHUNKS
    assert len(encoded.entries["messages"].parts) == 32
    assert encoded.entries["n"].kind == INLINE
    assert encode("q" * 20_000, PartTable()).kind == BLOB


def test_appending_a_message_changes_only_the_last_part() -> None:
    messages = conversation(1000)
    first = encode(messages, PartTable(), memo=True)
    table = PartTable()
    second = encode([*messages, AIMessage(content="new", id="m-new")], table, memo=True)
    assert second.parts[:-1] == first.parts[:-1]
    assert second.parts[-1] != first.parts[-1]
    # Without the memo the bytes are the same: content decides the hash, not identity.
    assert encode(list(messages), PartTable()).parts == first.parts


def test_decoded_lists_are_fresh_lists() -> None:
    table = PartTable()
    encoded = encode(list(range(100)), table)
    first = decode(encoded, table_source(table), "t1")
    first.append("mutated")
    assert decode(encoded, table_source(table), "t1") == list(range(100))


def test_render_is_dumps_of_to_jsonable() -> None:
    value = {"messages": conversation(130), "count": 2, "tags": ["a", "b"]}
    table = PartTable()
    encoded = encode(value, table)
    plan = RenderPlan([encoded])
    parts = {h: table.parts[h].data for h in plan.missing}
    assert render(encoded, parts, plan) == dumps(to_jsonable(value))  # type: ignore[arg-type]
    # The second time the parts' texts are cached: no bytes needed.
    again = RenderPlan([encoded])
    assert again.missing == []
    assert render(encoded, {}, again) == dumps(to_jsonable(value))


def test_a_render_keeps_the_texts_its_plan_found_while_the_cache_evicts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two big values in one state, over the text cache's budget: rendering the one not
    cached caches its text and evicts the other's, which the plan said needs no bytes."""
    monkeypatch.setattr(render_module, "_TEXTS", render_module._TextCache(budget=150_000))
    monkeypatch.setattr(value_caches._Process, "caches", value_caches.ValueCaches.with_budget(2))
    value = {"a": "A" * 100_000, "b": "B" * 100_000}
    table = PartTable()
    encoded = encode(value, table)
    everything = {h: p.data for h, p in table.parts.items()}
    render(encoded, everything)  # caches b's text (a's was evicted for it)
    plan = RenderPlan([encoded])
    assert len(plan.missing) == 1 and len(plan.texts) == 1
    parts = {h: everything[h] for h in plan.missing}
    assert render(encoded, parts, plan) == dumps(value)  # type: ignore[arg-type]


def node_call(value: Any) -> NodeCall:
    table = PartTable()
    return NodeCall(
        activity_type="g.n",
        kind="node",
        task_ref=None,
        input=encode(value, table, memo=True),
        config={"configurable": {"thread_id": "t"}},
        checkpoint_ns="",
        task_id="task",
        stream=StreamSpec("run"),
        parts=table,
    )


def node_result(value: Any) -> NodeResult:
    table = PartTable()
    return NodeResult(output=encode(value, table), parts=table)


async def test_codec_keeps_payloads_small_and_round_trips() -> None:
    store = MemoryValueStore()
    converter = data_converter(store)
    big = {"messages": conversation(1000), "doc": "d" * 3_000_000}
    payloads = await converter.encode([node_call(big), node_result(big)])
    assert all(p.ByteSize() <= INLINE_LIMIT + 200 for p in payloads)
    back, result = await converter.decode(payloads, [NodeCall, NodeResult])
    assert result.output is not None
    assert decode(result.output, table_source(result.parts), SHARED) == big
    # A node's call comes without its parts' bytes: its activity fetches those it decodes
    # (NodeActivities._node_input).
    assert all(part.data is None for part in back.parts.parts.values())
    found = await store.get_many(list(back.parts.parts))
    for part_hash, part in back.parts.parts.items():
        part.data = found[part_hash]
    assert decode(back.input, table_source(back.parts), back.thread_id) == big
    # A step later, one new message: only one new part is stored.
    before = len(store.values)
    await converter.encode([node_call({**big, "messages": [*big["messages"], "new"]})])
    assert len(store.values) - before <= 2  # the changed part, and the payload itself


async def test_a_missing_value_is_an_error_not_silence() -> None:
    codec = ClaimCheckCodec(MemoryValueStore())
    payloads = await data_converter(MemoryValueStore()).encode([node_result("x" * 50_000)])
    with pytest.raises(MissingValue):
        await codec.decode(payloads)


def test_our_records_are_written_exactly_as_langgraph_writes_them() -> None:
    from tempograph.workflows.serde import dumps, serializer

    call = node_call({"messages": conversation(70), "n": 1})
    assert dumps(call) == serializer().dumps_typed(call)


def test_a_short_list_of_small_items_is_the_serializer_own_bytes() -> None:
    from tempograph.workflows.serde import serializer

    items: list[Any] = [None, 1, "a", b"b", 2.5, {"k": [1]}, HumanMessage("hi", id="1")]
    for n in range(1, 64):
        value = [items[i % len(items)] for i in range(n)]
        table = PartTable()
        encoded = encode(value, table)
        assert encoded.kind == INLINE and not table.parts
        assert (encoded.serde_kind, encoded.data) == serializer().dumps_typed(value)


@pytest.mark.parametrize("memo", [False, True])
def test_a_big_message_in_a_short_conversation_is_stored_once(memo: bool) -> None:
    big = AIMessage(content="t" * 2_000_000, id="tool-output")
    messages = [HumanMessage("q", id="q"), big, AIMessage("a", id="a")]
    first_table = PartTable()
    first = encode({"messages": messages}, first_table, memo=memo)
    assert first.entries["messages"].kind == CHUNKS
    # Each item of the big item's chunk is a part; the big one is one part of its own.
    assert sorted(len(p.data or b"") for p in first_table.parts.values())[-1] > 2_000_000
    later = [*messages, HumanMessage("q2", id="q2")]
    table = PartTable()
    second = encode({"messages": later}, table, memo=memo)
    new = set(second.entries["messages"].parts) - set(first.entries["messages"].parts)
    assert len(new) == 1 and len(table.parts[new.pop()].data or b"") < 1000
    assert decode(second, table_source(table), SHARED) == {"messages": later}


def test_a_big_item_in_a_long_list_splits_only_its_chunk() -> None:
    messages = conversation(100)
    messages[40] = AIMessage(content="t" * 100_000, id="big")
    table = PartTable()
    encoded = encode(messages, table)
    # Chunks 0 and 2 whole, chunk 1 item by item, the last chunk whole.
    assert len(encoded.parts) == 1 + 32 + 1 + 1
    assert decode(encoded, table_source(table), SHARED) == messages


def test_any_big_value_is_a_part() -> None:
    table = PartTable()
    encoded = encode({"task": ("n", {"doc": "d" * 20_000})}, table)
    assert encoded.kind == MAP and encoded.entries["task"].kind == BLOB
    assert decode(encoded, table_source(table), SHARED)["task"] == ["n", {"doc": "d" * 20_000}]


def test_a_send_carrying_the_state_names_the_states_parts() -> None:
    """create_react_agent sends each tool call with the whole state: the Send (a pending
    write) and the tasks channel's list of them name the conversation's own parts, so a
    step adds a few small parts, not a copy of the state; they read back and render as
    the values they are."""
    messages = conversation(100)
    state = {"messages": messages, "remaining_steps": 20}
    alone = PartTable()
    encode(state, alone)
    call = {"__type": "tool_call_with_context", "tool_call": {"id": "c1"}, "state": state}
    sends = [Send("tools", call), Send("tools", {**call, "tool_call": {"id": "c2"}})]
    for value in (sends[0], sends, {"tasks": sends}):
        table = PartTable()
        encoded = unpack(pack(encode(value, table)))
        assert set(table.parts) == set(alone.parts)
        assert decode(encoded, table_source(table), SHARED) == value
        plan = RenderPlan([encoded])
        shown = render(encoded, {h: table.parts[h].data for h in plan.missing}, plan)
        assert shown == dumps(to_jsonable(value))
    small = [Send("a", {"x": 1}), "b"]
    assert encode(small, PartTable()).kind == INLINE


def test_remembered_items_round_trip_in_lists_of_any_length() -> None:
    """The memo knows items and chunks by identity; a short list made of remembered ones
    (a pending write of the message that ended a 65-message list, a one-item list of a
    big message) is parts, never an inline value missing them."""
    messages = conversation(65)
    big = AIMessage(content="t" * 20_000, id="big")
    encode(messages, PartTable(), memo=True)
    encode([big, *messages[:3]], PartTable(), memo=True)
    for value in ([messages[64]], messages[:40], [big], [big, messages[0]], messages[32:64]):
        table = PartTable()
        encoded = encode(value, table, memo=True)
        assert decode(unpack(pack(encoded)), table_source(table), "t") == value


def test_lists_round_trip_whatever_the_memo_holds() -> None:
    """Lists of every shape, made of the same objects in changing orders and lengths, as
    LangGraph's reducers make them: with the memo filling up (by encoding and by decoding
    parts), every encoding reads back as its list."""
    import random

    rng = random.Random(8)
    pool: list[Any] = [
        *conversation(40),
        *(AIMessage(content=str(i) * 20_000, id=f"big-{i}") for i in range(3)),
        *("s" * n for n in (10, 20_000)),
        *({"n": i} for i in range(5)),
    ]
    for _ in range(300):
        value = [rng.choice(pool) for _ in range(rng.choice([1, 2, 31, 32, 33, 63, 64, 65, 97]))]
        table = PartTable()
        encoded = unpack(pack(encode(value, table, memo=True)))
        assert decode(encoded, table_source(table), rng.choice([SHARED, "t"])) == value


def test_nan_and_infinities_render_as_null() -> None:
    """JSON has no NaN: a client's parser (the SDK's) refuses the bare token. Null, as
    orjson and so LangGraph Server write it, whether the value is inline or in parts."""
    value = {"score": float("nan"), "bounds": [float("-inf"), 1.5, float("inf")]}
    expected = '{"score":null,"bounds":[null,1.5,null]}'
    assert dumps(to_jsonable(value)) == dumps(value) == expected
    for shape in (value, {**value, "big": "x" * 20_000, "items": list(range(70))}):
        table = PartTable()
        encoded = encode(shape, table)
        plan = RenderPlan([encoded])
        text = render(encoded, {h: table.parts[h].data for h in plan.missing}, plan)
        assert json.loads(text, parse_constant=lambda c: pytest.fail(c))["score"] is None


def test_what_a_list_becomes_depends_on_its_content_not_on_the_memo() -> None:
    """Small ints (and interned strings) are shared objects, so the memo may know a
    short list's items from another list. The short list is still inline: a replay on
    a fresh worker, with an empty memo, must make the same activity inputs."""
    big = "x" * 20_000
    encode(list(range(100)), PartTable(), memo=True)  # remembers the chunk 0..31
    encode([big, 7, 8], PartTable(), memo=True)  # a chunk with a big item: one part each
    for short in (list(range(CHUNK)), [7, 8], [7, 8, *range(10)]):
        made = encode(short, PartTable(), memo=True)
        assert made == encode(short, PartTable()) and made.kind == INLINE
    assert encode([big, 7], PartTable(), memo=True) == encode([big, 7], PartTable())


def test_a_message_without_an_id_is_never_remembered_or_shared() -> None:
    """LangGraph's add_messages gives a message without an id its id in place. Encoded
    before that (a node's pending write) and again after it (the checkpoint), the second
    encoding holds the id; and decoding the same bytes twice (two places, two threads)
    gives two objects, so one id given to one never lands on the other."""
    for items in (
        [AIMessage(content="x" * 20_000)],
        [*conversation(40), AIMessage(content="short")],
    ):
        first = PartTable()
        encode(items, first, memo=True)
        items[-1].id = "given"
        table = PartTable()
        again = encode(items, table, memo=True)
        assert decode(again, table_source(table), SHARED)[-1].id == "given"
        assert again == encode(items, PartTable())

    table = PartTable()
    anonymous = encode([AIMessage(content="y" * 20_000)], table)
    one = decode(anonymous, table_source(table), SHARED)
    two = decode(anonymous, table_source(table), SHARED)
    assert one[0] is not two[0]
    one[0].id = "mine"
    assert two[0].id is None
    assert decode(anonymous, table_source(table), SHARED)[0].id is None
