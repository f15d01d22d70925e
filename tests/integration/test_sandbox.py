"""Sandboxed nodes, on a real worker: a child process per attempt that cannot read the
worker's secrets or reach the network, stays within its CPU and memory limits, and whose
results and retries work as any node's."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client
from temporalio.client import Client

from tempograph.temporal.devserver import DevServer
from tests.conftest import load_test_graph
from tests.integration.api_server import api_stack


@pytest.fixture(scope="module")
async def api(dev_server: DevServer, client: Client, postgres_url: str) -> AsyncIterator[str]:
    graphs = {
        name: load_test_graph(name, f"sandbox_graphs.py:{name}_graph")
        for name in ("peek", "hog", "spin", "flaky", "ask")
    }
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        yield str(http.base_url)


async def test_a_sandboxed_node_sees_no_secrets_and_no_network(
    api: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("SANDBOX_SECRET", "do-not-leak")
    monkeypatch.setenv("SANDBOX_ALLOWED", "passed on purpose")
    monkeypatch.setenv("TEMPOGRAPH_SANDBOX_ENV", "SANDBOX_ALLOWED")
    assert os.environ.get("TEMPOGRAPH_ENCRYPTION_KEYS")  # the worker has a key
    api_port = httpx.URL(api).port
    out = await get_client(url=api).runs.wait(None, "peek", input={"probe_port": api_port})
    seen = out["seen"]
    assert seen["DATABASE_URL"] is None
    assert seen["TEMPOGRAPH_ENCRYPTION_KEYS"] is None
    assert seen["SANDBOX_SECRET"] is None
    assert seen["SANDBOX_ALLOWED"] == "passed on purpose"  # the allow-list works
    assert seen["pid"] != os.getpid()
    assert Path(seen["cwd"]).name.startswith("tempograph-sandbox-")
    assert seen["home"] == seen["cwd"]
    assert not await asyncio.to_thread(os.path.exists, seen["cwd"])  # removed afterwards
    assert seen["network"].startswith("OSError") and "unreachable" in seen["network"]


async def test_limits_stop_a_node_and_its_run_fails_with_the_reason(api: str) -> None:
    sdk = get_client(url=api)
    hog = await sdk.runs.wait(None, "hog", input={"megabytes": 1024}, raise_error=False)
    assert hog["__error__"]["error"] == "MemoryError"
    spin = await sdk.runs.wait(None, "spin", input={}, raise_error=False)
    assert spin["__error__"]["error"] == "SandboxLimitExceeded"
    assert "CPU time limit (1 s)" in spin["__error__"]["message"]
    small = await sdk.runs.wait(None, "hog", input={"megabytes": 16})
    assert small["attempts"] == 16 * 1024 * 1024  # under the limit it runs as usual


async def test_a_sandboxed_node_can_interrupt_and_be_resumed(api: str) -> None:
    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    await sdk.runs.wait(thread["thread_id"], "ask", input={})
    state = await sdk.threads.get_state(thread["thread_id"])
    assert state["tasks"][0]["interrupts"][0]["value"] == {"question": "run the tool?"}
    out = await sdk.runs.wait(thread["thread_id"], "ask", command={"resume": "yes"})
    assert out["seen"]["answer"] == "yes"
    assert out["seen"]["pid"] != os.getpid()


async def test_retries_work_as_for_any_node(api: str, tmp_path: Path) -> None:
    counter = tmp_path / "attempts"
    out = await get_client(url=api).runs.wait(None, "flaky", input={"counter_file": str(counter)})
    assert out["attempts"] == 2
    assert counter.read_text() == "2"


async def test_a_worker_started_with_sandbox_sandboxes_every_node(
    dev_server: DevServer, client: Client, postgres_url: str
) -> None:
    graphs = {"plain": load_test_graph("plain", "sandbox_graphs.py:plain_graph")}
    async with api_stack(dev_server, client, postgres_url, graphs, sandbox=True) as http:
        out = await get_client(url=str(http.base_url)).runs.wait(None, "plain", input={})
    assert out["seen"]["pid"] != os.getpid()
    assert out["seen"]["SANDBOX_SECRET"] is None
