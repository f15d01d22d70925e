"""The memory store through the official SDK, and from inside node activities."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from langgraph_sdk import get_client
from temporalio.client import Client

from tempograph.temporal.devserver import DevServer
from tests.conftest import load_test_graph
from tests.graphs.store_graphs import DIMS, embeddings
from tests.integration.api_server import api_stack


@pytest.fixture(scope="module")
async def api(dev_server: DevServer, client: Client, postgres_url: str) -> AsyncIterator[str]:
    graphs = {"memory": load_test_graph("memory", "store_graphs.py:graph")}
    index = {"dims": DIMS, "embed": embeddings, "fields": ["text"]}
    async with api_stack(dev_server, client, postgres_url, graphs, store_index=index) as http:
        yield str(http.base_url)


async def test_items_put_get_search_delete_and_namespaces_with_the_sdk(api: str) -> None:
    sdk = get_client(url=api)
    await sdk.store.put_item(["users", "ann", "notes"], "a", {"text": "likes tea"})
    await sdk.store.put_item(["users", "ann", "notes"], "b", {"text": "walks to work"})
    await sdk.store.put_item(["users", "bob", "notes"], "c", {"text": "likes coffee"})
    item = await sdk.store.get_item(["users", "ann", "notes"], "a")
    assert item is not None
    assert item["value"] == {"text": "likes tea"} and item["namespace"] == ["users", "ann", "notes"]
    assert await sdk.store.get_item(["users", "ann", "notes"], "missing") is None
    found = await sdk.store.search_items(["users", "ann"], query="likes tea", limit=5)
    assert found["items"][0]["key"] == "a"
    assert all(i["score"] is not None for i in found["items"])
    filtered = await sdk.store.search_items(["users"], filter={"text": "likes coffee"})
    assert [i["key"] for i in filtered["items"]] == ["c"]
    spaces = await sdk.store.list_namespaces(prefix=["users"], max_depth=2)
    assert sorted(spaces["namespaces"]) == [["users", "ann"], ["users", "bob"]]
    await sdk.store.delete_item(["users", "ann", "notes"], "a")
    assert await sdk.store.get_item(["users", "ann", "notes"], "a") is None


async def test_bad_store_input_is_refused_and_stores_nothing(api: str) -> None:
    async with httpx.AsyncClient(base_url=api) as http:
        cases = [
            ({"namespace": [], "key": "k", "value": {}}, 422, "empty"),
            ({"namespace": ["a", ""], "key": "k", "value": {}}, 422, "empty"),
            ({"namespace": ["a.b"], "key": "k", "value": {}}, 422, "period"),
            ({"namespace": ["a"], "key": "k", "value": [1, 2]}, 422, "value"),
            ({"namespace": ["a"], "key": "k", "value": "text"}, 422, "value"),
            ({"namespace": ["a"], "key": "k", "value": {"x": "y" * (1024 * 1024)}}, 413, "large"),
        ]
        for body, status, words in cases:
            response = await http.put("/store/items", json=body)
            assert response.status_code == status, (body, response.text)
            assert words in response.json()["detail"].lower()
        missing_key = await http.get("/store/items", params={"namespace": "a"})
        assert missing_key.status_code == 400
        listed = await http.post("/store/namespaces", json={"prefix": ["a"]})
        assert listed.json() == {"namespaces": []}


async def test_nodes_use_the_store_as_in_langgraph(api: str) -> None:
    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    first = await sdk.runs.wait(thread["thread_id"], "memory", input={"user": "ann", "fact": "tea"})
    assert first["recalled"] == ["tea"]
    other = await sdk.threads.create()
    second = await sdk.runs.wait(
        other["thread_id"], "memory", input={"user": "ann", "fact": "jazz"}
    )
    # Memories outlive the thread that wrote them: the second thread recalls both.
    assert second["recalled"] == ["jazz", "tea"]
    item = await sdk.store.get_item(["memories", "ann"], "tea")
    assert item is not None and item["value"] == {"text": "tea"}
