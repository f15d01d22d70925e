"""The Temporal client: connected with Tempograph's data converter and claim checks."""

from __future__ import annotations

from temporalio.client import Client

from tempograph.errors import ErrorCode, TempographError
from tempograph.settings import Settings
from tempograph.temporal.codec import data_converter
from tempograph.valuestore import ValueStore


async def connect(settings: Settings, values: ValueStore | None) -> Client:
    """A client for ``settings.temporal_address``. With ``values``, large payloads are
    stored there (every process that runs or starts runs needs them)."""
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.namespace,
            data_converter=data_converter(values),
        )
    except RuntimeError as err:
        raise TempographError(
            f"cannot reach Temporal at {settings.temporal_address}: {err}",
            code=ErrorCode.SERVER_UNAVAILABLE,
        ) from None
