"""Temporal's codec-server protocol, so the Temporal UI and CLI show payloads readably.

``POST /codec/decode`` and ``POST /codec/encode`` take and give ``{"payloads": [...]}``
(each ``{"metadata": {name: base64}, "data": base64}``), as Temporal's codec servers do.
``decode`` opens the encryption, puts claim-checked values back, and then turns
Tempograph's and LangGraph's binary payloads into plain JSON (``json/plain``): a node's
input and output read as the state they carry. It is behind the API's auth; the UI's
origin may call it (CORS, :class:`CodecCors`).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload

from tempograph.api.auth import authorize, require_operator
from tempograph.api.deps import State
from tempograph.api.strict_json import StrictJSONRoute
from tempograph.crypto import DecryptionError
from tempograph.render import RenderPlan, render
from tempograph.valuestore import MissingValue
from tempograph.workflows.jsonable import finite, to_jsonable
from tempograph.workflows.values import EncodedValue, PartTable

router = APIRouter(route_class=StrictJSONRoute, prefix="/codec", tags=["codec"])

_JSON = b"json/plain"


class PayloadsBody(BaseModel):
    """Temporal's codec request: ``payloads`` is required (a body without it is a 422,
    not an empty answer)."""

    payloads: list[dict[str, Any]]


def _from_json(raw: dict[str, Any]) -> Payload:
    try:
        return Payload(
            metadata={
                k: base64.b64decode(v, validate=True)
                for k, v in (raw.get("metadata") or {}).items()
            },
            data=base64.b64decode(raw.get("data") or "", validate=True),
        )
    except (binascii.Error, TypeError, AttributeError, ValueError) as err:
        raise HTTPException(422, f"payloads: not base64 as Temporal sends it: {err}") from None


async def _may_use_codec(state: Any, action: str, count: int) -> None:
    """The codec opens any run's payloads, whoever's: it is the platform operators' tool."""
    require_operator(state, "the codec endpoint reads every tenant's payloads")
    await authorize("codec", action, {"payloads": count})


async def _through_codec(body: PayloadsBody, state: Any, encode: bool) -> list[Payload]:
    """The request's payloads after the codec (checked for access, 422 when they cannot
    be opened)."""
    await _may_use_codec(state, "encode" if encode else "decode", len(body.payloads))
    codec = state.temporal.data_converter.payload_codec
    payloads = [_from_json(p) for p in body.payloads]
    if codec is None:
        return payloads
    try:
        return list(await (codec.encode(payloads) if encode else codec.decode(payloads)))
    except DecryptionError as err:
        raise HTTPException(422, f"payloads: cannot be opened here: {err}") from None
    except MissingValue as err:
        raise HTTPException(422, f"payloads: name a value not stored here: {err}") from None


def _to_json(payload: Payload) -> dict[str, Any]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


async def _readable(value: Any, parts: dict[bytes, bytes], state: Any) -> Any:
    """``value`` (a decoded record) as JSON, its encoded values rendered in full."""
    if isinstance(value, EncodedValue):
        plan = RenderPlan([value])
        missing = [h for h in plan.missing if h not in parts]
        if missing:
            parts.update(await state.values.get_many(missing))
        return json.loads(render(value, parts, plan))
    if isinstance(value, PartTable):
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            if f.name != "parts":
                out[f.name] = await _readable(getattr(value, f.name), parts, state)
        return out
    if isinstance(value, dict):
        return {str(k): await _readable(v, parts, state) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [await _readable(v, parts, state) for v in value]
    return to_jsonable(value)


async def _as_json(payload: Payload, state: Any) -> Payload:
    """A decoded payload as ``json/plain``; left as it is when it is not ours to read."""
    if payload.metadata.get("encoding") == _JSON:
        return payload
    converter = state.temporal.data_converter.payload_converter
    try:
        [value] = converter.from_payloads([payload])
        table = getattr(value, "parts", None)
        parts = {
            h: p.data
            for h, p in (table.parts.items() if isinstance(table, PartTable) else ())
            if p.data is not None
        }
        shown = await _readable(value, parts, state)
        data = json.dumps(finite(shown), default=str, allow_nan=False).encode()
    except Exception:  # noqa: BLE001 - a payload we cannot render stays as it is
        return payload
    return Payload(metadata={"encoding": _JSON}, data=data)


@router.post("/decode")
async def decode(body: PayloadsBody, state: State) -> dict[str, Any]:
    payloads = await _through_codec(body, state, encode=False)
    return {"payloads": [_to_json(await _as_json(p, state)) for p in payloads]}


@router.post("/encode")
async def encode(body: PayloadsBody, state: State) -> dict[str, Any]:
    return {"payloads": [_to_json(p) for p in await _through_codec(body, state, encode=True)]}


class CodecCors:
    """ASGI middleware: lets the Temporal UI (``origins``) call ``/codec/*`` from the
    browser; answers its preflight before authentication (browsers send no credentials
    on a preflight), and marks the real answers as readable by that origin."""

    def __init__(self, app: Any, origins: list[str]) -> None:
        self.app = app
        self.origins = {o.rstrip("/") for o in origins}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/codec/"):
            await self.app(scope, receive, send)
            return
        origin = dict(scope.get("headers", ())).get(b"origin", b"").decode("latin-1")
        allowed = origin in self.origins or "*" in self.origins
        cors = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            (b"vary", b"Origin"),
        ]
        if scope["method"] == "OPTIONS":
            headers = [
                (b"access-control-allow-methods", b"POST, OPTIONS"),
                (
                    b"access-control-allow-headers",
                    b"authorization, content-type, x-namespace, x-api-key",
                ),
                (b"access-control-max-age", b"600"),
            ]
            await send(
                {
                    "type": "http.response.start",
                    "status": 204 if allowed else 403,
                    "headers": (cors + headers) if allowed else [],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: Any) -> None:
            if message["type"] == "http.response.start" and allowed:
                message = {**message, "headers": [*message.get("headers", []), *cors]}
            await send(message)

        await self.app(scope, receive, with_cors)
