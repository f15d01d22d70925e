"""Cross-origin access for browser clients (LangGraph Studio, a team's own front end), as
LangGraph Server configures it: ``http.cors`` in langgraph.json (Starlette's
``CORSMiddleware`` arguments) or ``CORS_ALLOW_ORIGINS`` (comma-separated). Off unless
configured, except in ``tempograph up`` (loopback only), which lets LangGraph Studio's
origin in. A preflight that asks for Private Network Access (Chrome, an HTTPS page
calling a server on this machine) is granted for the allowed origins.
"""

from __future__ import annotations

import os
from typing import Any

from starlette.middleware.cors import CORSMiddleware

STUDIO_ORIGIN = "https://smith.langchain.com"

_DEFAULTS: dict[str, Any] = {
    "allow_methods": ["*"],
    "allow_headers": ["*"],
    "expose_headers": ["x-pagination-total", "x-pagination-next", "content-location"],
    "allow_private_network": True,
}


def cors_settings(configured: dict[str, Any] | None, local: bool) -> dict[str, Any] | None:
    """The CORS middleware's arguments, or None for no cross-origin access."""
    if configured is not None:
        return {**_DEFAULTS, **configured}
    origins = [o.strip() for o in os.environ.get("CORS_ALLOW_ORIGINS", "").split(",") if o.strip()]
    if not origins and local:
        origins = [STUDIO_ORIGIN]
    if not origins:
        return None
    return {**_DEFAULTS, "allow_origins": origins, "allow_credentials": "*" not in origins}


def install(app: Any, settings: dict[str, Any] | None) -> None:
    """Outermost: a preflight is answered before authentication asks for credentials."""
    if settings is None:
        return
    app.add_middleware(CORSMiddleware, **settings)
