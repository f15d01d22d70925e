"""JSON schema of a state type, key by key, where pydantic refuses the whole type.

Pydantic rejects ``typing.TypedDict`` before Python 3.12 (graphs written with it are
common); each key's own annotation usually still converts.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import TypeAdapter


def schema_from_hints(schema_type: Any) -> dict[str, Any] | None:
    """``{"title", "type": "object", "properties"}`` from the type's hints, or None.

    Reducer annotations (``Annotated[list, operator.add]``) contribute their base type; a
    key whose type JSON schema cannot express gets ``{}`` (anything).
    """
    if not isinstance(schema_type, type):
        return None
    try:
        hints = typing.get_type_hints(schema_type, include_extras=True)
    except Exception:  # noqa: BLE001 - unresolvable annotations
        return None
    properties: dict[str, Any] = {}
    for key, hint in hints.items():
        if typing.get_origin(hint) is typing.Annotated:
            hint = typing.get_args(hint)[0]
        try:
            properties[key] = TypeAdapter(hint).json_schema()
        except Exception:  # noqa: BLE001 - a type JSON schema cannot express
            properties[key] = {}
    return {"title": schema_type.__name__, "type": "object", "properties": properties}
