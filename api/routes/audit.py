"""The audit log, for admins: filter by tenant, actor, action and time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query

from tempograph.api.auth import authorize, current, tenant
from tempograph.api.deps import State
from tempograph.api.strict_json import StrictJSONRoute
from tempograph.audit import AuditLog

router = APIRouter(route_class=StrictJSONRoute, prefix="/audit", tags=["audit"])


@router.get("")
async def search(
    state: State,
    tenant_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> list[dict[str, Any]]:
    """Rows in the order they were appended. With built-in auth an admin sees only their
    own tenant's rows (asking for another tenant's is a 403)."""
    own = tenant()
    caller = current()
    if caller is not None and own is None and "admin" not in caller.permissions:
        # LangGraph custom auth has no rule for it: its users need the "admin" permission.
        raise HTTPException(403, "Forbidden: the audit log needs the admin permission")
    await authorize("audit", "search", {"tenant_id": tenant_id or own})
    if own is not None:
        if tenant_id not in (None, own):
            raise HTTPException(403, "Forbidden: an admin reads only their tenant's audit log")
        tenant_id = own
    return await AuditLog(await state.database.pool()).search(
        tenant_id=tenant_id,
        actor=actor,
        action=action,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
