"""How the long-running commands log: one readable line per record on a terminal, one
JSON object per line otherwise (for a log pipeline), each with the coordinates that apply:
``thread_id``, ``run_id``, ``node``, ``attempt`` (inside a node attempt) and ``trace_id``
(with tracing on).

``TEMPOGRAPH_LOG_FORMAT`` (``text`` or ``json``) overrides the choice, and
``TEMPOGRAPH_LOG_LEVEL`` (default ``INFO``) sets the level.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

FIELDS = ("thread_id", "run_id", "node", "attempt", "trace_id")

# What the code running now works on (bound by a node attempt's task).
_context: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "tempograph_log_context", default=None
)


def bind(**fields: Any) -> None:
    """Log records made from now on in this context (an asyncio task: a node attempt's
    activity, including what the SDK logs about it when it ends) carry ``fields``."""
    _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v}})


class Coordinates(logging.Filter):
    """Puts the current coordinates on each record (as attributes named in FIELDS)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from tempograph.telemetry import trace_id

        for key, value in (_context.get() or {}).items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        if getattr(record, "trace_id", None) is None:
            record.trace_id = trace_id()
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k in FIELDS if (v := getattr(record, k, None)) not in (None, "")}


class Readable(logging.Formatter):
    """``21:24:17 WARNING tempograph.nodes: message  run=... node=... attempt=1``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        line = f"{stamp} {record.levelname} {record.name}: {record.getMessage()}"
        fields = _fields(record)
        if fields:
            line += "  " + " ".join(f"{k}={v}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class Json(logging.Formatter):
    """One JSON object per record: time, level, logger, message, coordinates, error."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


_handler: logging.Handler | None = None


def configure() -> None:
    """Root logging for a long-running command (once per process)."""
    global _handler
    if _handler is not None:
        return
    wanted = os.environ.get("TEMPOGRAPH_LOG_FORMAT", "").lower()
    as_json = wanted == "json" or (wanted != "text" and not sys.stderr.isatty())
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(Json() if as_json else Readable())
    _handler.addFilter(Coordinates())
    root = logging.getLogger()
    root.addHandler(_handler)
    root.setLevel(os.environ.get("TEMPOGRAPH_LOG_LEVEL", "INFO").upper())
    # Libraries that talk a lot at INFO.
    for chatty in ("httpx", "httpcore", "asyncio", "pgserver"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
