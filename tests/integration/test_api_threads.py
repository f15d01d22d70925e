"""Threads through the official langgraph-sdk (async and sync) and raw HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from tempograph.api.storage.threads import ThreadStore
from tempograph.database import open_pool
from tempograph.temporal.devserver import DevServer
from tempograph.valuestore import MemoryValueStore
from tempograph.workflows.types import RUN_WORKFLOW, CheckpointBatch, RunInput, RunRequest
from tests.integration.api_server import serving

MALFORMED = "Invalid thread ID: must be a UUID"


def plain(thread: Mapping[str, Any]) -> dict[str, Any]:
    """An SDK ``Thread`` as a plain dict: its TypedDict lacks fields the server sends."""
    return dict(thread)


@pytest.fixture
async def api(dev_server: DevServer, postgres_url: str) -> AsyncIterator[str]:
    async with serving(dev_server, postgres_url) as http:
        yield str(http.base_url)


@pytest.fixture
async def pool(api: str, postgres_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool of the test's own, on the schema the app migrated (``api`` comes first)."""
    pool = await open_pool(postgres_url, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def test_create_get_update_delete(api: str) -> None:
    client = get_client(url=api)
    fresh = plain(await client.threads.create())
    assert uuid.UUID(fresh["thread_id"])
    assert fresh["status"] == "idle" and fresh["values"] is None and fresh["error"] is None
    assert fresh["metadata"] == {} and fresh["config"] == {} and fresh["interrupts"] == {}
    for key in ("created_at", "updated_at", "state_updated_at"):
        assert datetime.fromisoformat(fresh[key]).utcoffset() is not None

    chosen = str(uuid.uuid4())
    created = await client.threads.create(
        thread_id=chosen, metadata={"user": "a", "tier": 1}, graph_id="agent"
    )
    assert created["thread_id"] == chosen
    assert created["metadata"] == {"user": "a", "tier": 1, "graph_id": "agent"}
    with pytest.raises(ConflictError, match=f"Thread with ID {chosen} already exists"):
        await client.threads.create(thread_id=chosen)
    kept = await client.threads.create(
        thread_id=chosen, metadata={"user": "b"}, if_exists="do_nothing"
    )
    assert kept == created  # the existing thread, untouched
    assert await client.threads.get(chosen, include=["ttl"]) == created

    updated = await client.threads.update(chosen, metadata={"tier": 2, "new": True})
    assert updated["metadata"] == {"user": "a", "tier": 2, "graph_id": "agent", "new": True}
    assert updated["updated_at"] >= created["updated_at"]
    assert updated["created_at"] == created["created_at"]
    await client.threads.update(chosen, metadata={"z": 1}, return_minimal=True)
    assert plain(await client.threads.get(chosen))["metadata"]["z"] == 1
    async with httpx.AsyncClient(base_url=api) as http:
        minimal = await http.patch(
            f"/threads/{chosen}", json={"metadata": {}}, headers={"Prefer": "return=minimal"}
        )
    assert minimal.status_code == 204 and minimal.content == b""

    await client.threads.delete(chosen)
    with pytest.raises(NotFoundError, match=f"Thread {chosen} not found"):
        await client.threads.get(chosen)
    with pytest.raises(NotFoundError):
        await client.threads.delete(chosen)
    with pytest.raises(NotFoundError):
        await client.threads.update(chosen, metadata={"a": 1})
    assert (await client.threads.get(fresh["thread_id"]))["thread_id"] == fresh["thread_id"]


async def test_search_count_sort_page_select(api: str, pool: asyncpg.Pool) -> None:
    client = get_client(url=api)
    tag = uuid.uuid4().hex
    a, b, c = [
        plain(await client.threads.create(metadata={"tag": tag, "n": n, "even": n % 2 == 0}))
        for n in range(3)
    ]
    # Runs record what they leave behind with set_state; here the test stands in for one.
    stored = await ThreadStore(pool, MemoryValueStore()).set_state(
        uuid.UUID(b["thread_id"]),
        "interrupted",
        {"step": 2, "result": "half"},
        {"task-1": [{"id": "i1", "value": {"question": "ok?"}}]},
        None,
    )
    assert stored is not None and stored["state_updated_at"] >= b["state_updated_at"]
    b = plain(await client.threads.get(b["thread_id"]))
    assert b["status"] == "interrupted" and b["values"] == {"step": 2, "result": "half"}
    assert b["interrupts"] == {"task-1": [{"id": "i1", "value": {"question": "ok?"}}]}

    def ids(threads: Any) -> list[str]:
        return [t["thread_id"] for t in threads]

    # Newest change first by default: b (state), then c, then a.
    assert ids(await client.threads.search(metadata={"tag": tag})) == ids([b, c, a])
    assert ids(await client.threads.search(metadata={"tag": tag, "even": True})) == ids([c, a])
    assert ids(await client.threads.search(metadata={"tag": tag}, status="interrupted")) == ids([b])
    assert ids(await client.threads.search(values={"step": 2}, metadata={"tag": tag})) == ids([b])
    assert ids(await client.threads.search(ids=[a["thread_id"], c["thread_id"]])) == ids([c, a])
    by_id = await client.threads.search(
        metadata={"tag": tag}, sort_by="thread_id", sort_order="asc"
    )
    assert ids(by_id) == sorted(ids([a, b, c]))
    by_state = await client.threads.search(
        metadata={"tag": tag}, sort_by="state_updated_at", sort_order="desc"
    )
    assert ids(by_state)[0] == b["thread_id"]

    assert await client.threads.count(metadata={"tag": tag}) == 3
    assert await client.threads.count(metadata={"tag": tag}, status="idle") == 2
    assert await client.threads.count(metadata={"tag": tag}, values={"result": "half"}) == 1

    selected = await client.threads.search(metadata={"tag": tag}, select=["thread_id", "status"])
    assert all(set(t) == {"thread_id", "status"} for t in selected)
    extracted = await client.threads.search(
        ids=[b["thread_id"]], select=["thread_id"], extract={"q": "interrupts.task-1[0].value"}
    )
    assert [plain(t) for t in extracted] == [
        {"thread_id": b["thread_id"], "extracted": {"q": {"question": "ok?"}}}
    ]
    # A selection without values does not read them; one that extracts from them does.
    from_values = await client.threads.search(
        ids=[b["thread_id"]], select=["thread_id"], extract={"r": "values.result"}
    )
    assert [plain(t) for t in from_values] == [
        {"thread_id": b["thread_id"], "extracted": {"r": "half"}}
    ]
    with_values = await client.threads.search(ids=[b["thread_id"]], select=["values"])
    assert [plain(t) for t in with_values] == [{"values": {"step": 2, "result": "half"}}]

    async with httpx.AsyncClient(base_url=api) as http:
        first = await http.post("/threads/search", json={"metadata": {"tag": tag}, "limit": 2})
        last = await http.post(
            "/threads/search", json={"metadata": {"tag": tag}, "limit": 2, "offset": 2}
        )
    assert first.headers["X-Pagination-Total"] == "3" and first.headers["X-Pagination-Next"] == "2"
    assert last.headers["X-Pagination-Total"] == "3" and "X-Pagination-Next" not in last.headers
    assert ids(first.json() + last.json()) == ids([b, c, a])


async def test_empty_bodies_are_empty_objects(api: str) -> None:
    async with httpx.AsyncClient(base_url=api) as http:
        created = await http.post("/threads")
        assert created.status_code == 200 and created.json()["status"] == "idle"
        thread_id = created.json()["thread_id"]
        assert (await http.post("/threads/search")).status_code == 200
        counted = await http.post("/threads/count")
        assert counted.status_code == 200 and isinstance(counted.json(), int)
        patched = await http.patch(f"/threads/{thread_id}")
        assert patched.status_code == 200 and patched.json()["metadata"] == {}


async def test_bad_requests_say_what_is_wrong_and_change_nothing(api: str) -> None:
    client = get_client(url=api)
    before = await client.threads.count()
    unknown = str(uuid.uuid4())
    with pytest.raises(UnprocessableEntityError, match=MALFORMED):
        await client.threads.get("not-a-uuid")
    with pytest.raises(UnprocessableEntityError, match=MALFORMED):
        await client.threads.update("not-a-uuid", metadata={})
    with pytest.raises(UnprocessableEntityError, match=MALFORMED):
        await client.threads.delete("not-a-uuid")
    with pytest.raises(NotFoundError, match=f"Thread {unknown} not found"):
        await client.threads.get(unknown)
    with pytest.raises(UnprocessableEntityError, match="supersteps is not supported"):
        await client.threads.create(
            supersteps=[{"updates": [{"values": {"a": 1}, "as_node": "n"}]}]
        )
    async with httpx.AsyncClient(base_url=api) as http:
        malformed = await http.patch("/threads/nope", json={"metadata": {}})
        bad_body_id = await http.post("/threads", json={"thread_id": "nope"})
        unknown_field = await http.post("/threads", json={"metadata": {}, "colour": "red"})
        wrong_type = await http.post("/threads", json={"metadata": "not an object"})
        bad_enum = await http.post("/threads/search", json={"status": "sleeping"})
        bad_select = await http.post("/threads/search", json={"select": ["secret"]})
        bad_extract = await http.post("/threads/search", json={"extract": {"x": "runs.a"}})
        bad_limit = await http.post("/threads/search", json={"limit": "ten"})
        bad_json = await http.post(
            "/threads", content=b"{nope", headers={"content-type": "application/json"}
        )
    assert malformed.status_code == 422 and malformed.json() == {"detail": MALFORMED}
    assert bad_body_id.status_code == 422 and "thread_id" in bad_body_id.json()["detail"]
    assert unknown_field.status_code == 422 and "colour" in unknown_field.json()["detail"]
    assert wrong_type.status_code == 422 and "metadata" in wrong_type.json()["detail"]
    assert bad_enum.status_code == 422 and "status" in bad_enum.json()["detail"]
    assert bad_select.status_code == 422 and "select" in bad_select.json()["detail"]
    assert bad_extract.status_code == 422 and "runs.a" in bad_extract.json()["detail"]
    assert bad_limit.status_code == 422 and "limit" in bad_limit.json()["detail"]
    assert bad_json.status_code == 422 and "detail" in bad_json.json()
    assert await client.threads.count() == before


async def test_delete_stops_the_workflow_and_drops_runs(
    api: str, pool: asyncpg.Pool, client: Client
) -> None:
    sdk = get_client(url=api)
    thread_id = (await sdk.threads.create())["thread_id"]
    # A run workflow holding the thread, on a queue nobody polls: it stays open until
    # something ends it.
    run_id = uuid.uuid4()
    handle = await client.start_workflow(
        RUN_WORKFLOW,
        RunInput(thread_id, str(run_id), RunRequest("none"), CheckpointBatch(thread_id)),
        id=str(run_id),
        task_queue=f"nobody-{uuid.uuid4()}",
    )
    await pool.execute(
        "UPDATE threads SET run_workflow_id = $2 WHERE thread_id = $1",
        uuid.UUID(thread_id),
        str(run_id),
    )
    await pool.execute(
        "INSERT INTO runs (run_id, thread_id, assistant_id) VALUES ($1, $2, $3)",
        run_id,
        uuid.UUID(thread_id),
        uuid.uuid4(),
    )
    await pool.execute(
        "INSERT INTO run_events (run_id, seq, key, event, data)"
        " VALUES ($1, 1, '1', 'values', '{}')",
        run_id,
    )

    await sdk.threads.delete(thread_id)
    # Stopped, then erased from Temporal (which deletes in the background).
    for _ in range(300):
        try:
            assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED
        except RPCError as err:
            assert err.status == RPCStatusCode.NOT_FOUND
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the thread's workflow was not deleted from Temporal")
    assert await pool.fetchval("SELECT count(*) FROM runs WHERE run_id = $1", run_id) == 0
    assert await pool.fetchval("SELECT count(*) FROM run_events WHERE run_id = $1", run_id) == 0
    with pytest.raises(NotFoundError):
        await sdk.threads.get(thread_id)
    # Same id again: nothing holds it now, and deleting is still fine.
    await sdk.threads.create(thread_id=thread_id)
    await sdk.threads.delete(thread_id)


async def test_sync_client(api: str) -> None:
    def use_sync_client() -> tuple[Any, Any, int]:
        # Blocking clients run in a thread: the served app lives on this test's loop.
        client = get_sync_client(url=api)
        tag = uuid.uuid4().hex
        created = client.threads.create(metadata={"tag": tag})
        client.threads.update(created["thread_id"], metadata={"more": 1})
        found = client.threads.search(metadata={"tag": tag, "more": 1})
        total = client.threads.count(metadata={"tag": tag})
        client.threads.delete(created["thread_id"])
        return created, found, total

    created, found, total = await asyncio.to_thread(use_sync_client)
    assert [t["thread_id"] for t in found] == [created["thread_id"]] and total == 1
    assert found[0]["metadata"] == {**created["metadata"], "more": 1}
