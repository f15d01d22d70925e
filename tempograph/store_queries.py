"""The memory store's queries and rows: namespace and filter conditions (in SQL, and in
Python for sealed values), namespace listing, op checks and the row conversions, beside
:class:`tempograph.store.PostgresStore`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    SearchOp,
    validate_op_namespace,
)

from tempograph.crypto import unseal_json

SEPARATOR = "."
COMPARISONS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
NOT_EXPIRED = "(s.expires_at IS NULL OR s.expires_at > now())"
_MAX_TTL_MINUTES = 100 * 366 * 24 * 60  # a century; beyond it timestamps overflow


def prefix_condition(prefix: tuple[str, ...], params: list[Any]) -> list[str]:
    if not prefix:
        return []
    params.append(join_namespace(prefix))
    n = len(params)
    return [f"(s.prefix = ${n} OR left(s.prefix, length(${n}) + 1) = ${n} || '.')"]


def filter_condition(path: list[str], expected: Any, params: list[Any]) -> str:
    """SQL for one ``filter`` entry, with InMemoryStore's semantics (a missing key is null)."""
    params.append(path)
    at = f"(s.value #> ${len(params)}::text[])"
    if isinstance(expected, dict) and any(k.startswith("$") for k in expected):
        return " AND ".join(operator(at, op, value, params) for op, value in expected.items())
    if isinstance(expected, dict):
        nested = [filter_condition([*path, k], v, params) for k, v in expected.items()]
        return " AND ".join([f"jsonb_typeof({at}) = 'object'", *nested])
    params.append(dump_value(expected))
    return f"coalesce({at}, 'null') = ${len(params)}::jsonb"


async def refresh(conn: asyncpg.Connection, prefixes: list[str], keys: list[str]) -> None:
    """Restart the TTL of the items read."""
    await conn.execute(
        "UPDATE store_items"
        " SET expires_at = now() + make_interval(secs => ttl_minutes * 60)"
        " WHERE ttl_minutes IS NOT NULL AND (prefix, key) IN"
        " (SELECT * FROM unnest($1::text[], $2::text[]))",
        prefixes,
        keys,
    )


def check_filter(key: str, expected: Any) -> None:
    """The errors :func:`filter_condition` raises, for a filter applied in Python."""
    filter_condition([key], expected, [])


def passes(value: Any, filters: dict[str, Any]) -> bool:
    """:func:`filter_condition` in Python, for values sealed at rest."""
    return all(
        holds(value.get(key) if isinstance(value, dict) else None, expected)
        for key, expected in filters.items()
    )


def same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b  # JSON true is not 1
    return bool(a == b)


def holds(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict) and any(k.startswith("$") for k in expected):
        for op, operand in expected.items():
            if op == "$eq" and not same(actual, operand):
                return False
            if op == "$ne" and same(actual, operand):
                return False
            if op in COMPARISONS:
                number = isinstance(actual, int | float) and not isinstance(actual, bool)
                if not number or not _COMPARE[op](actual, float(operand)):
                    return False
        return True
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            holds(actual.get(k), v) for k, v in expected.items()
        )
    return same(actual, expected)


_COMPARE: dict[str, Any] = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def operator(at: str, op: str, value: Any, params: list[Any]) -> str:
    if op in ("$eq", "$ne"):
        params.append(dump_value(value))
        sign = "=" if op == "$eq" else "<>"
        return f"coalesce({at}, 'null') {sign} ${len(params)}::jsonb"
    if op in COMPARISONS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"filter operator {op} needs a number, got {value!r}")
        params.append(float(value))
        return (
            f"(CASE WHEN jsonb_typeof({at}) = 'number'"
            f" THEN ({at})::float8 {COMPARISONS[op]} ${len(params)}::float8 ELSE false END)"
        )
    raise ValueError(f"unsupported filter operator {op!r}; use $eq, $ne, $gt, $gte, $lt, $lte")


async def list_namespaces(conn: asyncpg.Connection, op: ListNamespacesOp) -> list[tuple[str, ...]]:
    params: list[Any] = []
    where = [NOT_EXPIRED]
    for condition in op.match_conditions or ():
        path = list(condition.path)
        where.append(f"cardinality(ns) >= {len(path)}")
        for i, label in enumerate(path):
            if label == "*":
                continue
            params.append(label)
            index = (
                f"{i + 1}"
                if condition.match_type == "prefix"
                else f"cardinality(ns) - {len(path) - 1 - i}"
            )
            where.append(f"ns[{index}] = ${len(params)}")
    depth = f"[1:{int(op.max_depth)}]" if op.max_depth is not None else ""
    rows = await conn.fetch(
        f"""
        SELECT DISTINCT ns{depth} COLLATE "C" AS ns FROM (
            SELECT string_to_array(s.prefix, '.') AS ns, s.expires_at FROM store_items s
        ) s
        WHERE {" AND ".join(where)}
        ORDER BY 1 LIMIT {max(op.limit, 0)} OFFSET {max(op.offset, 0)}
        """,
        *params,
    )
    return [tuple(row["ns"]) for row in rows]


# Conversions and validation


def validate_op(op: Op) -> None:
    validate_op_namespace(op)
    if isinstance(op, PutOp | GetOp):
        if not op.namespace:
            raise InvalidNamespaceError("Namespace cannot be empty.")
        if not isinstance(op.key, str):
            raise ValueError(f"store keys must be strings, got {type(op.key).__name__}")
    if isinstance(op, PutOp) and op.value is not None:
        if op.ttl is not None and not 0 <= op.ttl <= _MAX_TTL_MINUTES:
            raise ValueError(f"ttl must be between 0 and {_MAX_TTL_MINUTES} minutes, got {op.ttl}")
        if op.namespace[0] == "langgraph":
            raise InvalidNamespaceError(
                f'Root label for namespace cannot be "langgraph". Got: {op.namespace}'
            )
        dump_value(op.value)
    elif not isinstance(op, GetOp | PutOp | SearchOp | ListNamespacesOp):
        raise ValueError(f"unknown store operation: {type(op).__name__}")


def dump_value(value: Any) -> str:
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"store values must be JSON-serializable: {err}") from None


def join_namespace(namespace: tuple[str, ...]) -> str:
    return SEPARATOR.join(namespace)


def split_prefix(prefix: str) -> tuple[str, ...]:
    return tuple(prefix.split(SEPARATOR))


def vector_text(vector: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def item_of(row: asyncpg.Record) -> Item:
    created: datetime = row["created_at"]
    updated: datetime = row["updated_at"]
    return Item(
        value=unseal_json(json.loads(row["value"])),
        key=row["key"],
        namespace=split_prefix(row["prefix"]),
        created_at=created,
        updated_at=updated,
    )
