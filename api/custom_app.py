"""langgraph.json's ``http`` section: the project's own routes, middleware and lifespan
(``http.app``, ``"./file.py:app"``, a Starlette or FastAPI app) served with the API, and
its switches, as LangGraph Server honours them:

* the project's routes come first: one with the same path and method as a built-in route
  shadows it (``/ok`` excepted: the load balancer's health check);
* its middleware wraps every route, ours too, outside authentication
  (``middleware_order: "middleware_first"``, the default), or inside it, around the
  routes that authentication covers (``"auth_first"``);
* authentication (``auth`` in langgraph.json, or Tempograph's built-in auth) covers the
  project's routes only with ``enable_custom_route_auth: true``;
* its lifespan runs inside ours (the API's pools are open while it runs), its ``app.state``
  is the one requests see, and its exception handlers take precedence (less the stock
  ones every FastAPI app has, which would change the API's error bodies);
* ``disable_assistants``, ``disable_threads``, ``disable_runs``, ``disable_store`` and
  ``disable_meta`` (``/info``, ``/metrics``, ``/docs``, ``/openapi.json``) leave those
  routes out.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from importlib import import_module
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Match

from tempograph.errors import ConfigError


def load_app(http: dict[str, Any], path: Path) -> Starlette | None:
    """The project's app named by ``http.app`` (relative to langgraph.json), or None."""
    from tempograph.registry import import_file

    named = http.get("app")
    if not named:
        return None
    file_part, _, attr = named.rpartition(":")
    target = (path.parent / file_part).resolve()
    try:
        # "./web.py:app" is a file beside langgraph.json; "pkg.web:app" an importable module.
        module = import_file(target) if file_part.endswith(".py") else import_module(file_part)
    except Exception as err:
        raise ConfigError(f"{path}: cannot import http.app {named!r}: {err}") from err
    app = getattr(module, attr, None)
    if not isinstance(app, Starlette):
        raise ConfigError(f"{path}: http.app {named!r} is not a Starlette or FastAPI app")
    router = app.router
    if getattr(router, "on_startup", None) or getattr(router, "on_shutdown", None):
        raise ConfigError(
            f"{path}: http.app uses on_startup/on_shutdown handlers; give it a lifespan instead"
        )
    return app


def included(http: dict[str, Any], group: str) -> bool:
    """Whether a group of built-in routes is served (``disable_<group>`` not set)."""
    return not http.get(f"disable_{group}", False)


def custom_routes(app: Starlette) -> list[BaseRoute]:
    return list(app.router.routes)


def matcher(router: Any, theirs: list[BaseRoute]) -> Callable[[Any], bool]:
    """Whether the route ``router`` serves a request with is one of ``theirs``: the first
    of its routes that fully matches, as Starlette picks it."""
    mine = {id(route) for route in theirs}

    def matches(scope: Any) -> bool:
        for route in router.routes:
            if route.matches(scope)[0] == Match.FULL:
                return id(route) in mine
        return False

    return matches


def its_handlers(app: Starlette) -> dict[Any, Any]:
    """The project's exception handlers, less the defaults every FastAPI app carries (its
    HTTPException and validation handlers would change the API's own error bodies)."""
    from fastapi import exception_handlers as defaults

    stock = {
        defaults.http_exception_handler,
        defaults.request_validation_exception_handler,
        defaults.websocket_request_validation_exception_handler,
    }
    handlers = app.exception_handlers.items()
    return {kind: handler for kind, handler in handlers if handler not in stock}


def combined_lifespan(
    ours: Callable[[Any], contextlib.AbstractAsyncContextManager[None]], theirs: Starlette
) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """Ours, then the project's inside it."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        # The root app (which shares the project's app.state), and what its lifespan
        # yields: the state Starlette gives its requests.
        async with ours(app), theirs.router.lifespan_context(app) as state:
            yield state

    return lifespan
