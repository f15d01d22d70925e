"""The claim-check codec: large values leave Temporal's payloads for Postgres.

Temporal caps a payload at 2 MB and a history at 50 MB, and encodes, stores and replays
every byte of both, so Tempograph's payloads carry hashes instead of state:

* a ``binary/tempograph`` payload (a record with parts, see
  :mod:`tempograph.workflows.values`) has each part's bytes stored under its SHA-256
  and removed; on the way back the bytes of the parts the receiver decodes are put back,
  except in a node's call: its activity fetches those its thread's decoded parts in that
  worker lack (a long conversation's unchanged chunks are usually there) rather than
  receive every byte of the state again;
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
from temporalio.api.failure.v1 import Failure
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from tempograph.crypto import KeyRing
from tempograph.temporal.converter import (
    LAZY_KEY,
    LOCAL_KEY,
    SEGMENTED_ENCODING,
    TempographPayloadConverter,
    pack_envelope,
    unpack_envelope,
)
from tempograph.valuestore import ValueStore
from tempograph.workflows.values import digest

REF_ENCODING = b"binary/tempograph-ref"
ENCRYPTED_ENCODING = b"binary/encrypted"
KEY_ID_KEY = "encryption-key-id"
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
        # Our records whose receiver decodes parts put back here (a node's call fetches
        # its own), each unpacked once.
        records = {
            i: unpack_envelope(p.data)
            for i, p in enumerate(resolved)
            if p.metadata.get("encoding") == SEGMENTED_ENCODING and p.metadata.get(LAZY_KEY) != b"1"
        }
        needed = [
            h
            for _, _, table in records.values()
            for h, part in table.parts.items()
            if part.needed and part.data is None
        ]
        if not needed:
            return resolved
        found = await self.store.get_many(needed)
        out = list(resolved)
        for i, (kind, record, table) in records.items():
            for part_hash, part in table.parts.items():
                if part.needed and part.data is None:
                    part.data = found[part_hash]
            out[i] = Payload(
                metadata=dict(resolved[i].metadata), data=pack_envelope(kind, record, table)
            )
        return out


class EncryptionCodec(PayloadCodec):
    """Every payload sealed with AES-GCM under the key ring's current key (the key id in
    the payload's metadata); a payload that is not sealed (recorded before encryption was
    on) decodes as it is."""

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload(
                metadata={
                    "encoding": ENCRYPTED_ENCODING,
                    KEY_ID_KEY: self.keys.current.encode(),
                },
                data=self.keys.seal(p.SerializeToString(deterministic=True)),
            )
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload.FromString(self.keys.open(p.data))
            if p.metadata.get("encoding") == ENCRYPTED_ENCODING
            else p
            for p in payloads
        ]


class _Chain(PayloadCodec):
    """Codecs applied in order on the way out, in reverse on the way in."""

    def __init__(self, codecs: Sequence[PayloadCodec]) -> None:
        self.codecs = list(codecs)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = list(payloads)
        for codec in self.codecs:
            out = await codec.encode(out)
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = list(payloads)
        for codec in reversed(self.codecs):
            out = await codec.decode(out)
        return out


def data_converter(store: ValueStore | None, keys: KeyRing | None = None) -> DataConverter:
    """Tempograph's data converter; with ``store``, large values go there (claim checks);
    with ``keys`` (by default the store's), every payload is encrypted, failures' messages
    and stack traces too (they travel as encoded attributes)."""
    if keys is None:
        keys = getattr(store, "keys", None)  # a Postgres value store's: one ring for both
    codecs: list[PayloadCodec] = []
    if store is not None:
        codecs.append(ClaimCheckCodec(store))
    if keys is not None:
        codecs.append(EncryptionCodec(keys))
    return DataConverter(
        payload_converter_class=TempographPayloadConverter,
        payload_codec=_Chain(codecs) if codecs else None,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes
        if keys is not None
        else DefaultFailureConverter,
    )


async def failure_message(converter: DataConverter, failure: Failure) -> str:
    """A failure's message as read from a history, its encoded attributes decoded."""
    if failure.HasField("encoded_attributes") and converter.payload_codec is not None:
        try:
            [decoded] = await converter.payload_codec.decode([failure.encoded_attributes])
            attributes = converter.payload_converter.from_payload(decoded)
            if isinstance(attributes, dict) and attributes.get("message"):
                return str(attributes["message"])
        except Exception:  # noqa: BLE001 - a message we cannot read: say so, not crash
            return "(encrypted failure: this process has no key for it)"
    return failure.message
