"""Recording every mutating API call in the audit log (:mod:`tempograph.audit`).

A middleware inside authentication sees each call end: a POST, PUT, PATCH or DELETE
that changes something is appended with the caller (user, tenant, key), the action
(``threads.create``, ``runs.create``, ``interrupts.answer``...), the resource and its
id, and the outcome (the HTTP status). Routes add what only they know (the id of what
they created, the interrupt a resume answers and the answer) with :func:`note`.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

from tempograph.api.auth import SCOPE_CALLER, Caller
from tempograph.audit import AuditLog, Entry

logger = logging.getLogger(__name__)

_ACTIONS = {
    ("POST", "/threads"): "threads.create",
    ("PATCH", "/threads/{thread_id}"): "threads.update",
    ("DELETE", "/threads/{thread_id}"): "threads.delete",
    ("POST", "/threads/{thread_id}/state"): "threads.update_state",
    ("POST", "/threads/{thread_id}/copy"): "threads.copy",
    ("POST", "/threads/{thread_id}/runs"): "runs.create",
    ("POST", "/threads/{thread_id}/runs/wait"): "runs.create",
    ("POST", "/threads/{thread_id}/runs/stream"): "runs.create",
    ("POST", "/runs"): "runs.create",
    ("POST", "/runs/wait"): "runs.create",
    ("POST", "/runs/stream"): "runs.create",
    ("POST", "/threads/{thread_id}/runs/{run_id}/cancel"): "runs.cancel",
    ("DELETE", "/threads/{thread_id}/runs/{run_id}"): "runs.delete",
    ("POST", "/assistants"): "assistants.create",
    ("PATCH", "/assistants/{assistant_id}"): "assistants.update",
    ("DELETE", "/assistants/{assistant_id}"): "assistants.delete",
    ("PUT", "/store/items"): "store.put",
    ("DELETE", "/store/items"): "store.delete",
    ("POST", "/keys"): "keys.create",
    ("DELETE", "/keys/{key_id}"): "keys.revoke",
}
_MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
_ID_PARAMS = ("run_id", "assistant_id", "key_id", "thread_id")

_notes: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "tempograph_audit", default=None
)


def note(**fields: Any) -> None:
    """Add to the audit row of the call being served: ``action``, ``resource_id`` or
    entries of ``detail``."""
    found = _notes.get()
    if found is None:
        return
    for key in ("action", "resource_id"):
        if key in fields:
            found[key] = fields.pop(key)
    found.setdefault("detail", {}).update(fields)


class Audit:
    """ASGI middleware: appends one audit row per mutating call, after it answered."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") not in _MUTATING:
            await self.app(scope, receive, send)
            return
        status = 500
        notes: dict[str, Any] = {}

        async def watch(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        token = _notes.set(notes)
        try:
            await self.app(scope, receive, watch)
        finally:
            _notes.reset(token)
            await self._record(scope, status, notes)

    async def _record(self, scope: dict[str, Any], status: int, notes: dict[str, Any]) -> None:
        route = getattr(scope.get("route"), "path", None)
        action = notes.get("action") or _ACTIONS.get((scope["method"], route or ""))
        if action is None:
            return  # a read that is a POST (search, count, history) or no route at all
        caller: Caller | None = scope.get(SCOPE_CALLER)
        params = scope.get("path_params") or {}
        resource_id = notes.get("resource_id") or next(
            (str(params[p]) for p in _ID_PARAMS if p in params), None
        )
        detail = dict(notes.get("detail") or {})
        if "thread_id" in params and action.startswith(("runs.", "interrupts.")):
            detail.setdefault("thread_id", str(params["thread_id"]))
        entry = Entry(
            actor=(caller.user.get("identity") if caller else "") or "anonymous",
            action=action,
            outcome=status,
            tenant_id=(caller.tenant if caller else None) or "",
            key_id=caller.key_id if caller else None,
            resource=action.split(".")[0],
            resource_id=resource_id,
            detail=detail,
        )
        try:
            pool = await scope["app"].state.tempograph.database.pool()
            await AuditLog(pool).append(entry)
        except Exception as err:  # noqa: BLE001 - the call happened; say the row is missing
            logger.error("audit row for %s not written: %s", action, type(err).__name__)
