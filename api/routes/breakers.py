"""``GET /breakers``: every dependency's circuit breaker, as all workers share it
(:mod:`tempograph.breakers`). Breakers cross tenants, so with auth only operators read
them (:func:`require_operator`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tempograph.api.auth import require_operator
from tempograph.api.deps import State
from tempograph.api.strict_json import StrictJSONRoute

router = APIRouter(route_class=StrictJSONRoute, tags=["system"])


@router.get("/breakers")
async def breakers(state: State) -> list[dict[str, Any]]:
    """Each breaker: ``state`` (closed, open, half_open), the failures counted in its
    window, when it opened and when a trial attempt may go through, its last error and
    its settings. Configured breakers that never saw a failure show as closed."""
    require_operator(state, "circuit breakers describe every tenant's dependencies")
    return await state.breakers.describe()
