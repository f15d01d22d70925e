"""Safe deploys with Temporal's Worker Versioning, as an operator does them: `tempograph
worker --build-id ... --promote` processes against the dev server. A run waiting at an
interrupt when a changed graph is deployed finishes on the code that started it; new runs
use the new code."""

from __future__ import annotations

import os
import re
import secrets
import textwrap
from pathlib import Path

from langgraph_sdk import get_client
from temporalio.client import Client
from temporalio.common import VersioningBehavior

from tempograph.registry import load_project, read_config
from tempograph.temporal.devserver import DevServer
from tests.integration.api_server import serving
from tests.integration.test_cli import started

GRAPH = """
from typing import TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


class State(TypedDict, total=False):
    answer: str
    path: list[str]


def ask(state: State) -> State:
    return {{"answer": interrupt("approve?"), "path": ["ask"]}}


def {finish}(state: State) -> State:
    return {{"path": [*state["path"], "{finish}"]}}


builder = StateGraph(State)
builder.add_node("ask", ask)
builder.add_node("{finish}", {finish})
builder.add_edge(START, "ask")
builder.add_edge("ask", "{finish}")
builder.add_edge("{finish}", END)
graph = builder.compile()
"""


def project(root: Path, finish: str) -> Path:
    """A project whose graph ``deploy`` asks, then ends in node ``finish``."""
    root.mkdir()
    (root / "deploy_graph.py").write_text(textwrap.dedent(GRAPH.format(finish=finish)))
    config = root / "langgraph.json"
    config.write_text('{"graphs": {"deploy": "./deploy_graph.py:graph"}}')
    return config


async def test_a_waiting_run_finishes_on_its_version_while_new_runs_use_the_new_one(
    dev_server: DevServer, client: Client, postgres_url: str, tmp_path: Path
) -> None:
    queue = f"versioned-{secrets.token_hex(4)}"
    old, new = project(tmp_path / "v1", "finish_old"), project(tmp_path / "v2", "finish_new")
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_server.address,
        "DATABASE_URL": postgres_url,
        "TEMPOGRAPH_TASK_QUEUE": queue,
        "TEMPOGRAPH_METRICS_PORT": "0",
    }
    graphs, failed = load_project(read_config(old))
    assert not failed, failed
    async with serving(dev_server, postgres_url, graphs, task_queue=queue) as http:
        sdk = get_client(url=str(http.base_url))
        v1 = ["worker", "--config", str(old), "--build-id", "v1", "--promote"]
        with started(v1, env) as (_, lines):
            assert any(f"promoted {queue}.v1" in line for line in lines), lines
            waiting = await sdk.threads.create()
            await sdk.runs.wait(waiting["thread_id"], "deploy", input={"path": []})
            state = await sdk.threads.get_state(waiting["thread_id"])
            assert state["next"] == ["ask"]  # waiting at the interrupt, on v1
            # Deploy the changed graph: v2's workers start and take the new runs, v1's
            # keep running until their pinned runs are done.
            v2 = ["worker", "--config", str(new), "--build-id", "auto", "--promote"]
            with started(v2, env) as (_, new_lines):
                # --build-id auto: the id is a hash of the code the worker loaded.
                [auto] = [
                    m[1] for line in new_lines if (m := re.search(rf"version {queue}\.(\S+)", line))
                ]
                assert auto.startswith("code-"), new_lines
                assert any(f"promoted {queue}.{auto}" in line for line in new_lines), new_lines
                resumed = await sdk.runs.wait(
                    waiting["thread_id"], "deploy", command={"resume": "yes"}
                )
                assert resumed["path"] == ["ask", "finish_old"], resumed
                fresh = await sdk.threads.create()
                await sdk.runs.wait(fresh["thread_id"], "deploy", input={"path": []})
                done = await sdk.runs.wait(fresh["thread_id"], "deploy", command={"resume": "ok"})
                assert done["path"] == ["ask", "finish_new"], done
                # Temporal records each run pinned to the version it started on.
                pinned = {}
                for thread in (waiting, fresh):
                    [run] = await sdk.runs.list(thread["thread_id"], limit=1, offset=1)
                    described = await client.get_workflow_handle(run["workflow_id"]).describe()
                    info = described.raw_description.workflow_execution_info.versioning_info
                    assert info.behavior == VersioningBehavior.PINNED.value
                    pinned[thread["thread_id"]] = info.deployment_version.build_id
                assert pinned == {waiting["thread_id"]: "v1", fresh["thread_id"]: auto}
