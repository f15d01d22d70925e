"""State values as JSON, shaped as LangGraph Server returns them to clients."""

from __future__ import annotations

import base64
import dataclasses
import json
import math
from datetime import date, datetime, time
from enum import Enum
from typing import Any
from uuid import UUID

from pydantic import BaseModel

# The Postgres channel run writers NOTIFY (payload: the run id) and API streams LISTEN on.
RUN_EVENTS_CHANNEL = "tempograph_runs"


def dumps(value: Any) -> str:
    """Compact JSON on one line, as LangGraph Server writes SSE data. NaN and the
    infinities, which JSON has not, are null (as orjson, and so LangGraph Server, write
    them): a client's JSON parser must be able to read every answer."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps(finite(value), separators=(",", ":"), ensure_ascii=False)


def finite(value: Any) -> Any:
    """``value`` (JSON-shaped) with NaN and the infinities as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def to_jsonable(value: Any) -> Any:
    """Messages and pydantic models as ``model_dump()``, dataclasses as dicts, and so on;
    NaN and the infinities as None."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, BaseModel):
        return to_jsonable(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if hasattr(value, "node") and hasattr(value, "arg"):  # langgraph Send
        return {"node": value.node, "arg": to_jsonable(value.arg)}
    return repr(value)
