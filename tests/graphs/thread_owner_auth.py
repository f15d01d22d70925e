"""Custom auth that guards threads only (each is its creator's): crons have no handler
of their own, so a thread's crons must follow their thread's filter."""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Auth

auth = Auth()


@auth.authenticate
async def who(authorization: str | None) -> str:
    assert authorization, "No credentials"
    return authorization.split()[-1]  # "Bearer alice": alice (a test's stand-in)


@auth.on.threads
async def own_threads(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, str]:
    value.setdefault("metadata", {})["owner"] = ctx.user.identity
    return {"owner": ctx.user.identity}
