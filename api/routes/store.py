"""The long-term memory store over HTTP, shaped as LangGraph Server's ``/store`` routes."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Response
from langgraph.store.base import BaseStore, Item
from pydantic import BaseModel, ConfigDict, Field

from tempograph.api.auth import authorize, tenant
from tempograph.api.deps import State
from tempograph.api.strict_json import StrictJSONRoute
from tempograph.tenant_store import TenantStore

router = APIRouter(route_class=StrictJSONRoute, prefix="/store", tags=["store"])
T = TypeVar("T")

# One value must fit well inside a request body; LangGraph Server has no lower limit.
MAX_VALUE_BYTES = 1024 * 1024


class StorePut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespace: list[str]
    key: str = Field(min_length=1)
    value: dict[str, Any]
    index: bool | list[str] | None = None
    ttl: float | None = Field(None, gt=0)


class StoreDelete(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespace: list[str]
    key: str = Field(min_length=1)


class StoreSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespace_prefix: list[str] = Field(default_factory=list)
    filter: dict[str, Any] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=1_000_000)
    query: str | None = None
    refresh_ttl: bool | None = None


class StoreNamespaces(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prefix: list[str] | None = None
    suffix: list[str] | None = None
    max_depth: int | None = Field(None, ge=1)
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=1_000_000)


def _store(state: State) -> BaseStore:
    """The store as the caller's tenant sees it (all of it when tenants do not apply)."""
    if state.store is None:
        raise HTTPException(503, "The memory store is not available")
    store: BaseStore = state.store
    owner = tenant()
    return TenantStore(store, owner) if owner is not None else store


async def _checked(call: Awaitable[T]) -> T:
    """The store's own checks (LangGraph's rules on namespaces, keys, values, filters)
    refuse with ValueError: that is the caller's error, a 422."""
    try:
        return await call
    except ValueError as err:
        raise HTTPException(422, str(err) or type(err).__name__) from None


def _namespace(labels: list[str], *, allow_empty: bool = False) -> tuple[str, ...]:
    """Labels as LangGraph Server accepts them: non-empty strings without dots."""
    if not labels and not allow_empty:
        raise HTTPException(422, "Namespace cannot be empty")
    for label in labels:
        if not label:
            raise HTTPException(422, f"Namespace labels cannot be empty strings: {labels!r}")
        if "." in label:
            raise HTTPException(422, f"Namespace labels cannot contain periods: {label!r}")
    return tuple(labels)


async def _allowed(
    action: str, value: dict[str, Any], *, allow_empty: bool = False
) -> dict[str, Any]:
    """``value`` after the auth handler for ``store.<action>`` has seen it: it may refuse
    (403) or rewrite it, for example prefix the namespace with the user's identity."""
    await authorize("store", action, value)
    value["namespace"] = _namespace(list(value["namespace"]), allow_empty=allow_empty)
    return value


def _item(item: Item) -> dict[str, Any]:
    out = item.dict()
    out["namespace"] = list(item.namespace)
    return out


@router.put("/items", status_code=204)
async def put_item(body: StorePut, state: State) -> Response:
    if len(json.dumps(body.value)) > MAX_VALUE_BYTES:
        raise HTTPException(413, f"Value too large (limit: {MAX_VALUE_BYTES} bytes)")
    asked = await _allowed(
        "put",
        {
            "namespace": _namespace(body.namespace),
            "key": body.key,
            "value": body.value,
            "index": body.index,
            "ttl": body.ttl,
        },
    )
    await _checked(
        _store(state).aput(
            asked["namespace"],
            asked["key"],
            asked["value"],
            index=asked["index"],
            ttl=asked["ttl"],
        )
    )
    return Response(status_code=204)


@router.get("/items")
async def get_item(
    state: State,
    key: str | None = None,
    namespace: str | None = Query(None, description="labels joined with '.'"),
    refresh_ttl: bool | None = None,
) -> dict[str, Any] | None:
    if not key:
        raise HTTPException(400, "Key is required")
    labels = namespace.split(".") if namespace else []
    asked = await _allowed(
        "get", {"namespace": _namespace(labels), "key": key, "refresh_ttl": refresh_ttl}
    )
    item = await _checked(
        _store(state).aget(asked["namespace"], asked["key"], refresh_ttl=asked["refresh_ttl"])
    )
    return _item(item) if item is not None else None


@router.delete("/items", status_code=204)
async def delete_item(body: StoreDelete, state: State) -> Response:
    asked = await _allowed("delete", {"namespace": _namespace(body.namespace), "key": body.key})
    await _checked(_store(state).adelete(asked["namespace"], asked["key"]))
    return Response(status_code=204)


@router.post("/items/search")
async def search_items(body: StoreSearch, state: State) -> dict[str, Any]:
    asked = await _allowed(
        "search",
        {
            "namespace": _namespace(body.namespace_prefix, allow_empty=True),
            "filter": body.filter,
            "limit": body.limit,
            "offset": body.offset,
            "query": body.query,
        },
        allow_empty=True,
    )
    found = await _checked(
        _store(state).asearch(
            asked["namespace"],
            query=asked["query"],
            filter=asked["filter"],
            limit=asked["limit"],
            offset=asked["offset"],
            refresh_ttl=body.refresh_ttl,
        )
    )
    return {"items": [_item(item) for item in found]}


@router.post("/namespaces")
async def list_namespaces(body: StoreNamespaces, state: State) -> dict[str, Any]:
    asked = await _allowed(
        "list_namespaces",
        {
            "namespace": tuple(body.prefix) if body.prefix else (),
            "suffix": tuple(body.suffix) if body.suffix else None,
            "max_depth": body.max_depth,
            "limit": body.limit,
            "offset": body.offset,
        },
        allow_empty=True,
    )
    found = await _checked(
        _store(state).alist_namespaces(
            prefix=tuple(asked["namespace"]) or None,
            suffix=asked["suffix"],
            max_depth=asked["max_depth"],
            limit=asked["limit"],
            offset=asked["offset"],
        )
    )
    return {"namespaces": [list(ns) for ns in found]}
