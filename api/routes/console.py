"""``/console``: the operator's web console, a page and a script over the API's own JSON
endpoints (threads and runs, a run's timeline, cost and graph, the state at every
checkpoint, the approvals inbox). The page and its static files hold no data and load
without credentials; everything they show is fetched from the API with the credentials
the person enters, under the same auth and audit as any client.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from tempograph.api.strict_json import StrictJSONRoute

router = APIRouter(
    route_class=StrictJSONRoute, prefix="/console", tags=["console"], include_in_schema=False
)

_FILES = Path(__file__).resolve().parent.parent / "console"
_STATIC = {"console.js": "text/javascript", "console.css": "text/css"}
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    # Its own script and style only, and calls to this API: nothing else runs.
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline';"
    " frame-ancestors 'none'",
}


@router.get("")
@router.get("/")
async def page() -> FileResponse:
    return FileResponse(_FILES / "index.html", media_type="text/html", headers=_HEADERS)


@router.get("/static/{name}")
async def static(name: str) -> FileResponse:
    if name not in _STATIC:
        raise HTTPException(404, f"no console file {name!r}")
    return FileResponse(_FILES / name, media_type=_STATIC[name], headers=_HEADERS)
