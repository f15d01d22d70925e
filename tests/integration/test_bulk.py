"""Many runs or threads at once, through the official SDK: ``runs.create_batch``,
``runs.cancel_many`` (by id, and by status), ``threads.prune`` (delete, keep_latest) and
``assistants.get_subgraphs``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import NotFoundError
from temporalio.client import Client

from tempograph.temporal.devserver import DevServer
from tests.conftest import load_test_graph
from tests.integration.api_server import api_stack


@pytest.fixture(scope="module")
async def api(dev_server: DevServer, client: Client, postgres_url: str) -> AsyncIterator[str]:
    graphs = {
        "chain3": load_test_graph("chain3", "api_graphs.py:chain3"),
        "slow": load_test_graph("slow", "api_graphs.py:slow_graph"),
        "as_node": load_test_graph("as_node", "nested.py:as_node"),
    }
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        yield str(http.base_url)


@pytest.fixture
def sdk(api: str) -> LangGraphClient:
    return get_client(url=api)


async def until(sdk: LangGraphClient, tid: str, rid: str, *statuses: str) -> dict[str, Any]:
    for _ in range(300):
        run = await sdk.runs.get(tid, rid)
        if run["status"] in statuses:
            return run
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {rid} never became {statuses}")


async def test_a_batch_makes_stateless_runs_or_none(sdk: LangGraphClient, api: str) -> None:
    batch = str(uuid.uuid4())
    payloads: list[Any] = [
        {"assistant_id": "chain3", "input": {"steps": [str(n)]}, "metadata": {"batch": batch}}
        for n in range(3)
    ]
    runs = await sdk.runs.create_batch(payloads)
    assert len(runs) == 3 and len({r["thread_id"] for r in runs}) == 3
    for n, run in enumerate(runs):
        out = await sdk.runs.join(run["thread_id"], run["run_id"])
        assert out["steps"] == [str(n), "a", "b", "c"]

    bad = str(uuid.uuid4())
    wrong = [{**p, "metadata": {"batch": bad}} for p in payloads]
    wrong[1]["input"] = {"nope": 1}
    async with httpx.AsyncClient(base_url=api) as http:
        refused = await http.post("/runs/batch", json=wrong)
        assert refused.status_code == 422
        assert refused.json()["detail"].startswith("runs[1]:")
        assert (await http.post("/runs/batch", json={"not": "a list"})).status_code == 422
        assert (await http.post("/runs/batch", json=[])).status_code == 422
        on_thread = [{**payloads[0], "thread_id": str(uuid.uuid4())}]
        refused = await http.post("/runs/batch", json=on_thread)
        assert refused.status_code == 422 and "thread_id" in refused.json()["detail"]
        odd = await http.post("/runs/batch", json=[{"input": {}}])  # no assistant
        assert odd.status_code == 422 and odd.json()["detail"].startswith("runs[0]:")
    assert await sdk.threads.search(metadata={"batch": bad}) == []  # none was made


async def test_cancel_many_by_id_and_by_status(sdk: LangGraphClient, api: str) -> None:
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    first = await sdk.runs.create(tid, "slow", input={"seconds": 30})
    second = await sdk.runs.create(tid, "slow", input={"seconds": 30})  # queued behind
    await until(sdk, tid, first["run_id"], "running")
    await sdk.runs.cancel_many(thread_id=tid, run_ids=[first["run_id"], second["run_id"]])
    for run in (first, second):
        assert (await until(sdk, tid, run["run_id"], "interrupted"))["status"] == "interrupted"
    # A second time changes nothing: they have ended.
    await sdk.runs.cancel_many(thread_id=tid, run_ids=[first["run_id"]])

    others = [await sdk.threads.create() for _ in range(2)]
    started = [await sdk.runs.create(t["thread_id"], "slow", input={"seconds": 30}) for t in others]
    for t, run in zip(others, started, strict=True):
        await until(sdk, t["thread_id"], run["run_id"], "running")
    await sdk.runs.cancel_many(status="running", action="rollback")
    for t, run in zip(others, started, strict=True):
        for _ in range(300):  # rolled back: the run is gone
            try:
                await sdk.runs.get(t["thread_id"], run["run_id"])
            except NotFoundError:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the rolled-back run is still there")

    async with httpx.AsyncClient(base_url=api) as http:
        mixed = await http.post("/runs/cancel", json={"status": "all", "thread_id": tid})
        assert mixed.status_code == 422
        assert (await http.post("/runs/cancel", json={"thread_id": tid})).status_code == 422
        odd = await http.post("/runs/cancel", json={"thread_id": "x", "run_ids": ["y"]})
        assert odd.status_code == 422
        unknown = {"thread_id": tid, "run_ids": [str(uuid.uuid4())]}
        assert (await http.post("/runs/cancel", json=unknown)).status_code == 404


async def test_prune_deletes_or_keeps_the_newest_checkpoint(sdk: LangGraphClient, api: str) -> None:
    doomed = [await sdk.threads.create() for _ in range(2)]
    kept = await sdk.threads.create()
    for _ in range(2):
        await sdk.runs.wait(kept["thread_id"], "chain3", input={"steps": ["x"]})
    before = await sdk.threads.get_state(kept["thread_id"])
    assert len(await sdk.threads.get_history(kept["thread_id"], limit=100)) > 1

    pruned = await sdk.threads.prune(
        [t["thread_id"] for t in doomed] + [str(uuid.uuid4())]  # an unknown one: skipped
    )
    assert pruned == {"pruned_count": 2}
    for t in doomed:
        with pytest.raises(NotFoundError):
            await sdk.threads.get(t["thread_id"])

    assert await sdk.threads.prune([kept["thread_id"]], strategy="keep_latest") == {
        "pruned_count": 1
    }
    history = await sdk.threads.get_history(kept["thread_id"], limit=100)
    assert len(history) == 1
    assert (await sdk.threads.get_state(kept["thread_id"]))["values"] == before["values"]
    out = await sdk.runs.wait(kept["thread_id"], "chain3", input={"steps": ["y"]})
    assert out["steps"] == [*before["values"]["steps"], "y", "a", "b", "c"]

    async with httpx.AsyncClient(base_url=api) as http:
        bad = await http.post("/threads/prune", json={"thread_ids": ["x"]})
        assert bad.status_code == 422
        wrong = await http.post("/threads/prune", json={"thread_ids": [], "strategy": "all"})
        assert wrong.status_code == 422


async def test_an_assistants_subgraphs_and_their_schemas(sdk: LangGraphClient) -> None:
    found = await sdk.assistants.get_subgraphs("as_node")
    assert list(found) == ["sub"]
    assert set(found["sub"]["input_schema"]["properties"]) == {"text", "trail", "answer"}
    assert await sdk.assistants.get_subgraphs("as_node", namespace="sub") == found
    assert await sdk.assistants.get_subgraphs("as_node", namespace="nope") == {}
    assert await sdk.assistants.get_subgraphs("chain3", recurse=True) == {}
    with pytest.raises(NotFoundError):
        await sdk.assistants.get_subgraphs(str(uuid.uuid4()))
