"""The Temporal client: connected with Tempograph's data converter and claim checks."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client
from temporalio.service import TLSConfig

from tempograph.errors import ErrorCode, TempographError
from tempograph.metrics import temporal_runtime
from tempograph.settings import Settings
from tempograph.telemetry import client_interceptors
from tempograph.temporal.codec import data_converter
from tempograph.valuestore import ValueStore


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS to Temporal: mTLS with the client certificate given, plain TLS with an API key
    (Temporal Cloud), none otherwise."""
    if settings.temporal_tls_cert or settings.temporal_tls_key:
        if not (settings.temporal_tls_cert and settings.temporal_tls_key):
            raise TempographError(
                "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (PEM files)",
                code=ErrorCode.CONFIG_INVALID,
            )
        try:
            return TLSConfig(
                client_cert=Path(settings.temporal_tls_cert).read_bytes(),
                client_private_key=Path(settings.temporal_tls_key).read_bytes(),
                server_root_ca_cert=Path(settings.temporal_tls_ca).read_bytes()
                if settings.temporal_tls_ca
                else None,
            )
        except OSError as err:
            raise TempographError(
                f"cannot read Temporal's TLS files: {err}", code=ErrorCode.CONFIG_INVALID
            ) from None
    return settings.temporal_api_key is not None


def require_temporal_auth(settings: Settings, who: str) -> None:
    """A process talking to a Temporal off loopback authenticates to it, unless told the
    cluster is meant to be open (``TEMPOGRAPH_TEMPORAL_INSECURE=1``)."""
    host = settings.temporal_address.rsplit(":", 1)[0].strip("[]")
    secured = settings.temporal_api_key or settings.temporal_tls_cert
    if host not in ("127.0.0.1", "localhost", "::1") and not (
        secured or settings.temporal_insecure
    ):
        raise TempographError(
            f"refusing to run {who} against Temporal at {settings.temporal_address} without"
            " authenticating to it: set TEMPORAL_API_KEY, or TEMPORAL_TLS_CERT and"
            " TEMPORAL_TLS_KEY (mTLS); or TEMPOGRAPH_TEMPORAL_INSECURE=1 for a cluster"
            " that is meant to be open",
            code=ErrorCode.CONFIG_INVALID,
        )


async def connect(settings: Settings, values: ValueStore | None) -> Client:
    """A client for ``settings.temporal_address``. With ``values``, large payloads are
    stored there (every process that runs or starts runs needs them)."""
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.namespace,
            data_converter=data_converter(values),
            tls=tls_config(settings),
            api_key=settings.temporal_api_key,
            runtime=temporal_runtime(),
            interceptors=client_interceptors(),
        )
    except RuntimeError as err:
        raise TempographError(
            f"cannot reach Temporal at {settings.temporal_address}: {err}",
            code=ErrorCode.SERVER_UNAVAILABLE,
        ) from None
