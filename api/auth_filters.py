"""Auth handlers' filters on a resource's metadata, as LangGraph defines them: checked
when a handler returns one, then applied to one resource (:func:`matches`) or to a
search in SQL (:func:`filter_sql`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException

_MAX_FILTER_DEPTH = 2


def check_filter(filters: Mapping[str, Any], depth: int) -> None:
    if depth > _MAX_FILTER_DEPTH:
        raise HTTPException(500, "The auth handler's filter nests $or/$and more than twice")
    for key, value in filters.items():
        if key in ("$or", "$and"):
            if not isinstance(value, list) or len(value) < 2:
                raise HTTPException(500, f"The auth handler's {key} needs a list of 2+ filters")
            for group in value:
                if not isinstance(group, dict):
                    raise HTTPException(500, f"The auth handler's {key} holds a non-filter")
                check_filter(group, depth + 1)
        elif isinstance(value, dict):
            if len(value) != 1 or next(iter(value)) not in ("$eq", "$contains"):
                raise HTTPException(
                    500, f"The auth handler's filter on {key!r} must be $eq or $contains"
                )


def matches(metadata: Mapping[str, Any], filters: Mapping[str, Any] | None) -> bool:
    """Whether ``metadata`` passes an auth filter: ``{key: value}`` and ``$eq`` are
    equality, ``$contains`` a list holding the value (or every value of a list), and
    ``$or``/``$and`` combine filters."""
    for key, value in (filters or {}).items():
        if key == "$or":
            if not any(matches(metadata, group) for group in value):
                return False
        elif key == "$and":
            if not all(matches(metadata, group) for group in value):
                return False
        elif isinstance(value, dict) and "$contains" in value:
            held = metadata.get(key)
            wanted = value["$contains"]
            if not isinstance(held, list):
                return False
            if not all(w in held for w in (wanted if isinstance(wanted, list) else [wanted])):
                return False
        else:
            expected = value["$eq"] if isinstance(value, dict) else value
            if key not in metadata or metadata[key] != expected:
                return False
    return True


def filter_sql(filters: Mapping[str, Any] | None, column: str, args: list[Any]) -> str:
    """:func:`matches` as SQL on the jsonb ``column``; parameters are appended to
    ``args``. ``TRUE`` for no filter."""
    clauses: list[str] = []
    for key, value in (filters or {}).items():
        if key in ("$or", "$and"):
            joined = (" OR " if key == "$or" else " AND ").join(
                filter_sql(group, column, args) for group in value
            )
            clauses.append(f"({joined})")
            continue
        args.append(key)
        field_ref = f"({column} -> ${len(args)}::text)"
        if isinstance(value, dict) and "$contains" in value:
            wanted = value["$contains"]
            args.append(json.dumps(wanted if isinstance(wanted, list) else [wanted]))
            clauses.append(
                f"(jsonb_typeof({field_ref}) = 'array' AND {field_ref} @> ${len(args)}::jsonb)"
            )
        else:
            expected = value["$eq"] if isinstance(value, dict) else value
            args.append(json.dumps(expected))
            clauses.append(f"({field_ref} = ${len(args)}::jsonb)")
    return " AND ".join(clauses) if clauses else "TRUE"
