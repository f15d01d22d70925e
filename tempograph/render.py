"""Encoded values rendered as the JSON LangGraph Server sends (``to_jsonable`` + compact).

A ``values`` event of a 1,000-message thread is half a megabyte of JSON; rendering it
from objects at every step would cost tens of milliseconds. Rendering goes part by part
instead and remembers each part's JSON text by its hash, so a long list costs only its
new part: the text of a list is ``[`` + its parts' texts joined by commas + ``]``, of a
dict its entries' texts, and the result is exactly ``dumps(to_jsonable(value))``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from tempograph.crypto import unsealed
from tempograph.workflows.jsonable import dumps, to_jsonable
from tempograph.workflows.serde import serializer
from tempograph.workflows.values import (
    BLOB,
    CHUNKS,
    EMPTY,
    INLINE,
    ITEMS,
    MAP,
    SEND,
    SHARED,
    EncodedValue,
    PartData,
    decode,
    unpack,
)

if TYPE_CHECKING:
    from tempograph.valuestore import ValueStore


class _TextCache:
    def __init__(self, budget: int = 16 * 1024 * 1024) -> None:
        self._budget = budget
        self._used = 0
        self._items: OrderedDict[bytes, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes) -> str | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: bytes, text: str) -> None:
        if len(text) > self._budget:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self._used -= len(old) if old is not None else 0
            self._items[key] = text
            self._used += len(text)
            while self._used > self._budget:
                _, dropped = self._items.popitem(last=False)
                self._used -= len(dropped)


_TEXTS = _TextCache()


class RenderPlan:
    """What rendering some values takes: the texts of their parts cached when it was made
    (held here, so the cache evicting them meanwhile, while the other parts are fetched or
    while rendering caches new texts, takes nothing away) and the parts to fetch."""

    def __init__(self, values: Iterable[EncodedValue]) -> None:
        self.texts: dict[bytes, str] = {}
        missing: dict[bytes, None] = {}
        for value in values:
            for part_hash in value.part_hashes():
                text = _TEXTS.get(part_hash)
                if text is not None:
                    self.texts[part_hash] = text
                else:
                    missing[part_hash] = None
        self.missing = list(missing)


def render(
    value: EncodedValue, parts: Mapping[bytes, bytes], plan: RenderPlan | None = None
) -> str:
    """``value`` as compact JSON; ``parts`` has the bytes of ``plan.missing`` (of every
    part, without a plan)."""
    texts = plan.texts if plan is not None else {}
    if value.kind == INLINE:
        return dumps(to_jsonable(serializer().loads_typed((value.serde_kind, value.data))))
    if value.kind == MAP:
        return (
            "{"
            + ",".join(
                f"{dumps(str(k))}:{render(v, parts, plan)}" for k, v in value.entries.items()
            )
            + "}"
        )
    if value.kind == CHUNKS:
        chunks = [_part_text(h, value.serde_kind, parts, texts, items=True) for h in value.parts]
        return "[" + ",".join(t for t in chunks if t) + "]"
    if value.kind == BLOB:
        return _part_text(value.parts[0], value.serde_kind, parts, texts, items=False)
    if value.kind == SEND:  # as to_jsonable shows a Send
        arg = render(value.entries["arg"], parts, plan)
        return f'{{"node":{dumps(value.data.decode())},"arg":{arg}}}'
    if value.kind == ITEMS:
        items = (render(value.entries[str(i)], parts, plan) for i in range(len(value.entries)))
        return "[" + ",".join(items) + "]"
    if value.kind == EMPTY:
        return "null"
    raise ValueError(f"unknown encoded value kind {value.kind!r}")


def _part_text(
    part_hash: bytes,
    kind: str,
    parts: Mapping[bytes, bytes],
    texts: Mapping[bytes, str],
    items: bool,
) -> str:
    text = texts.get(part_hash)
    if text is None:
        text = _TEXTS.get(part_hash)
    if text is None:
        decoded = decode(
            EncodedValue(CHUNKS if items else BLOB, serde_kind=kind, parts=[part_hash]),
            lambda h: PartData(kind, parts[h]),
            SHARED,
        )
        if items:
            text = ",".join(dumps(to_jsonable(item)) for item in decoded)
        else:
            text = dumps(to_jsonable(decoded))
        _TEXTS.put(part_hash, text)
    return text


async def render_stored(stored: bytes, values: ValueStore) -> str:
    """A value kept encoded in a row (``seal(pack(value))``) as compact JSON; its parts
    come from ``values``."""
    value = unpack(unsealed(bytes(stored)))
    plan = RenderPlan([value])
    return render(value, await values.get_many(plan.missing) if plan.missing else {}, plan)
