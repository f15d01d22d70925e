"""Assistants through the official langgraph-sdk (async and sync) and RemoteGraph."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from langgraph.pregel.remote import RemoteGraph
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    UnprocessableEntityError,
)

from tempograph.database import EmbeddedPostgres
from tempograph.temporal.devserver import DevServer
from tests.conftest import load_seed_demo, load_test_graph
from tests.integration.api_server import serving


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    yield server.start()
    server.stop()


@pytest.fixture
async def api(dev_server: DevServer, postgres_url: str) -> AsyncIterator[str]:
    graphs: dict[str, Any] = dict(load_seed_demo())
    graphs["feat_subgraph"] = load_test_graph("feat_subgraph", "feat_subgraph.py:graph")
    async with serving(dev_server, postgres_url, graphs) as http:
        yield str(http.base_url)


async def test_each_graph_has_a_system_assistant_addressable_by_graph_id(api: str) -> None:
    client = get_client(url=api)
    by_graph = await client.assistants.get("seed_demo")
    assert by_graph["assistant_id"] == str(
        uuid.uuid5(uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8"), "seed_demo")
    )
    assert by_graph["graph_id"] == "seed_demo" and by_graph["name"] == "seed_demo"
    assert by_graph["metadata"] == {"created_by": "system"} and by_graph["version"] == 1
    assert await client.assistants.get(by_graph["assistant_id"]) == by_graph


async def test_create_update_search_count_delete(api: str) -> None:
    client = get_client(url=api)
    tag = uuid.uuid4().hex
    created = await client.assistants.create(
        "seed_demo",
        config={"recursion_limit": 20},
        metadata={"team": tag, "tier": "a"},
        name="demo-a",
    )
    assert created["name"] == "demo-a" and created["version"] == 1
    assert created["config"] == {"recursion_limit": 20}
    updated = await client.assistants.update(
        created["assistant_id"], metadata={"tier": "b"}, name="demo-b"
    )
    assert updated["version"] == 2 and updated["name"] == "demo-b"
    assert updated["metadata"] == {"team": tag, "tier": "b"}  # merged, not replaced
    assert updated["config"] == {"recursion_limit": 20}  # kept when not sent
    second = await client.assistants.create("seed_demo", metadata={"team": tag})

    found = await client.assistants.search(metadata={"team": tag}, sort_by="name", sort_order="asc")
    assert [a["assistant_id"] for a in found] == [
        a["assistant_id"] for a in sorted([updated, second], key=lambda a: a["name"])
    ]
    assert await client.assistants.count(metadata={"team": tag}) == 2
    async with httpx.AsyncClient(base_url=api) as http:
        page = await http.post("/assistants/search", json={"metadata": {"team": tag}, "limit": 1})
    assert page.headers["X-Pagination-Total"] == "2" and page.headers["X-Pagination-Next"] == "1"

    await client.assistants.delete(second["assistant_id"])
    with pytest.raises(NotFoundError):
        await client.assistants.get(second["assistant_id"])
    assert await client.assistants.count(metadata={"team": tag}) == 1


async def test_versions_and_set_latest(api: str) -> None:
    client = get_client(url=api)
    made = await client.assistants.create("seed_demo", config={"recursion_limit": 20}, name="v1")
    aid = made["assistant_id"]
    await client.assistants.update(aid, name="v2", metadata={"stage": "beta"})
    await client.assistants.update(aid, name="v3", config={"recursion_limit": 30})
    versions = await client.assistants.get_versions(aid)
    assert [(v["version"], v["name"]) for v in versions] == [(3, "v3"), (2, "v2"), (1, "v1")]
    assert versions[2]["config"] == {"recursion_limit": 20}
    assert [v["version"] for v in await client.assistants.get_versions(aid, limit=1, offset=1)] == [
        2
    ]
    beta = await client.assistants.get_versions(aid, metadata={"stage": "beta"})
    assert [v["version"] for v in beta] == [3, 2]

    # Back to version 1, as it was; the next change is numbered after the newest.
    back = await client.assistants.set_latest(aid, 1)
    assert (back["version"], back["name"], back["config"]) == (1, "v1", {"recursion_limit": 20})
    assert (await client.assistants.get(aid))["version"] == 1
    again = await client.assistants.update(aid, name="v4")
    assert again["version"] == 4 and again["config"] == {"recursion_limit": 20}
    with pytest.raises(NotFoundError):
        await client.assistants.set_latest(aid, 9)
    # The system assistant of a graph has its first version.
    assert [v["version"] for v in await client.assistants.get_versions("seed_demo")] == [1]


async def test_bad_requests_say_what_is_wrong_and_change_nothing(api: str) -> None:
    client = get_client(url=api)
    before = await client.assistants.count()
    with pytest.raises(NotFoundError, match="Graph 'nope' not found"):
        await client.assistants.create("nope")
    fixed = str(uuid.uuid4())
    await client.assistants.create("seed_demo", assistant_id=fixed)
    with pytest.raises(ConflictError):
        await client.assistants.create("seed_demo", assistant_id=fixed)
    kept = await client.assistants.create("seed_demo", assistant_id=fixed, if_exists="do_nothing")
    assert kept["assistant_id"] == fixed
    with pytest.raises(UnprocessableEntityError, match="must be a UUID or a graph id"):
        await client.assistants.get("not-a-uuid")
    with pytest.raises(BadRequestError, match="both configurable and context"):
        await client.assistants.create(
            "seed_demo", config={"configurable": {"a": 1}}, context={"a": 1}
        )
    async with httpx.AsyncClient(base_url=api) as http:
        unknown_field = await http.post("/assistants", json={"graph_id": "seed_demo", "x": 1})
        wrong_type = await http.post("/assistants/search", json={"limit": "ten"})
        bad_json = await http.post(
            "/assistants", content=b"{nope", headers={"content-type": "application/json"}
        )
    assert unknown_field.status_code == 422 and "x" in unknown_field.json()["detail"]
    assert wrong_type.status_code == 422 and "limit" in wrong_type.json()["detail"]
    assert bad_json.status_code == 422 and "detail" in bad_json.json()
    assert await client.assistants.count() == before + 1  # only the one good create


async def test_graph_drawing_and_schemas(api: str) -> None:
    client = get_client(url=api)
    flat = await client.assistants.get_graph("feat_subgraph")
    assert {"__start__", "prep", "sub", "post", "__end__"} <= {n["id"] for n in flat["nodes"]}
    assert all(set(e) <= {"source", "target", "data", "conditional"} for e in flat["edges"])
    deep = await client.assistants.get_graph("feat_subgraph", xray=True)
    assert {"sub:inner_a", "sub:inner_b"} <= {n["id"] for n in deep["nodes"]}
    async with httpx.AsyncClient(base_url=api) as http:
        assert (
            await http.get("/assistants/feat_subgraph/graph", params={"xray": "0"})
        ).status_code == 422
    schemas = await client.assistants.get_schemas("seed_demo")
    assert schemas["graph_id"] == "seed_demo"
    assert set(schemas["input_schema"]["properties"]) == {"step", "result"}


async def test_sync_client_and_remote_graph(api: str) -> None:
    def use_sync_clients() -> tuple[str, set[str]]:
        # Blocking clients run in a thread: the served app lives on this test's loop.
        client = get_sync_client(url=api)
        drawing = RemoteGraph("feat_subgraph", url=api).get_graph(xray=True)
        return client.assistants.get("seed_demo")["graph_id"], set(drawing.nodes)

    graph_id, nodes = await asyncio.to_thread(use_sync_clients)
    assert graph_id == "seed_demo"
    assert {"sub:inner_a", "sub:inner_b", "prep"} <= nodes
