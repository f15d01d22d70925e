"""Deleting a thread erases it: its rows and checkpoints from Postgres, and every
Temporal execution of its runs (waiting, finished, reset) from Temporal's history."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
from langgraph_sdk import get_client, get_sync_client
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from tempograph.temporal.devserver import DevServer, temporal_binary
from tests.conftest import TEST_GRAPHS, load_test_graph
from tests.integration.api_server import api_stack
from tests.integration.test_cli import up_stack


@pytest.fixture(scope="module")
async def api(dev_server: DevServer, client: Client, postgres_url: str) -> AsyncIterator[str]:
    graphs = {"approval": load_test_graph("approval", "approval.py:graph")}
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        yield str(http.base_url)


async def _gone(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        return err.status == RPCStatusCode.NOT_FOUND
    return False


async def test_deleting_a_thread_erases_it_everywhere(
    api: str, client: Client, dev_server: DevServer, postgres_url: str
) -> None:
    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    await sdk.runs.wait(tid, "approval", input={"request": "erase me"})
    await sdk.runs.wait(tid, "approval", command={"resume": {"approved": False}})
    await sdk.runs.wait(tid, "approval", input={"request": "and me"})  # waits again
    workflows = {r["workflow_id"] for r in await sdk.runs.list(tid)}
    assert len(workflows) == 2
    await sdk.threads.delete(tid)
    for _ in range(300):  # Temporal deletes in the background (seconds, on the dev server)
        gone = [await _gone(client, w) for w in workflows]
        listed = [e async for e in client.list_workflows(f'ThreadId = "{tid}"')]
        if all(gone) and not listed:
            break
        await asyncio.sleep(0.1)
    assert all(gone) and not listed
    for workflow_id in workflows:  # Temporal's own CLI agrees
        shown = await asyncio.to_thread(
            subprocess.run,
            [
                str(temporal_binary()),
                "workflow",
                "show",
                "--workflow-id",
                workflow_id,
                "--address",
                dev_server.address,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert shown.returncode != 0 and "not found" in shown.stderr.lower()
    conn = await asyncpg.connect(postgres_url)
    try:
        for table, column in [
            ("threads", "thread_id::text"),
            ("runs", "thread_id::text"),
            ("checkpoints", "thread_id"),
            ("checkpoint_blobs", "thread_id"),
            ("checkpoint_writes", "thread_id"),
        ]:
            left = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1", tid)
            assert left == 0, table
        events = await conn.fetchval(
            "SELECT count(*) FROM run_events WHERE run_id::text = ANY($1::text[])", list(workflows)
        )
        assert events == 0
    finally:
        await conn.close()


def test_idle_threads_expire_as_langgraph_json_says(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """checkpointer.ttl (3 s of inactivity here, swept every 1.2 s): an idle thread is
    erased, its Temporal executions too; a thread with its own longer TTL stays."""
    config = TEST_GRAPHS / "ttl_app" / "langgraph.json"
    with up_stack(tmp_path_factory.mktemp("ttl"), config) as (up, _):
        port, api_port = up.port, up.api_port
        sdk = get_sync_client(url=f"http://127.0.0.1:{api_port}")
        short = sdk.threads.create()
        kept = sdk.threads.create(ttl={"strategy": "delete", "ttl": 60})
        sdk.runs.wait(short["thread_id"], "approval", input={"request": "expire me"})
        workflow_id = sdk.runs.list(short["thread_id"])[0]["workflow_id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not [t for t in sdk.threads.search() if t["thread_id"] == short["thread_id"]]:
                break
            time.sleep(0.5)
        threads = {t["thread_id"] for t in sdk.threads.search()}
        assert short["thread_id"] not in threads
        assert kept["thread_id"] in threads

        async def execution_gone() -> bool:
            client = await Client.connect(f"127.0.0.1:{port}")
            for _ in range(100):
                if await _gone(client, workflow_id):
                    return True
                await asyncio.sleep(0.2)
            return False

        assert asyncio.run(execution_gone())
