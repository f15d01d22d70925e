"""Encryption at rest: AES-256-GCM (``cryptography``'s AESGCM) under a key ring.

``TEMPOGRAPH_ENCRYPTION_KEYS`` is a comma-separated list of ``id:key`` (the key: 32 bytes,
base64). The first key encrypts; every key decrypts, so a key is rotated by putting a new
one first and keeping the old ones until the data they sealed is gone. LangGraph's
``LANGGRAPH_AES_KEY`` (16, 24 or 32 bytes, as LangGraph reads it) is accepted too, as key
id ``langgraph``. Without either, ``tempograph up`` makes a key file in its data
directory (``encryption.keys``, mode 0600) that every process on that directory reads.

A sealed value is ``TGE1 | key id length | key id | 12-byte nonce | ciphertext+tag``:
the key id travels with the data, so old data names the key it needs.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tempograph.errors import ConfigError

MAGIC = b"TGE1"
KEY_FILE = "encryption.keys"
_NONCE = 12


class DecryptionError(Exception):
    """Sealed data that no key of the ring opens (unknown key id, or tampered)."""


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[tuple[str, bytes], ...]  # (id, key); the first encrypts

    def __post_init__(self) -> None:
        if not self.keys:
            raise ConfigError("an encryption key ring needs at least one key")
        for key_id, key in self.keys:
            if not key_id or len(key_id) > 64 or not key_id.isascii():
                raise ConfigError(f"encryption key id {key_id!r}: 1-64 ASCII characters")
            if len(key) not in (16, 24, 32):
                raise ConfigError(f"encryption key {key_id!r}: must be 16, 24 or 32 bytes")

    @property
    def current(self) -> str:
        return self.keys[0][0]

    def seal(self, data: bytes, aad: bytes = b"") -> bytes:
        key_id, key = self.keys[0]
        nonce = secrets.token_bytes(_NONCE)
        kid = key_id.encode()
        return MAGIC + bytes([len(kid)]) + kid + nonce + AESGCM(key).encrypt(nonce, data, aad)

    def open(self, sealed: bytes, aad: bytes = b"") -> bytes:
        if not is_sealed(sealed):
            raise DecryptionError("not sealed data")
        length = sealed[len(MAGIC)]
        start = len(MAGIC) + 1
        key_id = sealed[start : start + length].decode()
        nonce = sealed[start + length : start + length + _NONCE]
        body = sealed[start + length + _NONCE :]
        key = dict(self.keys).get(key_id)
        if key is None:
            raise DecryptionError(f"no key {key_id!r} in the key ring")
        try:
            return AESGCM(key).decrypt(nonce, body, aad)
        except InvalidTag:
            raise DecryptionError(f"data sealed with key {key_id!r} failed its check") from None

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        keys: list[tuple[str, bytes]] = []
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            key_id, sep, encoded = item.partition(":")
            if not sep:
                raise ConfigError("TEMPOGRAPH_ENCRYPTION_KEYS: each entry is id:base64-key")
            try:
                keys.append((key_id.strip(), base64.b64decode(encoded.strip(), validate=True)))
            except binascii.Error:
                raise ConfigError(
                    f"TEMPOGRAPH_ENCRYPTION_KEYS: key {key_id!r} is not base64"
                ) from None
        return cls(tuple(keys))

    @classmethod
    def load(cls, data_dir: Path | None = None) -> KeyRing | None:
        """The configured key ring: ``TEMPOGRAPH_ENCRYPTION_KEYS``, else
        ``LANGGRAPH_AES_KEY``, else the key file in ``data_dir``; None for none."""
        text = os.environ.get("TEMPOGRAPH_ENCRYPTION_KEYS", "").strip()
        if text:
            return cls.parse(text)
        langgraph = os.environ.get("LANGGRAPH_AES_KEY", "")
        if langgraph:
            return cls((("langgraph", langgraph.encode()),))
        if data_dir is not None and (data_dir / KEY_FILE).exists():
            return cls.parse((data_dir / KEY_FILE).read_text(encoding="utf-8"))
        return None


def is_sealed(data: bytes) -> bool:
    return data[: len(MAGIC)] == MAGIC


def new_key_file(data_dir: Path) -> KeyRing:
    """The data directory's key ring, made (one new random key) if it has none."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key_id = f"k{secrets.token_hex(4)}"
        encoded = base64.b64encode(secrets.token_bytes(32)).decode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f"{key_id}:{encoded}\n")
    return KeyRing.parse(path.read_text(encoding="utf-8"))


# -- columns at rest ----------------------------------------------------------------------
# Postgres columns that hold run content are sealed with the process's key ring (the one
# the environment configures; `tempograph` commands put it there before anything runs).
# bytea and text columns hold the sealed bytes (text: base64 after SEALED_TEXT); jsonb
# columns hold {"$sealed": base64}. Unsealed data (written before encryption was on, or
# with none configured) reads as it is.

SEALED_KEY = "$sealed"
SEALED_TEXT = "$sealed:"
_UNSET = object()
_ring: Any = _UNSET


def at_rest() -> KeyRing | None:
    """This process's key ring for columns at rest (read once from the environment)."""
    global _ring
    if _ring is _UNSET:
        _ring = KeyRing.load()
    ring: KeyRing | None = _ring
    return ring


def _opened(data: bytes) -> bytes:
    ring = at_rest()
    if ring is None:
        raise DecryptionError("encrypted data, and no encryption key configured")
    return ring.open(data)


def seal(data: bytes | None) -> bytes | None:
    ring = at_rest()
    return ring.seal(data) if ring is not None and data is not None else data


def unseal(data: bytes | None) -> bytes | None:
    return _opened(data) if data is not None and is_sealed(data) else data


def unsealed(data: bytes) -> bytes:
    """Stored bytes, opened if sealed."""
    return _opened(data) if is_sealed(data) else data


def seal_text(text: str | None) -> str | None:
    ring = at_rest()
    if ring is None or text is None:
        return text
    return SEALED_TEXT + base64.b64encode(ring.seal(text.encode())).decode()


def unseal_text(text: str | None) -> str | None:
    if text is None or not text.startswith(SEALED_TEXT):
        return text
    return _opened(base64.b64decode(text[len(SEALED_TEXT) :])).decode()


def seal_json(value: Any) -> Any:
    """``value`` as a jsonb column holds it: sealed when a key ring is configured."""
    ring = at_rest()
    if ring is None or value is None:
        return value
    sealed = ring.seal(json.dumps(value, separators=(",", ":")).encode())
    return {SEALED_KEY: base64.b64encode(sealed).decode()}


def unseal_json(value: Any) -> Any:
    """A jsonb column's value (parsed), opened if it is sealed."""
    if isinstance(value, dict) and len(value) == 1 and SEALED_KEY in value:
        return json.loads(_opened(base64.b64decode(value[SEALED_KEY])))
    return value


def seal_json_text(text: str | None) -> str | None:
    """JSON text for a jsonb column, sealed when a key ring is configured."""
    ring = at_rest()
    if ring is None or text is None:
        return text
    return json.dumps({SEALED_KEY: base64.b64encode(ring.seal(text.encode())).decode()})


def unseal_json_text(text: str | None) -> str | None:
    """A jsonb column's JSON text, opened if it is sealed."""
    if text is None or not text.startswith('{"$sealed"'):
        return text
    return _opened(base64.b64decode(json.loads(text)[SEALED_KEY])).decode()
