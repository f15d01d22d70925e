"""Request bodies are JSON as RFC 8259 has it, or a 422 that says what is wrong.

Python's ``json`` accepts ``NaN`` and ``Infinity`` and decodes ``"\\ud800"`` into a string
that no UTF-8 writer can store; either would be taken here and fail later, somewhere less
clear (a value that reads back as ``null``, an item whose every read is a 500). LangGraph
Server parses with orjson, which refuses both; so does every route here, by its class.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

# An escaped UTF-16 surrogate: only then can the parsed value hold a lone one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class _NotJSON(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotJSON(f"{name} is not JSON; send a finite number, or null")


def _unicode_only(value: Any, path: str = "") -> None:
    """Raise when a string (or key) in ``value`` holds a lone surrogate."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            where = f" at {path}" if path else ""
            raise _NotJSON(
                f"the string{where} holds a lone UTF-16 surrogate, which is not Unicode text"
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _unicode_only(key, path)
            _unicode_only(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _unicode_only(item, f"{path}[{index}]")


def strict_loads(body: bytes) -> Any:
    """``body`` parsed as strict JSON; ``json.JSONDecodeError`` (FastAPI's 422) if not."""
    try:
        value = json.loads(body, parse_constant=_refuse_constant)
        if _SURROGATE_ESCAPE.search(body):
            _unicode_only(value)
    except _NotJSON as err:
        raise json.JSONDecodeError(str(err), "", 0) from None
    return value


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """A route whose JSON body is parsed strictly (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict
