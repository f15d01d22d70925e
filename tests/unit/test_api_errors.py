"""Errors reach callers as JSON, a defect of ours included (not Starlette's plain text)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tempograph.api.errors import install


async def test_an_unexpected_error_is_a_json_500_without_its_message() -> None:
    app = FastAPI()
    install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise ValueError("secret detail from deep inside")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/boom")
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal" and "ValueError" in body["detail"]
    assert "secret" not in body["detail"]
