"""A node's call comes without its parts' bytes; its activity fetches only those its
thread's decoded parts lack (NodeActivities._node_input)."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from tempograph.activities.nodes import NodeActivities
from tempograph.temporal.codec import data_converter
from tempograph.valuestore import MemoryValueStore
from tempograph.workflows import value_caches
from tempograph.workflows.types import NodeCall
from tempograph.workflows.values import PartTable, encode


class CountingStore(MemoryValueStore):
    def __init__(self) -> None:
        super().__init__()
        self.asked: list[bytes] = []

    async def get_many(self, hashes: Sequence[bytes]) -> dict[bytes, bytes]:
        self.asked += hashes
        return await super().get_many(hashes)


def state(n: int) -> dict[str, Any]:
    kinds = (HumanMessage, AIMessage)
    return {"messages": [kinds[i % 2](f"{i} " + "w" * 500, id=f"m{i}") for i in range(n)]}


async def sent(store: MemoryValueStore, value: Any) -> NodeCall:
    """``value`` as a node's call, through the converter and codec both ways."""
    table = PartTable()
    call = NodeCall(
        activity_type="g.n",
        kind="node",
        task_ref=None,
        input=encode(value, table),
        config={"configurable": {"thread_id": "t"}},
        checkpoint_ns="",
        task_id="task",
        parts=table,
    )
    converter = data_converter(store)
    (back,) = await converter.decode(await converter.encode([call]), [NodeCall])
    assert all(part.data is None for part in back.parts.parts.values())
    return back  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def fresh_caches() -> None:
    value_caches.configure(64 * 1024 * 1024)


async def test_only_the_parts_the_thread_lacks_decoded_are_fetched() -> None:
    store = CountingStore()
    nodes = NodeActivities({}, SimpleNamespace(values=store))  # type: ignore[arg-type]
    first = state(200)
    assert await nodes._node_input(await sent(store, first)) == first
    assert len(store.asked) == len(set(store.asked)) == 7  # 200 messages: 7 chunks
    store.asked.clear()
    grown = {"messages": [*first["messages"], HumanMessage("one more", id="m200")]}
    assert await nodes._node_input(await sent(store, grown)) == grown
    assert len(store.asked) == 1  # the last chunk changed; the others are decoded already


async def test_a_part_evicted_meanwhile_is_fetched_after_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cache said it held a part, then lost it before the decode read it."""
    store = CountingStore()
    nodes = NodeActivities({}, SimpleNamespace(values=store))  # type: ignore[arg-type]
    monkeypatch.setattr(value_caches.DecodedCache, "holds", lambda *_: True)
    value = state(100)
    assert await nodes._node_input(await sent(store, value)) == value
    assert len(store.asked) == 4
