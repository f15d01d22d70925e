"""Content-addressed, immutable values: the store behind claim checks and checkpoints.

A value is kept under the SHA-256 of its bytes and never changes, so storing it twice is
a no-op and its hash stays a valid reference for as long as anything may read it: a
replayed or reset workflow's history, a checkpoint, a stream event. Values are never
deleted by Tempograph (deleting a thread deletes its checkpoints, not the values they
shared); :data:`MAX_VALUE_BYTES` caps one value.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import asyncpg

from tempograph.crypto import DecryptionError, KeyRing, is_sealed
from tempograph.errors import ErrorCode, TempographError
from tempograph.workflows.values import digest

# One value at most (a part, or a whole payload). Postgres takes up to 1 GB in a bytea;
# past a few hundred MB a value is a memory problem for every process that reads it.
MAX_VALUE_BYTES = 256 * 1024 * 1024


class ValueTooLarge(TempographError):
    """A value exceeds :data:`MAX_VALUE_BYTES`."""

    code = ErrorCode.INVALID_INPUT


class MissingValue(TempographError):
    """A referenced value is not in the store (it was never stored here)."""

    code = ErrorCode.NOT_FOUND


class _ByteLRU:
    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self._items: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes) -> bytes | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: bytes, data: bytes) -> None:
        if len(data) > self.budget:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.used -= len(old)
            self._items[key] = data
            self.used += len(data)
            while self.used > self.budget:
                _, dropped = self._items.popitem(last=False)
                self.used -= len(dropped)


class _KnownSet:
    """Hashes known to be stored (bounded; forgetting one only costs a redundant write)."""

    def __init__(self, limit: int = 200_000) -> None:
        self._limit = limit
        self._items: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def add_all(self, keys: Iterable[bytes]) -> None:
        with self._lock:
            for key in keys:
                self._items[key] = None
                self._items.move_to_end(key)
            while len(self._items) > self._limit:
                self._items.popitem(last=False)


class ValueStore(ABC):
    """Content-addressed values, with a cache of recent ones in front."""

    def __init__(self, cache_bytes: int = 16 * 1024 * 1024) -> None:
        self._cache = _ByteLRU(cache_bytes)
        self._known = _KnownSet()

    async def put_many(self, values: Mapping[bytes, bytes]) -> None:
        """Store ``values`` (hash -> bytes); those already stored are skipped."""
        new = {h: d for h, d in values.items() if h not in self._known}
        for data in new.values():
            if len(data) > MAX_VALUE_BYTES:
                raise ValueTooLarge(
                    f"a value of {len(data)} bytes exceeds the {MAX_VALUE_BYTES}-byte limit"
                )
        if new:
            await self._write(new)
            self._known.add_all(new)
        for part_hash, data in values.items():
            self._cache.put(part_hash, data)

    async def get_many(self, hashes: Sequence[bytes]) -> dict[bytes, bytes]:
        """The bytes of each hash; :class:`MissingValue` if one is not stored."""
        found: dict[bytes, bytes] = {}
        missing: list[bytes] = []
        for part_hash in dict.fromkeys(hashes):
            data = self._cache.get(part_hash)
            if data is None:
                missing.append(part_hash)
            else:
                found[part_hash] = data
        if missing:
            fetched = await self._read(missing)
            absent = [h for h in missing if h not in fetched]
            if absent:
                raise MissingValue(
                    f"{len(absent)} referenced value(s) are not stored, e.g. {absent[0].hex()}"
                )
            for part_hash, data in fetched.items():
                self._cache.put(part_hash, data)
            self._known.add_all(fetched)
            found.update(fetched)
        return found

    def known(self, part_hash: bytes) -> bool:
        return part_hash in self._known

    @abstractmethod
    async def _write(self, values: Mapping[bytes, bytes]) -> None: ...

    @abstractmethod
    async def _read(self, hashes: Sequence[bytes]) -> dict[bytes, bytes]: ...


class PostgresValueStore(ValueStore):
    """Values in ``tempograph_values``; the pool comes from ``pool`` (opened on demand).

    With a key ring (by default the one the environment configures, see
    :mod:`tempograph.crypto`) each value is stored sealed with AES-GCM; values stored
    before encryption was on are read as they are. The key stays the SHA-256 of the
    plaintext: a replay names values by it."""

    def __init__(
        self,
        pool: Callable[[], Awaitable[asyncpg.Pool]],
        cache_bytes: int = 16 * 1024 * 1024,
        keys: KeyRing | Literal["env"] | None = "env",
    ) -> None:
        super().__init__(cache_bytes)
        self._pool = pool
        self.keys = KeyRing.load() if keys == "env" else keys

    async def _write(self, values: Mapping[bytes, bytes]) -> None:
        pool = await self._pool()
        keys = self.keys
        await pool.execute(
            "INSERT INTO tempograph_values (hash, data)"
            " SELECT * FROM unnest($1::bytea[], $2::bytea[]) ON CONFLICT DO NOTHING",
            list(values),
            [keys.seal(v, k) for k, v in values.items()] if keys else list(values.values()),
        )

    async def _read(self, hashes: Sequence[bytes]) -> dict[bytes, bytes]:
        pool = await self._pool()
        records = await pool.fetch(
            "SELECT hash, data FROM tempograph_values WHERE hash = ANY($1::bytea[])", list(hashes)
        )
        out: dict[bytes, bytes] = {}
        for record in records:
            key, data = bytes(record["hash"]), bytes(record["data"])
            if is_sealed(data):
                if self.keys is None:
                    raise DecryptionError("an encrypted value, and no encryption key configured")
                data = self.keys.open(data, key)
            out[key] = data
        return out


class MemoryValueStore(ValueStore):
    """Values in a dict: unit tests, and replaying committed histories (``load``/``dump``
    a JSON file of base64 values)."""

    def __init__(self, values: Mapping[bytes, bytes] | None = None) -> None:
        super().__init__()
        self.values: dict[bytes, bytes] = dict(values or {})
        self._lock = asyncio.Lock()

    async def _write(self, values: Mapping[bytes, bytes]) -> None:
        for part_hash, data in values.items():
            if digest(data) != part_hash:
                raise ValueError(f"value stored under {part_hash.hex()} has another hash")
            self.values[part_hash] = data

    async def _read(self, hashes: Sequence[bytes]) -> dict[bytes, bytes]:
        return {h: self.values[h] for h in hashes if h in self.values}

    @classmethod
    def load(cls, path: Path) -> MemoryValueStore:
        raw = json.loads(path.read_text()) if path.exists() else {}
        return cls({bytes.fromhex(k): base64.b64decode(v) for k, v in raw.items()})

    def dump(self, path: Path, only: Iterable[bytes] | None = None) -> None:
        keys = sorted(set(only) & set(self.values) if only is not None else self.values)
        path.write_text(
            json.dumps({k.hex(): base64.b64encode(self.values[k]).decode() for k in keys}, indent=0)
        )
