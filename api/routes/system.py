"""Liveness, readiness and what this server is."""

from __future__ import annotations

from typing import Any

import langgraph.version
from fastapi import APIRouter

from tempograph import __version__
from tempograph.api.auth import tenant
from tempograph.api.deps import State
from tempograph.api.strict_json import StrictJSONRoute

# First, never shadowed by a project's routes.
health = APIRouter(route_class=StrictJSONRoute, tags=["system"])
router = APIRouter(route_class=StrictJSONRoute, tags=["system"])


@health.get("/ok")
async def ok(state: State, check_db: int = 0) -> dict[str, Any]:
    """200 while the API serves; with ``check_db=1``, 503 while Postgres is unreachable."""
    if check_db:
        await state.database.ping()
    return {"ok": True}


@router.get("/info")
async def info(state: State) -> dict[str, Any]:
    found = {
        "version": __version__,
        "langgraph_py_version": langgraph.version.__version__,
        "flags": {"assistants": True, "crons": True, "langsmith": False},
        "host": {"kind": "tempograph", "task_queue": state.task_queue},
        "graphs": state.catalog.ids(),
        # Tempograph's: for the console's links into the Temporal UI and its approvals.
        "namespace": state.temporal.namespace,
        "temporal_ui": state.temporal_ui,
        "auth": state.auth_kind,
    }
    owner = tenant()
    if owner is not None:
        found["tenant"] = owner  # the caller's (built-in auth): the CLI names threads in it
    return found
