"""LangGraph custom auth (``"auth": {"path": ...}`` in langgraph.json), driven by the
pinned ``langgraph_sdk`` with ``headers=`` and ``api_key=``, on a real worker and
Postgres: LangGraph's own examples (owner-only resources, a store scoped to the user)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from temporalio.client import Client

from tempograph.api.auth import CustomAuth, load_auth
from tempograph.registry import read_config
from tempograph.temporal.devserver import DevServer
from tests.conftest import TEST_GRAPHS, load_test_graph
from tests.integration.api_server import api_stack

APP = TEST_GRAPHS / "auth_app"


@pytest.fixture(scope="module")
async def api(dev_server: DevServer, client: Client, postgres_url: str) -> AsyncIterator[str]:
    config = read_config(APP / "langgraph.json")
    auth = CustomAuth(load_auth(config.auth, config.path.parent))
    graphs = {"whoami": load_test_graph("whoami", "auth_app/whoami.py:graph")}
    async with api_stack(dev_server, client, postgres_url, graphs, auth=auth) as http:
        yield str(http.base_url)


def refused(status: int) -> Any:
    """Expect the SDK to raise for ``status`` (its wait call raises httpx's own error)."""
    return pytest.raises(
        httpx.HTTPStatusError, check=lambda err: err.response.status_code == status
    )


def as_user(api: str, who: str) -> LangGraphClient:
    return get_client(url=api, headers={"Authorization": f"Bearer {who}-token"})


async def test_requests_without_good_credentials_get_401_with_json(api: str) -> None:
    async with httpx.AsyncClient(base_url=api) as http:
        assert (await http.get("/ok")).status_code == 200  # health checks stay open
        missing = await http.post("/threads", json={})
        assert missing.status_code == 401
        assert missing.json() == {"detail": "No credentials"}
        wrong = await http.post("/threads/search", json={}, headers={"Authorization": "Bearer x"})
        assert wrong.status_code == 401
        assert wrong.json() == {"detail": "Invalid token"}
        for malformed in ("garbage", "Bearer a b"):  # the handler's split() fails: still 401
            odd = await http.get("/info", headers={"Authorization": malformed})
            assert (odd.status_code, odd.json()) == (401, {"detail": "Invalid credentials"})
        bad_key = await http.get("/info", headers={"x-api-key": "nope"})
        assert bad_key.status_code == 401
        assert "nope" not in bad_key.text


async def test_threads_are_private_to_their_owner(api: str) -> None:
    alice, bob = as_user(api, "alice"), as_user(api, "bob")
    mine = await alice.threads.create(metadata={"topic": "taxes"})
    assert mine["metadata"] == {"topic": "taxes", "owner": "alice"}  # stamped by @auth.on
    # Bob cannot see, change, run on, read the state of, or find Alice's thread.
    with refused(404):
        await bob.threads.get(mine["thread_id"])
    with refused(404):
        await bob.threads.update(mine["thread_id"], metadata={"owner": "bob"})
    with refused(404):
        await bob.threads.get_state(mine["thread_id"])
    with refused(404):
        await bob.threads.get_history(mine["thread_id"])
    with refused(404):
        await bob.runs.list(mine["thread_id"])
    with refused(404):
        await bob.threads.update_state(mine["thread_id"], {"question": "mine now"})
    with refused(404):
        await bob.threads.copy(mine["thread_id"])
    with refused(404):
        await bob.runs.wait(mine["thread_id"], "whoami", input={"question": "?"})
    assert await alice.runs.list(mine["thread_id"]) == []  # the refused run left nothing
    assert await bob.threads.search(metadata={"topic": "taxes"}) == []
    assert await bob.threads.count(metadata={"topic": "taxes"}) == 0
    found = await alice.threads.search(metadata={"topic": "taxes"})
    assert mine["thread_id"] in [t["thread_id"] for t in found]
    assert all(t["metadata"]["owner"] == "alice" for t in found)
    # Bob's "owner" in a search cannot widen what he sees: the auth filter still applies.
    assert await bob.threads.search(metadata={"owner": "alice"}) == []
    # A handler answering False is 403 (only admins delete threads), before any filter.
    with refused(403):
        await alice.threads.delete(mine["thread_id"])
    assert (await alice.threads.get(mine["thread_id"]))["thread_id"] == mine["thread_id"]
    # The codec endpoint opens everyone's payloads: the admin permission only.
    with refused(403):
        await alice.http.post("/codec/decode", json={"payloads": []})
    root = as_user(api, "root")
    assert await root.http.post("/codec/decode", json={"payloads": []}) == {"payloads": []}


async def test_nodes_see_the_caller_and_a_request_cannot_impersonate(api: str) -> None:
    alice = as_user(api, "alice")
    thread = await alice.threads.create()
    spoofed = {"configurable": {"langgraph_auth_user": {"identity": "mallory"}}}
    out = await alice.runs.wait(
        thread["thread_id"], "whoami", input={"question": "who?"}, config=spoofed
    )
    assert out["identity"] == "alice"
    assert out["display_name"] == "alice"
    assert out["user_id"] == "alice"
    assert out["permissions"] == ["threads:write"]
    # A run that creates its thread stamps the owner on it (the run's metadata).
    new_id = str(uuid.uuid4())
    await alice.runs.wait(new_id, "whoami", input={}, if_not_exists="create")
    assert (await alice.threads.get(new_id))["metadata"]["owner"] == "alice"
    with refused(404):
        await as_user(api, "bob").threads.get(new_id)
    # A stateless run knows its caller too; an API key works as LangGraph's SDK sends it.
    keyed = get_client(url=api, api_key="alice-key")
    out = await keyed.runs.wait(None, "whoami", input={})
    assert (out["identity"], out["display_name"]) == ("alice", "alice (key)")


async def test_admins_delete_and_assistants_are_private(api: str) -> None:
    alice, bob, root = as_user(api, "alice"), as_user(api, "bob"), as_user(api, "root")
    thread = await root.threads.create()
    await root.threads.delete(thread["thread_id"])
    with refused(404):
        await root.threads.get(thread["thread_id"])
    helper = await alice.assistants.create("whoami", name="alice's helper")
    assert helper["metadata"]["owner"] == "alice"
    with refused(404):
        await bob.assistants.get(helper["assistant_id"])
    with refused(404):
        await bob.assistants.update(helper["assistant_id"], name="mine now")
    with refused(404):
        await bob.assistants.delete(helper["assistant_id"])
    bobs_thread = await bob.threads.create()
    with refused(404):
        await bob.runs.wait(bobs_thread["thread_id"], helper["assistant_id"], input={})
    assert helper["assistant_id"] not in [
        a["assistant_id"] for a in await bob.assistants.search(graph_id="whoami")
    ]
    assert helper["assistant_id"] in [
        a["assistant_id"] for a in await alice.assistants.search(graph_id="whoami")
    ]
    out = await alice.runs.wait(None, helper["assistant_id"], input={})
    assert out["identity"] == "alice"


async def test_the_store_is_scoped_to_the_user(api: str) -> None:
    alice, bob = as_user(api, "alice"), as_user(api, "bob")
    await alice.store.put_item(["alice", "notes"], "n1", {"text": "mine"})
    item = await alice.store.get_item(["alice", "notes"], "n1")
    assert item is not None and item["value"] == {"text": "mine"}
    with refused(403) as denied:
        await bob.store.get_item(["alice", "notes"], "n1")
    assert denied.value.response.json() == {"detail": "Not authorized"}
    with refused(403):
        await bob.store.put_item(["alice", "notes"], "n2", {"text": "planted"})
    with refused(403):
        await bob.store.search_items(["alice"])
    with refused(403):
        await bob.store.delete_item(["alice", "notes"], "n1")
    assert await alice.store.get_item(["alice", "notes"], "n2") is None  # nothing stored
    found = await alice.store.search_items(["alice"])
    assert [i["key"] for i in found["items"]] == ["n1"]


def test_the_auth_file_must_name_an_auth_object(tmp_path: Any) -> None:
    from tempograph.errors import ConfigError

    (tmp_path / "auth.py").write_text("auth = 42\n")
    with pytest.raises(ConfigError, match=r"not a langgraph_sdk\.Auth"):
        load_auth({"path": "./auth.py:auth"}, tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_auth({"path": "./missing.py:auth"}, tmp_path)


async def test_filters_in_sql_select_what_they_match_in_python(postgres_url: str) -> None:
    import asyncpg

    from tempograph.api.auth_filters import filter_sql, matches

    rows: list[dict[str, Any]] = [
        {},
        {"owner": "a"},
        {"owner": "b", "team": "x"},
        {"owner": "a", "team": "x", "tags": ["t", "u"]},
        {"owner": {"nested": 1}},
        {"owner": "a", "tags": "t"},
        {"shared": True, "tags": ["u"]},
        {"owner": 1},
    ]
    filters: list[dict[str, Any]] = [
        {"owner": "a"},
        {"owner": {"$eq": {"nested": 1}}},
        {"owner": 1},
        {"tags": {"$contains": "t"}},
        {"tags": {"$contains": ["t", "u"]}},
        {"$or": [{"owner": "a"}, {"shared": True}]},
        {"$and": [{"owner": "a"}, {"team": "x"}], "tags": {"$contains": "u"}},
        {"$or": [{"$and": [{"owner": "b"}, {"team": "x"}]}, {"shared": True}]},
    ]
    conn = await asyncpg.connect(postgres_url)
    try:
        for rule in filters:
            args: list[Any] = []
            where = filter_sql(rule, "m.metadata", args)
            n = len(args)
            values = ", ".join(
                f"(${n + 2 * i + 1}::int, ${n + 2 * i + 2}::jsonb)" for i in range(len(rows))
            )
            for i, row in enumerate(rows):
                args += [i, json.dumps(row)]
            selected = await conn.fetch(
                f"SELECT m.i FROM (VALUES {values}) AS m(i, metadata) WHERE {where} ORDER BY m.i",
                *args,
            )
            expected = [i for i, row in enumerate(rows) if matches(row, rule)]
            assert [r["i"] for r in selected] == expected, rule
    finally:
        await conn.close()


async def test_a_cron_is_its_creators_and_runs_as_them(api: str, client: Client) -> None:
    """The cron carries its creator: their handler's filter guards it, and each tick
    makes its run as they would (owner stamped on the thread, the user in the node)."""
    from tests.integration.test_crons import trigger

    alice, bob = as_user(api, "alice"), as_user(api, "bob")
    cron = await alice.crons.create(
        "whoami", schedule="0 0 1 1 *", input={"question": "who?"}, on_run_completed="keep"
    )
    assert cron["metadata"]["owner"] == "alice"
    assert cron["user_id"] == "alice"
    assert await bob.crons.search() == []
    assert await bob.crons.count() == 0
    async with httpx.AsyncClient(base_url=api, headers={"Authorization": "Bearer bob-token"}) as b:
        assert (await b.get(f"/runs/crons/{cron['cron_id']}")).status_code == 404
        assert (await b.delete(f"/runs/crons/{cron['cron_id']}")).status_code == 404
        taken = await b.patch(f"/runs/crons/{cron['cron_id']}", json={"input": {"question": "x"}})
        assert taken.status_code == 404
    tick = await trigger(client, cron["cron_id"])
    assert tick is not None
    out = await alice.runs.join(tick.thread_id, tick.run_id)
    assert (out["identity"], out["user_id"]) == ("alice", "alice")
    assert (await alice.threads.get(tick.thread_id))["metadata"]["owner"] == "alice"
    with refused(404):
        await bob.threads.get(tick.thread_id)
    await alice.crons.delete(cron["cron_id"])
