"""State values split into content-addressed parts, so a large state costs its delta.

Every value that can be large (channel values in checkpoints, a node's input and
output, stream events, a run's output) travels and is stored as an
:class:`EncodedValue`: a small description that names its *parts* by the SHA-256 of
their bytes. Parts are immutable and kept once (``tempograph_values`` in Postgres, see
:mod:`tempograph.temporal.codec`), so Temporal payloads and checkpoint rows stay small
whatever the state's size:

* a list of at least :data:`LIST_MIN` items is cut into parts of :data:`CHUNK` items at
  fixed positions, so appending to a 1,000-message conversation makes one new part and
  leaves the other 31 as they were;
* a list item that serializes to :data:`LEAF_MIN` bytes or more (a big tool output, a
  pasted document) is a part of its own, in a list of any length, and so are the items
  of its chunk: a new message after it never copies it;
* any other value that serializes to :data:`LEAF_MIN` bytes or more is a part of its own;
* a dict is encoded key by key (three levels deep), so a state's long message list and its
  other keys are parts of their own;
* a LangGraph ``Send`` (and a list holding some) is encoded around its argument, so a
  ``Send`` that carries the whole state (``create_react_agent`` sends each tool call with
  it) names the state's own parts instead of copying it at every step;
* anything else is serialized inline with LangGraph's serializer.

Records that carry encoded values collect the parts' bytes in a :class:`PartTable`;
the payload converter moves them out of the record and the codec stores them, so the
history holds hashes only.

Serializing the same unchanged items again would cost the whole state at every step,
so workflow code remembers the parts it made from unchanged objects, and decoded parts
are cached (:mod:`tempograph.workflows.value_caches`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ormsgpack
from langgraph.checkpoint.serde.jsonplus import _msgpack_enc
from langgraph.types import Send

from tempograph.workflows.serde import serializer
from tempograph.workflows.value_caches import (
    DecodedCache,
    Memo,
    ValueCaches,
    caches,
    configure,
)

LIST_MIN = 64
CHUNK = 32
LEAF_MIN = 16 * 1024
_MAP_DEPTH = 3
_MAP_MAX_KEYS = 256

# EncodedValue kinds.
INLINE = "inline"  # ``data`` is the LangGraph-serialized value
CHUNKS = "chunks"  # a list: the concatenation of its parts (each a serialized sub-list)
BLOB = "blob"  # one part: the serialized value
MAP = "map"  # a dict: ``entries`` key by key
EMPTY = "empty"  # a channel with no value (LangGraph's ("empty", b""))
SEND = "send"  # a Send: ``data`` its node's name (UTF-8), ``entries["arg"]`` its argument
ITEMS = "items"  # a list holding a Send: ``entries`` item by item, keyed "0", "1", ...


def digest(data: bytes) -> bytes:
    """The content address of ``data``: its SHA-256."""
    return hashlib.sha256(data).digest()


@dataclass
class PartData:
    """A part's bytes where they travel with a record. ``needed``: the receiver decodes
    the part (the codec fetches the bytes back after storing them); otherwise the
    receiver only stores references to it. ``kind`` is informational: the value that
    names a part says how to read it."""

    kind: str
    data: bytes | None
    needed: bool = True


@dataclass
class PartTable:
    """The parts a record carries, by hash; filled by :func:`encode`."""

    parts: dict[bytes, PartData] = field(default_factory=dict)

    def add(self, part_hash: bytes, kind: str, data: bytes | None, needed: bool) -> None:
        known = self.parts.get(part_hash)
        if known is None:
            self.parts[part_hash] = PartData(kind, data, needed)
        else:
            known.needed = known.needed or needed
            if known.data is None:
                known.data = data

    def drop_stored(self, stored: set[bytes]) -> None:
        """Leave out the bytes of parts already in the value store: the receiver's codec
        fetches those it decodes, and a big part is not copied through workflow code."""
        for part_hash, part in self.parts.items():
            if part.data is not None and part_hash in stored:
                part.data = None

    def merge(self, other: PartTable) -> None:
        for part_hash, part in other.parts.items():
            self.add(part_hash, part.kind, part.data, part.needed)


@dataclass
class EncodedValue:
    """A value as parts and a small description (see the module docstring)."""

    kind: str
    data: bytes = b""
    serde_kind: str = ""
    parts: list[bytes] = field(default_factory=list)
    entries: dict[str, EncodedValue] = field(default_factory=dict)

    def part_hashes(self) -> list[bytes]:
        """Every part this value names, its entries' included."""
        found = list(self.parts)
        for entry in self.entries.values():
            found.extend(entry.part_hashes())
        return found

    def size(self) -> int:
        """Bytes described inline (parts not counted)."""
        return len(self.data) + sum(e.size() for e in self.entries.values())


# -- encoding -------------------------------------------------------------------------


def _serialize(value: Any) -> tuple[str, bytes]:
    kind, data = serializer().dumps_typed(value)
    return kind, data


def _part(value: Any, table: PartTable, memo: Memo | None, needed: bool) -> tuple[bytes, str]:
    """Serialize ``value`` (a sub-list or a big leaf) as one part; its hash and kind."""
    found = memo.get(value) if memo is not None else None
    if found is None:
        kind, data = _serialize(value)
        found = (digest(data), kind, data)
        if memo is not None:
            memo.put(value, found)
    part_hash, kind, data = found
    table.add(part_hash, kind, data, needed)
    return part_hash, kind


def _array_header(n: int) -> bytes:
    """msgpack's array header for ``n`` items (as ormsgpack writes it)."""
    if n < 16:
        return bytes([0x90 | n])
    if n < 1 << 16:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def _list(value: list[Any], table: PartTable, memo: Memo | None, needed: bool) -> EncodedValue:
    """A list as chunks of :data:`CHUNK` items at fixed positions, a chunk holding a big
    item as one part per item; a short list of small items inline, as one value.

    Items are serialized one by one: a serialized list is its array header followed by
    its items' bytes, so a chunk's part is the same bytes as the chunk serialized whole,
    and each item's size is known without serializing anything twice. The memo only
    saves serializing: what the list becomes depends on its content alone, never on
    what the process encoded before (a replay on another worker makes the same)."""
    parts: list[tuple[bytes, str, bytes]] = []
    # Chunks of small items: (chunk, its items' bytes, its part if known, where in parts).
    small: list[tuple[list[Any], bytes, tuple[bytes, str, bytes] | None, int]] = []
    chunked = len(value) >= LIST_MIN
    for start in range(0, len(value), CHUNK):
        chunk = value[start : start + CHUNK]
        found = memo.get(chunk) if memo is not None else None
        if found is not None:  # made from these very items, all small (never changed)
            small.append((chunk, found[2][len(_array_header(len(chunk))) :], found, len(parts)))
            continue
        ones = [memo.get([item]) if memo is not None else None for item in chunk]
        datas = [
            one[2][1:] if one else _msgpack_enc(item) for one, item in zip(ones, chunk, strict=True)
        ]
        if all(len(d) < LEAF_MIN for d in datas):
            small.append((chunk, b"".join(datas), None, len(parts)))
            continue
        chunked = True
        for item, one, data in zip(chunk, ones, datas, strict=True):
            parts.append(one or _remember([item], data, memo))
    if not chunked:
        data = _array_header(len(value)) + b"".join(body for _, body, _, _ in small)
        return EncodedValue(INLINE, data=data, serde_kind="msgpack")
    for chunk, body, found, at in reversed(small):
        parts.insert(at, found or _remember(chunk, body, memo))
    for part_hash, kind, data in parts:
        table.add(part_hash, kind, data, needed)
    return EncodedValue(CHUNKS, serde_kind="msgpack", parts=[p[0] for p in parts])


def _remember(items: list[Any], body: bytes, memo: Memo | None) -> tuple[bytes, str, bytes]:
    """The part of ``items`` (``body``: their bytes, without the array header)."""
    data = _array_header(len(items)) + body
    piece = (digest(data), "msgpack", data)
    if memo is not None:
        memo.put(items, piece)
    return piece


def encode(
    value: Any,
    table: PartTable,
    *,
    memo: bool = False,
    needed: bool = True,
    _depth: int = 0,
) -> EncodedValue:
    """``value`` as an :class:`EncodedValue`; its parts' bytes go into ``table``.

    ``memo``: reuse parts of unchanged items (workflow code only, see the module
    docstring). ``needed``: whether the receiver of ``table`` decodes the parts.
    """
    use = caches().memo if memo else None
    if _depth < _MAP_DEPTH and (
        isinstance(value, Send)
        or (
            isinstance(value, list)
            and 0 < len(value) <= _MAP_MAX_KEYS
            and any(isinstance(item, Send) for item in value)
        )
    ):
        # Wrappers, not levels: a Send's argument is mapped as deep as a value is.
        inner = [value.arg] if isinstance(value, Send) else value
        items = [encode(v, table, memo=memo, needed=needed, _depth=_depth) for v in inner]
        if any(e.kind != INLINE for e in items):
            if isinstance(value, Send):
                return EncodedValue(SEND, data=value.node.encode(), entries={"arg": items[0]})
            return EncodedValue(ITEMS, entries={str(i): e for i, e in enumerate(items)})
    if isinstance(value, list) and value:
        return _list(value, table, use, needed)
    if isinstance(value, str | bytes) and len(value) >= LEAF_MIN:
        part_hash, kind = _part(value, table, use, needed)
        return EncodedValue(BLOB, serde_kind=kind, parts=[part_hash])
    if (
        type(value) is dict
        and _depth < _MAP_DEPTH
        and 0 < len(value) <= _MAP_MAX_KEYS
        and all(isinstance(k, str) for k in value)
    ):
        entries = {
            k: encode(v, table, memo=memo, needed=needed, _depth=_depth + 1)
            for k, v in value.items()
        }
        if any(e.kind != INLINE for e in entries.values()):
            return EncodedValue(MAP, entries=entries)
    kind, data = _serialize(value)
    if len(data) < LEAF_MIN:
        return EncodedValue(INLINE, data=data, serde_kind=kind)
    # Not remembered by identity: an object other than a list item may change in place
    # (a reducer that updates a dict), and a stale part would lose the change.
    part_hash = digest(data)
    table.add(part_hash, kind, data, needed)
    return EncodedValue(BLOB, serde_kind=kind, parts=[part_hash])


# -- decoding -------------------------------------------------------------------------

PartSource = Callable[[bytes], PartData]


class MissingPart(LookupError):
    """A part's bytes are not available where the value is decoded."""


def decode(
    encoded: EncodedValue, source: PartSource, partition: str = "", *, remember: bool = True
) -> Any:
    """The value ``encoded`` describes. ``source`` gives a part's bytes by hash;
    ``partition`` keeps decoded objects of different consumers apart. ``remember``: keep
    the decoded objects in the caches; not for values the caller may change in place
    (a node's result, whose new messages LangGraph's reducer gives ids)."""
    if encoded.kind == INLINE:
        return serializer().loads_typed((encoded.serde_kind, encoded.data))
    if encoded.kind == CHUNKS:
        out: list[Any] = []
        for part_hash in encoded.parts:
            out.extend(_decoded_part(part_hash, encoded.serde_kind, source, partition, remember))
        return out
    if encoded.kind == BLOB:
        return _decoded_part(encoded.parts[0], encoded.serde_kind, source, partition, remember)
    if encoded.kind == MAP:
        return {
            k: decode(v, source, partition, remember=remember) for k, v in encoded.entries.items()
        }
    if encoded.kind == SEND:
        arg = decode(encoded.entries["arg"], source, partition, remember=remember)
        return Send(encoded.data.decode(), arg)
    if encoded.kind == ITEMS:
        return [
            decode(encoded.entries[str(i)], source, partition, remember=remember)
            for i in range(len(encoded.entries))
        ]
    if encoded.kind == EMPTY:
        raise ValueError("an empty channel has no value")
    raise ValueError(f"unknown encoded value kind {encoded.kind!r}")


def _decoded_part(
    part_hash: bytes, kind: str, source: PartSource, partition: str, remember: bool
) -> Any:
    cache = caches()
    found = cache.decoded.get(partition, part_hash)
    if found is None:
        part = source(part_hash)
        if part.data is None:
            raise MissingPart(f"part {part_hash.hex()} has no bytes here")
        found = serializer().loads_typed((kind, part.data))
        if remember:
            cache.decoded.put(partition, part_hash, found, len(part.data))
            if partition == SHARED and isinstance(found, list | str | bytes):
                # Encoding these very objects again (the state a run starts from) is free.
                cache.memo.put(found, (part_hash, kind, part.data))
    return list(found) if isinstance(found, list) else found


# The partition of workflow code and of our own records; node inputs use the thread's.
SHARED = ""


def table_source(table: PartTable) -> PartSource:
    """A :data:`PartSource` reading ``table``."""

    def source(part_hash: bytes) -> PartData:
        part = table.parts.get(part_hash)
        if part is None:
            raise MissingPart(f"part {part_hash.hex()} is not in the record")
        return part

    return source


def empty() -> EncodedValue:
    return EncodedValue(EMPTY)


def _plain(value: EncodedValue) -> list[Any]:
    return [
        value.kind,
        value.data,
        value.serde_kind,
        value.parts,
        {k: _plain(v) for k, v in value.entries.items()},
    ]


def _from_plain(raw: list[Any]) -> EncodedValue:
    kind, data, serde_kind, parts, entries = raw
    return EncodedValue(
        kind,
        bytes(data),
        serde_kind,
        [bytes(h) for h in parts],
        {k: _from_plain(v) for k, v in entries.items()},
    )


def pack(value: EncodedValue) -> bytes:
    """``value``'s description as bytes (a checkpoint blob or write row in Postgres)."""
    return ormsgpack.packb(_plain(value))


def unpack(data: bytes) -> EncodedValue:
    return _from_plain(ormsgpack.unpackb(data))


__all__ = [
    "BLOB",
    "CHUNK",
    "CHUNKS",
    "EMPTY",
    "INLINE",
    "ITEMS",
    "LEAF_MIN",
    "LIST_MIN",
    "MAP",
    "SEND",
    "SHARED",
    "DecodedCache",
    "EncodedValue",
    "Memo",
    "MissingPart",
    "PartData",
    "PartTable",
    "ValueCaches",
    "caches",
    "configure",
    "decode",
    "digest",
    "empty",
    "encode",
    "pack",
    "table_source",
    "unpack",
]
