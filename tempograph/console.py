"""What the ``tempograph`` commands share: their output, exit codes, signals, and where
the running ``tempograph up`` of a data directory serves."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

from tempograph.errors import ErrorCode, TempographError
from tempograph.settings import Settings

if TYPE_CHECKING:
    pass

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_UNAVAILABLE = 0, 1, 2, 3, 4


# Written by `tempograph up` into its data directory while it runs: where its API is.
ENDPOINTS_FILE = "endpoints.json"


def _err(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


def _out(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


def _say(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def _parse_json(flag: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise TempographError(
            f"{flag} is not valid JSON: {err}", code=ErrorCode.INVALID_INPUT
        ) from None


def _stop_requested() -> asyncio.Event:
    """An event set by SIGINT/SIGTERM. Installed before anything starts, so a signal that
    arrives right after ``ready`` still stops everything cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _endpoints(settings: Settings) -> dict[str, Any]:
    """What the ``tempograph up`` running on this data directory serves, if one does."""
    try:
        found = json.loads((settings.data_dir / ENDPOINTS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _api_url(settings: Settings) -> str:
    """``TEMPOGRAPH_API_URL``, else the API of the ``tempograph up`` running on this data
    directory, else the default."""
    if "TEMPOGRAPH_API_URL" in os.environ:
        return settings.api_url
    return str(_endpoints(settings).get("api") or settings.api_url)


def _temporal_address(settings: Settings) -> str:
    """``TEMPORAL_ADDRESS``, else the Temporal of the ``tempograph up`` running on this
    data directory (where `tempograph run` reads a run's progress), else the default."""
    if "TEMPORAL_ADDRESS" in os.environ:
        return settings.temporal_address
    return str(_endpoints(settings).get("temporal") or settings.temporal_address)


def _database_url(settings: Settings, who: str) -> str:
    """``DATABASE_URL``, else the database of the ``tempograph up`` running on this data
    directory."""
    found = settings.database_url or _endpoints(settings).get("database")
    if not found:
        raise TempographError(
            f"{who} needs the API's database: set DATABASE_URL (or run it beside a"
            " `tempograph up` on the same TEMPOGRAPH_DATA_DIR)",
            code=ErrorCode.CONFIG_INVALID,
        )
    return str(found)
