"""Dependencies a route declares in its signature."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tempograph.api.state import AppState


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.tempograph
    return state


State = Annotated[AppState, Depends(app_state)]
