"""The process's value caches: parts made from unchanged objects, and decoded parts.

:class:`Memo` remembers, by object identity, the part each chunk of items became
(workflow code only: LangGraph's reducers make new lists of the same item objects; node
code may change its input in place, so activities do not use it). Decoded parts are
cached by hash (:class:`DecodedCache`), in a partition per consumer so an object handed
to one thread's node is never handed to another's. Both are bounded; neither changes a
result, only what it costs, so replay stays deterministic.

One change LangGraph does make in place: ``add_messages`` gives a message without an id
one, on both sides of the merge. So a message without an id is never remembered by
identity nor handed out from the cache (:func:`may_change`): its part would go stale
when it gets its id, and one cached object appearing twice (the same bytes in two
places, two threads) would get one id for both, and the merge would keep one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage


class _LRU:
    """A thread-safe LRU bounded by the sum of its entries' weights."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, value: Any, weight: int) -> None:
        if weight > self.budget:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.used -= old[1]
            self._items[key] = (value, weight)
            self.used += weight
            while self.used > self.budget and self._items:
                _, (_, dropped) = self._items.popitem(last=False)
                self.used -= dropped

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.used = 0


# Decoded objects take a few times their serialized size in memory.
_OBJECT_WEIGHT = 3


class Memo:
    """The part a run of items (or a big string) became, by the items' identity.

    Entries hold the items, so their ids cannot be reused while remembered."""

    def __init__(self, budget: int) -> None:
        self._lru = _LRU(budget)

    @staticmethod
    def _key(items: Any) -> Hashable:
        if isinstance(items, list):
            return ("l", *map(id, items))
        return ("v", id(items))

    def get(self, items: Any) -> tuple[bytes, str, bytes] | None:
        found = self._lru.get(self._key(items))
        if found is None:
            return None
        # The entry holds the objects it was made from, so equal ids mean the same objects.
        _, part = found
        return part  # type: ignore[no-any-return]

    def put(self, items: Any, part: tuple[bytes, str, bytes]) -> None:
        if may_change(items):
            return
        # Weighed by the bytes it holds: the objects are the workflow's state's own.
        self._lru.put(self._key(items), (items, part), len(part[2]))


class DecodedCache:
    """Decoded parts by (partition, hash). Lists come back as new lists of the cached
    items, so a caller that appends to one never changes the cache."""

    def __init__(self, budget: int) -> None:
        self._lru = _LRU(budget)

    def get(self, partition: str, part_hash: bytes) -> Any:
        return self._lru.get((partition, part_hash))

    def holds(self, partition: str, part_hash: bytes) -> bool:
        return self._lru.get((partition, part_hash)) is not None

    def put(self, partition: str, part_hash: bytes, value: Any, size: int) -> None:
        if may_change(value):
            return
        self._lru.put((partition, part_hash), value, size * _OBJECT_WEIGHT)


def may_change(items: Any) -> bool:
    """Whether LangGraph may still change ``items`` (a list, or one value) in place: a
    message without an id, which ``add_messages`` gives one (see the module docstring)."""
    if isinstance(items, list):
        return any(isinstance(item, BaseMessage) and item.id is None for item in items)
    return isinstance(items, BaseMessage) and items.id is None


@dataclass
class ValueCaches:
    """The process's memo and decoded-part cache (see the module docstring)."""

    memo: Memo
    decoded: DecodedCache

    @classmethod
    def with_budget(cls, total_bytes: int) -> ValueCaches:
        return cls(Memo(total_bytes // 2), DecodedCache(total_bytes // 2))


class _Process:
    # Process-wide so every workflow and activity on a worker shares them; set once by
    # configure() when the worker starts. Caching never changes a result.
    caches = ValueCaches.with_budget(64 * 1024 * 1024)


def configure(total_bytes: int) -> None:
    """Size the process's caches (``TEMPOGRAPH_CACHE_MB``)."""
    _Process.caches = ValueCaches.with_budget(total_bytes)


def caches() -> ValueCaches:
    return _Process.caches
