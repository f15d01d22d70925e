"""Request bodies are parsed as strict JSON (RFC 8259): what Python's json takes and no
JSON writer or Postgres can keep is refused."""

from __future__ import annotations

import json

import pytest

from tempograph.api.strict_json import strict_loads


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"n": NaN}', "NaN is not JSON"),
        (b"[1, -Infinity]", "-Infinity is not JSON"),
        (b'{"a": {"b": ["ok", "\\ud800"]}}', "the string at a.b[1] holds a lone UTF-16 surrogate"),
        (b'{"\\udc00": 1}', "lone UTF-16 surrogate"),
        (b'"x\\ud83d"', "lone UTF-16 surrogate"),
    ],
)
def test_refused(body: bytes, says: str) -> None:
    with pytest.raises(json.JSONDecodeError) as err:
        strict_loads(body)
    assert says in err.value.msg


def test_an_escaped_surrogate_pair_and_a_literal_backslash_u_are_text() -> None:
    assert strict_loads(b'{"v": "\\ud83d\\ude00"}') == {"v": "\U0001f600"}
    assert strict_loads(b'{"v": "\\\\ud800"}') == {"v": "\\ud800"}
    assert strict_loads(b'{"big": 1e308, "s": "caf\\u00e9"}') == {"big": 1e308, "s": "café"}
