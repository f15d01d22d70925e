"""The key ring: AES-GCM sealing, rotation, LangGraph's key, and tampering."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tempograph.crypto import DecryptionError, KeyRing, is_sealed, new_key_file
from tempograph.errors import ConfigError


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_seal_and_open_and_rotate() -> None:
    old = KeyRing.parse(f"old:{b64(b'o' * 32)}")
    sealed_old = old.seal(b"secret", b"aad")
    assert is_sealed(sealed_old) and b"secret" not in sealed_old
    assert old.seal(b"secret") != old.seal(b"secret")  # a fresh nonce each time
    rotated = KeyRing.parse(f"new:{b64(b'n' * 32)}, old:{b64(b'o' * 32)}")
    assert rotated.current == "new"
    assert rotated.open(sealed_old, b"aad") == b"secret"  # old data still opens
    assert b"new" in rotated.seal(b"x")[:10]  # new data names the new key
    with pytest.raises(DecryptionError, match="no key 'new'"):
        old.open(rotated.seal(b"x"))
    with pytest.raises(DecryptionError, match="failed its check"):
        rotated.open(sealed_old, b"other aad")
    tampered = sealed_old[:-1] + bytes([sealed_old[-1] ^ 1])
    with pytest.raises(DecryptionError):
        rotated.open(tampered, b"aad")


def test_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TEMPOGRAPH_ENCRYPTION_KEYS", raising=False)
    monkeypatch.delenv("LANGGRAPH_AES_KEY", raising=False)
    assert KeyRing.load(tmp_path) is None
    monkeypatch.setenv("LANGGRAPH_AES_KEY", "0123456789abcdef")  # LangGraph's: raw bytes
    ring = KeyRing.load()
    assert ring is not None and ring.current == "langgraph"
    assert ring.open(ring.seal(b"x")) == b"x"
    monkeypatch.delenv("LANGGRAPH_AES_KEY")
    made = new_key_file(tmp_path)
    assert (tmp_path / "encryption.keys").stat().st_mode & 0o777 == 0o600
    assert new_key_file(tmp_path) == made  # made once, then read
    assert KeyRing.load(tmp_path) == made
    for bad, says in [
        ("nocolon", "id:base64-key"),
        ("k:not base64!", "not base64"),
        (f"k:{b64(b'short')}", "16, 24 or 32 bytes"),
    ]:
        with pytest.raises(ConfigError, match=says):
            KeyRing.parse(bad)
