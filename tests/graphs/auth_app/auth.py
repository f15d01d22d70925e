"""LangGraph's own custom-auth examples (owner-only resources, a store scoped to the
user), plus what Tempograph's tests need: an admin-only thread delete and API keys."""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Auth

# Bearer tokens and API keys the tests send (LangGraph's tutorials hard-code theirs too).
TOKENS = {
    "alice-token": {"identity": "alice", "permissions": ["threads:write"]},
    "bob-token": {"identity": "bob", "permissions": ["threads:write"]},
    "root-token": {"identity": "root", "permissions": ["threads:write", "admin"]},
}
API_KEYS = {"alice-key": "alice-token"}

auth = Auth()


@auth.authenticate
async def get_current_user(authorization: str | None, headers: dict[bytes, bytes]) -> Any:
    key = headers.get(b"x-api-key")
    if key is not None:
        token = API_KEYS.get(key.decode())
        if token is None:
            raise Auth.exceptions.HTTPException(status_code=401, detail="Invalid API key")
        return {**TOKENS[token], "display_name": f"{TOKENS[token]['identity']} (key)"}
    assert authorization, "No credentials"
    scheme, token = authorization.split()  # as LangGraph's docs write it
    if scheme.lower() != "bearer" or token not in TOKENS:
        raise Auth.exceptions.HTTPException(status_code=401, detail="Invalid token")
    return {**TOKENS[token], "team": "blue"}


@auth.on
async def add_owner(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, str]:
    """Make resources private to their creator (LangGraph's "private conversations")."""
    filters = {"owner": ctx.user.identity}
    metadata = value.setdefault("metadata", {})
    metadata.update(filters)
    return filters


@auth.on.threads.delete
async def only_admins_delete(
    ctx: Auth.types.AuthContext, value: Auth.types.on.threads.delete.value
) -> bool | dict[str, str]:
    if "admin" not in ctx.permissions:
        return False
    return True


@auth.on.store()
async def authorize_store(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> None:
    """Each user's items live under a namespace that starts with their identity."""
    namespace: tuple[str, ...] = value["namespace"]
    assert namespace and namespace[0] == ctx.user.identity, "Not authorized"
