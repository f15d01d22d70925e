"""The claim-check codec: large values leave Temporal's payloads for Postgres.

Temporal caps a payload at 2 MB and a history at 50 MB, and encodes, stores and replays
every byte of both, so Tempograph's payloads carry hashes instead of state:

* a ``binary/tempograph`` payload (a record with parts, see
  :mod:`tempograph.workflows.values`) has each part's bytes stored under its SHA-256
  and removed; on the way back the bytes of the parts the receiver decodes are put back;
* any payload still over :data:`INLINE_LIMIT` is stored whole and replaced by a
  reference (``binary/tempograph-ref``: the hash, and the size in the metadata);
* a local activity's input never reaches Temporal's server (its history records only
  the result): its parts are stored, for the rows that will name them, but its bytes stay
  in the payload, which goes from the workflow to the activity in memory.

Why a codec, and not the SDK's external storage (experimental in this SDK release) or
references in our own records only: a codec sees every payload, the client's updates and
the workflow's failures included, so nothing large can slip past; it can look inside our
records to store a long conversation's unchanged parts once instead of at every step;
and it is the place Temporal already decodes payloads for the UI (a codec server).

Values are content-addressed and never change, so a replay, a reset or a retry on another
worker reads exactly what the first execution wrote.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

from tempograph.temporal.converter import (
    LOCAL_KEY,
    SEGMENTED_ENCODING,
    TempographPayloadConverter,
    pack_envelope,
    unpack_envelope,
)
from tempograph.valuestore import ValueStore
from tempograph.workflows.values import digest

REF_ENCODING = b"binary/tempograph-ref"
# A payload over this many bytes is stored whole; the history keeps the hash. Keeps each
# node's share of a run's history to a few KB whatever the state's size.
INLINE_LIMIT = 4096
_SIZE_KEY = "tempograph-size"


class ClaimCheckCodec(PayloadCodec):
    """Stores parts and large payloads in a :class:`ValueStore` (see the module docstring)."""

    def __init__(self, store: ValueStore, inline_limit: int = INLINE_LIMIT) -> None:
        self.store = store
        self.inline_limit = inline_limit

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        to_store: dict[bytes, bytes] = {}
        out: list[Payload] = []
        for payload in payloads:
            local = payload.metadata.get(LOCAL_KEY) == b"1"
            if payload.metadata.get("encoding") == SEGMENTED_ENCODING:
                kind, record, table = unpack_envelope(payload.data)
                for part_hash, part in table.parts.items():
                    if part.data is not None:
                        to_store[part_hash] = part.data
                        if not local:
                            part.data = None
                if not local:
                    payload = Payload(
                        metadata=dict(payload.metadata), data=pack_envelope(kind, record, table)
                    )
            if payload.ByteSize() > self.inline_limit and not local:
                whole = payload.SerializeToString(deterministic=True)
                whole_hash = digest(whole)
                to_store[whole_hash] = whole
                payload = Payload(
                    metadata={"encoding": REF_ENCODING, _SIZE_KEY: str(len(whole)).encode()},
                    data=whole_hash,
                )
            out.append(payload)
        if to_store:
            await self.store.put_many(to_store)
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        refs = [p.data for p in payloads if p.metadata.get("encoding") == REF_ENCODING]
        wholes = await self.store.get_many(refs) if refs else {}
        resolved: list[Payload] = []
        for payload in payloads:
            if payload.metadata.get("encoding") == REF_ENCODING:
                payload = Payload.FromString(wholes[payload.data])
            resolved.append(payload)
        needed = [
            h
            for p in resolved
            if p.metadata.get("encoding") == SEGMENTED_ENCODING
            for h, part in unpack_envelope(p.data)[2].parts.items()
            if part.needed and part.data is None
        ]
        if not needed:
            return resolved
        found = await self.store.get_many(needed)
        out: list[Payload] = []
        for payload in resolved:
            if payload.metadata.get("encoding") == SEGMENTED_ENCODING:
                kind, record, table = unpack_envelope(payload.data)
                for part_hash, part in table.parts.items():
                    if part.needed and part.data is None:
                        part.data = found[part_hash]
                payload = Payload(
                    metadata=dict(payload.metadata), data=pack_envelope(kind, record, table)
                )
            out.append(payload)
        return out


def data_converter(store: ValueStore | None) -> DataConverter:
    """Tempograph's data converter; with ``store``, large values go there (claim checks)."""
    return DataConverter(
        payload_converter_class=TempographPayloadConverter,
        payload_codec=ClaimCheckCodec(store) if store is not None else None,
    )
