"""One place that maps Tempograph's errors to HTTP: JSON bodies that say what is wrong."""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from tempograph.errors import ErrorCode, TempographError

_STATUS = {
    ErrorCode.SERVER_UNAVAILABLE: 503,
    ErrorCode.UNKNOWN_GRAPH: 404,
    ErrorCode.NOT_WAITING: 409,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.INVALID_INPUT: 422,
    ErrorCode.CONFIG_INVALID: 400,
}


def install(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    @app.exception_handler(TempographError)
    async def tempograph_error(request: Request, exc: TempographError) -> JSONResponse:
        status = _STATUS.get(exc.code, 400)
        return JSONResponse({"detail": exc.message, "code": exc.code.value}, status_code=status)

    @app.exception_handler(OSError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(asyncpg.PostgresConnectionError)
    async def database_gone(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {
                "detail": f"Postgres is unavailable: {exc}",
                "code": ErrorCode.SERVER_UNAVAILABLE.value,
            },
            status_code=503,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"detail": "; ".join(problems) or "invalid request"}, status_code=422)
