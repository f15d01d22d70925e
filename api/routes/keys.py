"""API keys of the caller's tenant, for its admins (built-in auth only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field

from tempograph.api.audit import note
from tempograph.api.auth import authorize, tenant
from tempograph.api.deps import State
from tempograph.api.strict_json import StrictJSONRoute
from tempograph.identity import Role
from tempograph.keys import KeyStore

router = APIRouter(route_class=StrictJSONRoute, prefix="/keys", tags=["keys"])


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    name: str | None = Field(None, max_length=200)


async def _tenant_keys(state: State, action: str) -> tuple[str, KeyStore]:
    owner = tenant()
    if owner is None:
        raise HTTPException(404, "API keys need built-in auth (TEMPOGRAPH_AUTH=keys)")
    await authorize("keys", action, {"tenant": owner})
    return owner, KeyStore(await state.database.pool())


@router.get("")
async def list_keys(state: State) -> list[dict[str, Any]]:
    owner, keys = await _tenant_keys(state, "search")
    return await keys.list(owner)


@router.post("", status_code=201)
async def create_key(body: KeyCreate, state: State) -> dict[str, Any]:
    """A new key of the caller's tenant; its secret is in this answer only."""
    owner, keys = await _tenant_keys(state, "create")
    key, row = await keys.create(owner, body.role.value, body.name)
    note(resource_id=row["key_id"], role=row["role"])
    return {**row, "key": key}


@router.delete("/{key_id}", status_code=204)
async def revoke_key(key_id: str, state: State) -> Response:
    owner, keys = await _tenant_keys(state, "delete")
    if not await keys.revoke(key_id, owner):
        raise HTTPException(404, f"API key {key_id!r} not found")
    return Response(status_code=204)
