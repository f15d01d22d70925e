"""Dependencies a route declares in its signature."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, HTTPException, Request

from tempograph.api.state import AppState


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.tempograph
    return state


State = Annotated[AppState, Depends(app_state)]


def parse_uuid(value: str, what: str) -> UUID:
    """An id from a path or body; 422 when it is not a UUID (an unknown one is a 404
    later)."""
    try:
        return UUID(value)
    except ValueError:
        raise HTTPException(422, f"Invalid {what} ID: must be a UUID") from None
