"""One place that maps Tempograph's errors to HTTP: JSON bodies that say what is wrong."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from tempograph.crypto import DecryptionError
from tempograph.errors import ErrorCode, TempographError


class ErrorBody(BaseModel):
    """What every error response carries."""

    detail: str
    code: str | None = None


# Inline, as JSON: with ``model`` FastAPI would document it under the route's own media
# type, which is text/event-stream on the streaming routes.
_ERROR_CONTENT = {"application/json": {"schema": ErrorBody.model_json_schema()}}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": _ERROR_CONTENT}
    for status, description in [
        (400, "Bad request"),
        (404, "Not found"),
        (409, "Conflict"),
        (413, "Request body too large"),
        (422, "Invalid request"),
        (503, "Postgres or Temporal unavailable"),
    ]
}

_STATUS = {
    ErrorCode.SERVER_UNAVAILABLE: 503,
    ErrorCode.UNKNOWN_GRAPH: 404,
    ErrorCode.NOT_WAITING: 409,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.INVALID_INPUT: 422,
    ErrorCode.CONFIG_INVALID: 400,
    ErrorCode.UNAUTHORIZED: 401,
}


def _error(status: int, detail: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(ErrorBody(detail=detail, code=code).model_dump(), status_code=status)


def install(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    @app.exception_handler(TempographError)
    async def tempograph_error(request: Request, exc: TempographError) -> JSONResponse:
        return _error(_STATUS.get(exc.code, 400), exc.message, exc.code.value)

    @app.exception_handler(OSError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(asyncpg.PostgresConnectionError)
    async def database_gone(request: Request, exc: Exception) -> JSONResponse:
        return _error(503, f"Postgres is unavailable: {exc}", ErrorCode.SERVER_UNAVAILABLE.value)

    @app.exception_handler(asyncpg.DataError)
    async def invalid_value(request: Request, exc: Exception) -> JSONResponse:
        # Postgres refused a value the request carried: NUL or a lone surrogate in JSON
        # or text, a number past bigint.
        return _error(422, f"Invalid value: {exc}", ErrorCode.INVALID_INPUT.value)

    @app.exception_handler(DecryptionError)
    async def no_key(request: Request, exc: DecryptionError) -> JSONResponse:
        # Stored data sealed with a key this server was not given: its configuration.
        return _error(
            500,
            f"Stored data cannot be opened: {exc}. Give this server every key still in use"
            " in TEMPOGRAPH_ENCRYPTION_KEYS.",
            "encryption_key_missing",
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A defect of ours: JSON as every other error (not Starlette's plain text); the
        # traceback goes to the server's log, not to the caller.
        return _error(
            500,
            f"Internal server error ({type(exc).__name__}); the server's log has the details",
            "internal",
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {_why(e)}" for e in exc.errors()]
        return JSONResponse({"detail": "; ".join(problems) or "invalid request"}, status_code=422)


def _why(error: Any) -> str:
    """A validation error's message; a body that is not JSON says why it is not."""
    reason = (error.get("ctx") or {}).get("error") if error.get("type") == "json_invalid" else None
    return f"{error['msg']} ({reason})" if reason else str(error["msg"])


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets 413 before a route sees it
    (by ``Content-Length``, or while a chunked body is read)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = JSONResponse(
            {"detail": f"Request body too large (limit: {self.limit} bytes)"}, status_code=413
        )
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await too_large(scope, receive, send)
                return
        seen = 0

        async def limited_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge(self.limit)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await too_large(scope, receive, send)


class _TooLarge(HTTPException):
    """Raised from the body's stream; an HTTP error so that FastAPI, reading the body,
    passes it on as a 413 instead of its generic 400 for a body it could not parse."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body too large (limit: {limit} bytes)")
