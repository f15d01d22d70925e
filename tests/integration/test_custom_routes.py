"""langgraph.json's ``http.app`` through ``tempograph up`` and the SDK, as LangGraph
Server serves it: the project's routes (shadowing built-in ones but never ``/ok``), its
middleware on every route, its lifespan, the ``disable_*`` switches, and authentication
on custom routes only when ``enable_custom_route_auth`` says so."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client

from tempograph.errors import ConfigError
from tempograph.registry import read_config
from tests.integration.test_cli import up_stack

APP = Path(__file__).resolve().parents[1] / "graphs" / "custom_app"
ALICE = {"Authorization": "Bearer alice-token"}


async def test_custom_routes_middleware_and_lifespan_with_auth_on_builtins_only(
    tmp_path: Path,
) -> None:
    with up_stack(tmp_path / "data", APP / "langgraph.json") as (up, _):
        url = f"http://127.0.0.1:{up.api_port}"
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            hello = await http.get("/hello")  # no credentials: custom routes are not covered
            assert hello.status_code == 200, hello.text
            assert hello.json() == {
                "greeting": "hello from the lifespan",
                "module": "hello from the lifespan",
            }
            assert hello.headers["x-custom-middleware"] == "ran"
            assert (await http.get("/info")).json() == {"shadowed": True}
            assert (await http.get("/ok")).json() == {"ok": True}  # never shadowed
            # The app has its own /docs and /openapi.json, but ours answer, and are covered.
            assert (await http.get("/openapi.json")).status_code in (401, 403)
            refused = await http.post("/threads", json={})
            assert refused.status_code in (401, 403), refused.text
            # The project's middleware is outside authentication by default.
            assert refused.headers["x-custom-middleware"] == "ran"
            stored = await http.put(
                "/store/items", json={"namespace": ["a"], "key": "k", "value": {}}, headers=ALICE
            )
            assert stored.status_code == 404, "disable_store leaves the store's routes out"
        sdk = get_client(url=url, headers=ALICE)
        thread = await sdk.threads.create()
        out = await sdk.runs.wait(thread["thread_id"], "whoami", input={"question": "?"})
        assert out, out


async def test_enable_custom_route_auth_and_auth_first(tmp_path: Path) -> None:
    with up_stack(tmp_path / "data", APP / "auth_first.json") as (up, _):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{up.api_port}") as http:
            refused = await http.get("/hello")
            assert refused.status_code in (401, 403), refused.text
            # Authentication answered before the project's middleware ran.
            assert "x-custom-middleware" not in refused.headers
            allowed = await http.get("/hello", headers=ALICE)
            assert allowed.status_code == 200 and allowed.headers["x-custom-middleware"] == "ran"
            assert (await http.post("/threads", json={})).status_code in (401, 403)
            assert (await http.post("/threads", json={}, headers=ALICE)).status_code == 200


@pytest.mark.parametrize(
    ("http", "says"),
    [
        ({"mount_prefix": "/api"}, "not supported"),
        ({"disable_threads": "yes"}, "true or false"),
        ({"middleware_order": "last"}, "middleware_first"),
        ({"nonsense": 1}, "not a LangGraph Server http setting"),
        ({"app": "no-attribute"}, "./file.py:app"),
    ],
)
def test_bad_http_settings_are_config_errors(tmp_path: Path, http: dict, says: str) -> None:
    config = tmp_path / "langgraph.json"
    graph = APP.parent / "auth_app" / "whoami.py"
    config.write_text(json.dumps({"graphs": {"whoami": f"{graph}:graph"}, "http": http}))
    with pytest.raises(ConfigError) as raised:
        read_config(config)
    assert says in str(raised.value)
