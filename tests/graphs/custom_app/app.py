"""A project's own FastAPI app, served by Tempograph through langgraph.json's
``http.app``: a lifespan, a middleware, a route of its own and two that collide with
built-in ones (``/info`` is shadowed; ``/ok``, the health check, is not)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.greeting = "hello from the lifespan"
    yield


app = FastAPI(lifespan=lifespan)


@app.middleware("http")
async def tag(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    response.headers["x-custom-middleware"] = "ran"
    return response


@app.get("/hello")
async def hello(request: Request) -> dict[str, str]:
    return {"greeting": request.app.state.greeting, "module": app.state.greeting}


@app.get("/info")
async def info() -> dict[str, bool]:
    return {"shadowed": True}


@app.get("/ok")
async def ok() -> dict[str, bool]:
    return {"shadowed": True}
