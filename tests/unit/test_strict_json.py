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


def test_every_route_of_ours_parses_bodies_strictly() -> None:
    """The routers set the route class one by one: a new one that forgot it would take
    NaN and lone surrogates again."""
    import importlib
    import pkgutil

    from fastapi import APIRouter
    from fastapi.routing import APIRoute

    import tempograph.api.routes as package
    from tempograph.api.strict_json import StrictJSONRoute

    routes = [
        route
        for module in pkgutil.iter_modules(package.__path__)
        for router in vars(importlib.import_module(f"{package.__name__}.{module.name}")).values()
        if isinstance(router, APIRouter)
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    assert len(routes) > 50
    assert [r.path for r in routes if not isinstance(r, StrictJSONRoute)] == []
