"""Assistants: a graph plus configuration. A graph id also names its system assistant."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from fastapi import APIRouter, HTTPException, Query, Response

from tempograph.api.audit import note
from tempograph.api.auth import authorize, tenant
from tempograph.api.auth_filters import matches
from tempograph.api.deps import State
from tempograph.api.graphs import system_assistant_id
from tempograph.api.models import (
    AssistantCount,
    AssistantCreate,
    AssistantLatest,
    AssistantPatch,
    AssistantSearch,
    AssistantVersions,
)
from tempograph.api.services.crons import forget_schedules
from tempograph.api.storage.assistants import AssistantStore
from tempograph.api.storage.crons import CronStore
from tempograph.api.strict_json import StrictJSONRoute

router = APIRouter(route_class=StrictJSONRoute, prefix="/assistants", tags=["assistants"])


def _id(state: Any, assistant_id: str) -> UUID:
    """A graph id means its system assistant; anything else must be a UUID."""
    if assistant_id in state.catalog.graphs:
        return system_assistant_id(assistant_id)
    try:
        return UUID(assistant_id)
    except ValueError:
        raise HTTPException(
            422, f"Invalid assistant ID {assistant_id!r}: must be a UUID or a graph id"
        ) from None


def _known_graph(state: Any, graph_id: str) -> None:
    if graph_id not in state.catalog.graphs:
        raise HTTPException(
            404, f"Graph {graph_id!r} not found. Expected one of: {state.catalog.ids()}"
        )


def _one_of_config_or_context(
    config: dict[str, Any] | None, context: dict[str, Any] | None
) -> None:
    if (config or {}).get("configurable") and context:
        raise HTTPException(400, "Cannot specify both configurable and context; use context")


async def _store(state: State) -> AssistantStore:
    return AssistantStore(await state.database.pool())


async def _existing(
    state: State, assistant_id: str, action: str = "read", value: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The assistant, when the caller may ``action`` it; 404 when unknown or not theirs."""
    key = _id(state, assistant_id)
    filters = await authorize("assistants", action, value or {"assistant_id": key})
    found = await (await _store(state)).get(key, tenant())
    if found is None or not matches(found["metadata"], filters):
        raise HTTPException(404, f"Assistant {assistant_id!r} not found")
    shared = found["metadata"].get("created_by") == "system"
    if action != "read" and tenant() is not None and shared:
        raise HTTPException(403, "System assistants are shared by every tenant: read-only")
    return found


@router.post("")
async def create(body: AssistantCreate, state: State) -> dict[str, Any]:
    _known_graph(state, body.graph_id)
    _one_of_config_or_context(body.config, body.context)
    store = await _store(state)
    assistant_id = body.assistant_id or uuid4()
    asked: dict[str, Any] = {
        "assistant_id": assistant_id,
        "graph_id": body.graph_id,
        "config": body.config,
        "context": body.context,
        "metadata": dict(body.metadata),
        "if_exists": body.if_exists,
        "name": body.name,
        "description": body.description,
    }
    filters = await authorize("assistants", "create", asked)
    created = await store.create(
        assistant_id,
        body.graph_id,
        asked["config"],
        asked["context"],
        asked["metadata"],
        asked["name"],
        asked["description"],
        tenant(),
    )
    note(resource_id=str(assistant_id))
    if created is not None:
        return created
    existing = await store.get(assistant_id, tenant())
    if body.if_exists == "raise" or existing is None or not matches(existing["metadata"], filters):
        raise HTTPException(409, f"Assistant {assistant_id} already exists")
    return existing


def _search_value(body: AssistantSearch | AssistantCount) -> dict[str, Any]:
    value: dict[str, Any] = {"graph_id": body.graph_id, "metadata": body.metadata or {}}
    if isinstance(body, AssistantSearch):
        value.update(limit=body.limit, offset=body.offset)
    return value


@router.post("/search")
async def search(body: AssistantSearch, state: State, response: Response) -> list[dict[str, Any]]:
    filters = await authorize("assistants", "search", _search_value(body))
    page, total = await (await _store(state)).search(
        allowed=filters,
        tenant=tenant(),
        graph_id=body.graph_id,
        name=body.name,
        metadata=body.metadata,
        limit=body.limit,
        offset=body.offset,
        sort_by=body.sort_by,
        sort_order=body.sort_order,
    )
    response.headers["X-Pagination-Total"] = str(total)
    if body.offset + len(page) < total:
        response.headers["X-Pagination-Next"] = str(body.offset + len(page))
    if body.select:
        page = [{k: v for k, v in a.items() if k in body.select} for a in page]
    return page


@router.post("/count")
async def count(body: AssistantCount, state: State) -> int:
    filters = await authorize("assistants", "search", _search_value(body))
    return await (await _store(state)).count(
        graph_id=body.graph_id,
        name=body.name,
        metadata=body.metadata,
        allowed=filters,
        tenant=tenant(),
    )


@router.get("/{assistant_id}")
async def get(assistant_id: str, state: State) -> dict[str, Any]:
    return await _existing(state, assistant_id)


@router.patch("/{assistant_id}")
async def patch(assistant_id: str, body: AssistantPatch, state: State) -> dict[str, Any]:
    if body.graph_id is not None:
        _known_graph(state, body.graph_id)
    _one_of_config_or_context(body.config, body.context)
    changes = {
        key: value
        for key, value in body.model_dump(exclude_unset=True).items()
        if value is not None or key == "description"
    }
    asked: dict[str, Any] = {"assistant_id": _id(state, assistant_id), **changes}
    await _existing(state, assistant_id, "update", asked)
    updated = await (await _store(state)).update(
        _id(state, assistant_id),
        {key: asked[key] for key in changes},
    )
    if updated is None:
        raise HTTPException(404, f"Assistant {assistant_id!r} not found")
    return updated


@router.post("/{assistant_id}/versions")
async def versions(
    assistant_id: str, body: AssistantVersions, state: State
) -> list[dict[str, Any]]:
    """Every version of the assistant, newest first (``client.assistants.get_versions``)."""
    await _existing(state, assistant_id)
    store = await _store(state)
    return await store.versions(_id(state, assistant_id), body.metadata, body.limit, body.offset)


@router.post("/{assistant_id}/latest")
async def set_latest(assistant_id: str, body: AssistantLatest, state: State) -> dict[str, Any]:
    """Make one of its versions the current one (``client.assistants.set_latest``)."""
    asked = {"assistant_id": _id(state, assistant_id), "version": body.version}
    await _existing(state, assistant_id, "update", asked)
    found = await (await _store(state)).set_latest(_id(state, assistant_id), body.version)
    if found is None:
        raise HTTPException(404, f"Assistant {assistant_id!r} has no version {body.version}")
    return found


@router.delete("/{assistant_id}", status_code=204)
async def delete(assistant_id: str, state: State, delete_threads: bool = False) -> Response:
    await _existing(state, assistant_id, "delete")
    its_crons = await CronStore(await state.database.pool()).of_assistant(_id(state, assistant_id))
    if not await (await _store(state)).delete(_id(state, assistant_id)):
        raise HTTPException(404, f"Assistant {assistant_id!r} not found")
    await forget_schedules(state, its_crons, strict=False)  # its crons went with it
    return Response(status_code=204)


@router.get("/{assistant_id}/graph")
async def graph(assistant_id: str, state: State, xray: str = Query("false")) -> dict[str, Any]:
    assistant = await _existing(state, assistant_id)
    depth: bool | int
    if xray.lower() in ("true", "false"):
        depth = xray.lower() == "true"
    elif xray.isdigit() and int(xray) >= 1:
        depth = int(xray)
    else:
        raise HTTPException(422, f"Invalid xray value {xray!r}: true, false or an integer >= 1")
    return state.catalog.drawing(assistant["graph_id"], depth)


@router.get("/{assistant_id}/subgraphs")
async def subgraphs(assistant_id: str, state: State, recurse: bool = False) -> dict[str, Any]:
    """The graph's subgraphs and their schemas, by namespace (a node's name)."""
    assistant = await _existing(state, assistant_id)
    return state.catalog.subgraphs(assistant["graph_id"], None, recurse)


@router.get("/{assistant_id}/subgraphs/{namespace}")
async def subgraph(
    assistant_id: str, namespace: str, state: State, recurse: bool = False
) -> dict[str, Any]:
    """The subgraph at ``namespace`` (``parent|child`` for a nested one)."""
    assistant = await _existing(state, assistant_id)
    return state.catalog.subgraphs(assistant["graph_id"], namespace, recurse)


@router.get("/{assistant_id}/schemas")
async def schemas(assistant_id: str, state: State) -> dict[str, Any]:
    assistant = await _existing(state, assistant_id)
    return state.catalog.schemas(assistant["graph_id"])
