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
* its lifespan runs inside ours (the API's pools are open while it runs), and its
  exception handlers apply where ours have none;
* ``disable_assistants``, ``disable_threads``, ``disable_runs``, ``disable_store`` and
  ``disable_meta`` (``/info``, ``/metrics``) leave those groups of routes out.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
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
        module = import_file(target)
    except Exception as err:
        raise ConfigError(f"{path}: cannot import http.app {target}: {err}") from err
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


def matcher(routes: list[BaseRoute]) -> Callable[[Any], bool]:
    """Whether a request is for one of ``routes`` (which are matched before ours)."""

    def matches(scope: Any) -> bool:
        return any(route.matches(scope)[0] == Match.FULL for route in routes)

    return matches


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
