"""Temporal's truth reaches the API: however a run's workflow ends, the run, its thread,
``wait``, ``join`` and streams say so, and the thread takes its next run.

Endings come from outside, as an operator makes them: Temporal's own ``temporal`` CLI
(terminate, cancel), and a deployment that changed a graph under a waiting run (its
replay fails on a non-determinism error). Waits are bounded; the time the API took to
show each ending is printed (``bench/`` measures it too).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from typing import Any

import pytest
from langgraph_sdk import get_client
from temporalio.client import Client, WorkflowExecutionStatus

from tempograph.activities.events import Recorder
from tempograph.temporal.devserver import DevServer, temporal_binary
from tempograph.temporal.worker import build_workers
from tests.conftest import load_test_graph
from tests.integration.api_server import api_stack, serving

# Generous: the machine is shared. The sweeper looks every second at runs quiet for two.
SHOWN_BOUND = 60.0


def temporal_cli(dev_server: DevServer, *args: str) -> None:
    subprocess.run(
        [str(temporal_binary()), *args, "--address", dev_server.address],
        check=True,
        capture_output=True,
        timeout=60,
    )


async def until_status(sdk: Any, thread_id: str, run_id: str, wanted: set[str]) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + SHOWN_BOUND
    while True:
        run = await sdk.runs.get(thread_id, run_id)
        if run["status"] in wanted:
            return dict(run)
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"run {run_id} still {run['status']} after {SHOWN_BOUND}s")
        await asyncio.sleep(0.1)


@pytest.fixture
def slow() -> dict[str, Any]:
    return {"slow": load_test_graph("slow", "api_graphs.py:slow_graph")}


async def test_terminated_run_errors_with_the_reason_and_its_thread_moves_on(
    dev_server: DevServer, client: Client, postgres_url: str, slow: dict[str, Any]
) -> None:
    async with api_stack(dev_server, client, postgres_url, slow) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        run = await sdk.runs.create(tid, "slow", input={"seconds": 600})
        queued = await sdk.runs.create(tid, "slow", input={"seconds": 0})
        await until_status(sdk, tid, run["run_id"], {"running"})
        joined = asyncio.create_task(sdk.runs.join(tid, run["run_id"]))
        streamed: list[str] = []

        async def stream() -> None:
            async for part in sdk.runs.join_stream(tid, run["run_id"]):
                streamed.append(part.event)

        streaming = asyncio.create_task(stream())
        temporal_cli(
            dev_server,
            "workflow",
            "terminate",
            "--workflow-id",
            run["workflow_id"],
            "--reason",
            "operator stopped it",
        )
        stopped = time.monotonic()
        ended = await until_status(sdk, tid, run["run_id"], {"error"})
        print(f"terminate shown in {time.monotonic() - stopped:.1f} s")
        body = await asyncio.wait_for(joined, SHOWN_BOUND)
        await asyncio.wait_for(streaming, SHOWN_BOUND)
        thread = await sdk.threads.get(tid)
        # The queued run got the thread and ran.
        after = await sdk.runs.join(tid, queued["run_id"])
        queued_status = (await sdk.runs.get(tid, queued["run_id"]))["status"]

    assert ended["status"] == "error"
    assert "terminated" in body["__error__"]["message"]
    assert "operator stopped it" in body["__error__"]["message"]
    assert ended["error"] == body["__error__"]
    assert streamed[-1] == "error"
    assert thread["status"] in ("error", "busy", "idle")
    assert after["steps"] == ["slow", "after"]
    assert queued_status == "success"


async def test_a_run_whose_workflow_an_operator_deleted_errors_and_its_thread_moves_on(
    dev_server: DevServer, client: Client, postgres_url: str, slow: dict[str, Any]
) -> None:
    """``temporal workflow delete`` (the UI's Delete) of a running run leaves Temporal
    with no such workflow: the run ends ``error`` saying so, ``join`` returns, and the
    queued run gets the thread."""
    async with api_stack(dev_server, client, postgres_url, slow) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        run = await sdk.runs.create(tid, "slow", input={"seconds": 600})
        queued = await sdk.runs.create(tid, "slow", input={"seconds": 0})
        await until_status(sdk, tid, run["run_id"], {"running"})
        joined = asyncio.create_task(sdk.runs.join(tid, run["run_id"]))
        temporal_cli(dev_server, "workflow", "delete", "--workflow-id", run["workflow_id"])
        deleted = time.monotonic()
        ended = await until_status(sdk, tid, run["run_id"], {"error"})
        print(f"delete shown in {time.monotonic() - deleted:.1f} s")
        body = await asyncio.wait_for(joined, SHOWN_BOUND)
        after = await asyncio.wait_for(sdk.runs.join(tid, queued["run_id"]), SHOWN_BOUND)

    assert "deleted" in ended["error"]["message"]
    assert body == {"__error__": ended["error"]}
    assert after["steps"] == ["slow", "after"]


async def test_a_terminated_runs_thread_shows_its_newest_state(
    dev_server: DevServer, client: Client, postgres_url: str, slow: dict[str, Any]
) -> None:
    """The run's checkpoints up to the terminate are the thread's state: ``threads.get``
    shows the same values as ``get_state``, not those from before the run."""
    async with api_stack(dev_server, client, postgres_url, slow) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        await sdk.runs.wait(tid, "slow", input={"seconds": 0})
        run = await sdk.runs.create(tid, "slow", input={"seconds": 600})
        await until_status(sdk, tid, run["run_id"], {"running"})
        temporal_cli(dev_server, "workflow", "terminate", "--workflow-id", run["workflow_id"])
        await until_status(sdk, tid, run["run_id"], {"error"})
        thread = await sdk.threads.get(tid)
        state = await sdk.threads.get_state(tid)

    assert state["values"] == {"seconds": 600, "steps": ["slow", "after"]}
    assert state["next"] == ["slow"]
    assert thread["values"] == state["values"]
    assert thread["status"] == "error"


async def test_a_resumed_run_terminated_mid_node_leaves_no_answered_interrupt(
    dev_server: DevServer, client: Client, postgres_url: str
) -> None:
    """The resume of a waiting run, terminated while its next node runs: the thread
    shows the error and no longer the interrupt its resume answered, as ``get_state``."""
    graphs = {"ask_then_slow": load_test_graph("ask_then_slow", "api_graphs.py:ask_then_slow")}
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        asked = await sdk.runs.wait(tid, "ask_then_slow", input={"seconds": 600})
        assert asked["__interrupt__"][0]["value"] == "go on?"
        assert (await sdk.threads.get(tid))["status"] == "interrupted"
        resumed = await sdk.runs.create(tid, "ask_then_slow", command={"resume": "yes"})
        await until_status(sdk, tid, resumed["run_id"], {"running"})
        for _ in range(400):  # until the answer is taken: the slow node runs
            if (await sdk.threads.get_state(tid))["next"] == ["slow"]:
                break
            await asyncio.sleep(0.05)
        temporal_cli(dev_server, "workflow", "terminate", "--workflow-id", resumed["workflow_id"])
        await until_status(sdk, tid, resumed["run_id"], {"error"})
        thread = await sdk.threads.get(tid)
        state = await sdk.threads.get_state(tid)

    assert state["next"] == ["slow"] and state["interrupts"] == []
    assert thread["values"] == state["values"] == {"seconds": 600, "steps": ["answered yes"]}
    assert thread["status"] == "error" and thread["interrupts"] == {}, thread


async def test_a_new_run_right_after_a_terminate_is_not_refused(
    dev_server: DevServer, client: Client, postgres_url: str, slow: dict[str, Any]
) -> None:
    """A run asked for with multitask_strategy="reject" just after an operator
    terminated the thread's run starts: the API asks Temporal before it refuses."""
    async with api_stack(dev_server, client, postgres_url, slow) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        run = await sdk.runs.create(tid, "slow", input={"seconds": 600})
        await until_status(sdk, tid, run["run_id"], {"running"})
        # Terminated as the CLI does (by Temporal's API here: the CLI's own start-up can
        # take long enough for the sweeper to record the end first).
        await client.get_workflow_handle(run["workflow_id"]).terminate("by an operator")
        after = await sdk.runs.wait(tid, "slow", input={"seconds": 0}, multitask_strategy="reject")
        ended = await sdk.runs.get(tid, run["run_id"])

    assert after["seconds"] == 0 and after["steps"][-2:] == ["slow", "after"]
    assert ended["status"] == "error"


async def test_a_rollback_that_finds_its_run_terminated_still_rolls_it_back(
    dev_server: DevServer, client: Client, postgres_url: str
) -> None:
    """An operator terminates a run; before the API has seen it, a new run comes with
    multitask_strategy="rollback": the terminated run and its checkpoints go, as they
    would have had it still been running."""
    graphs = {
        "quick_then_slow": load_test_graph("quick_then_slow", "api_graphs.py:quick_then_slow")
    }
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        doomed = await sdk.runs.create(tid, "quick_then_slow", input={"seconds": 600})
        for _ in range(400):  # its first node is done: it wrote a checkpoint
            if (await sdk.threads.get_state(tid))["next"] == ["slow"]:
                break
            await asyncio.sleep(0.05)
        temporal_cli(dev_server, "workflow", "terminate", "--workflow-id", doomed["workflow_id"])
        after = await sdk.runs.wait(
            tid, "quick_then_slow", input={"seconds": 0}, multitask_strategy="rollback"
        )
        runs = await sdk.runs.list(tid)

    assert after == {"seconds": 0, "steps": ["first", "slow", "after"]}
    assert [r["run_id"] for r in runs] != [] and doomed["run_id"] not in [r["run_id"] for r in runs]


async def test_cancelled_run_is_interrupted_and_its_thread_idle(
    dev_server: DevServer, client: Client, postgres_url: str, slow: dict[str, Any]
) -> None:
    async with api_stack(dev_server, client, postgres_url, slow) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        run = await sdk.runs.create(tid, "slow", input={"seconds": 600})
        await until_status(sdk, tid, run["run_id"], {"running"})
        temporal_cli(dev_server, "workflow", "cancel", "--workflow-id", run["workflow_id"])
        stopped = time.monotonic()
        ended = await until_status(sdk, tid, run["run_id"], {"interrupted"})
        print(f"cancel shown in {time.monotonic() - stopped:.1f} s")
        await asyncio.wait_for(sdk.runs.join(tid, run["run_id"]), SHOWN_BOUND)
        thread = await sdk.threads.get(tid)
        handle = client.get_workflow_handle(run["workflow_id"])
        for _ in range(200):
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                break
            await asyncio.sleep(0.05)
        again = await sdk.runs.wait(tid, "slow", input={"seconds": 0})

    assert ended["status"] == "interrupted"
    assert thread["status"] == "idle"
    # The workflow records the cancel in Temporal too: it ends Canceled.
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert again["steps"] == ["slow", "after"]  # the cancelled run wrote nothing


async def test_a_running_run_that_no_longer_replays_fails_visibly(
    dev_server: DevServer, client: Client, postgres_url: str, tmp_path: Any
) -> None:
    """A deployment changes a graph while a run of it is in flight: the new worker
    replays the run on code that no longer matches its history. The run fails with the
    non-determinism error (it does not hang as ``running``), and the thread goes on."""
    queue = f"nde-{uuid.uuid4()}"
    before = {"gate": load_test_graph("gate", "api_compat_graphs.py:gate_graph")}
    after = {"gate": load_test_graph("gate", "api_compat_graphs.py:gate_changed_graph")}
    door = tmp_path / "door"
    recorder = Recorder(postgres_url)
    async with serving(dev_server, postgres_url, before, task_queue=queue) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        async with build_workers(client, queue, before, recorder)[0]:
            run = await sdk.runs.create(tid, "gate", input={"gate": str(door)})
            await until_status(sdk, tid, run["run_id"], {"running"})
        # The old worker is gone mid-node; the new one retries the node, then replays.
        async with build_workers(client, queue, after, recorder)[0]:
            door.touch()
            ended = await until_status(sdk, tid, run["run_id"], {"error"})
            body = await sdk.runs.join(tid, run["run_id"])
            status = (await client.get_workflow_handle(run["workflow_id"]).describe()).status
            fresh = await sdk.runs.wait(tid, "gate", input={"gate": str(door)})
    await recorder.close()

    assert ended["status"] == "error"
    assert "Nondeterminism" in body["__error__"]["message"]
    assert status == WorkflowExecutionStatus.FAILED
    assert fresh["steps"][-2:] == ["released", "held"]


async def test_a_resume_after_a_redeploy_continues_from_the_checkpoint(
    dev_server: DevServer, client: Client, postgres_url: str
) -> None:
    """A graph changed under a run waiting at an interrupt: its workflow can no longer
    replay (Temporal shows it failed), and the answer continues the thread from its
    checkpoint on the new code, as LangGraph resumes a checkpoint."""
    queue = f"redeploy-{uuid.uuid4()}"
    before = {"approval": load_test_graph("approval", "approval.py:graph")}
    after = {"approval": load_test_graph("approval", "replay_changed.py:graph")}
    recorder = Recorder(postgres_url)
    async with serving(dev_server, postgres_url, before, task_queue=queue) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        async with build_workers(client, queue, before, recorder)[0]:
            first = await sdk.runs.create(tid, "approval", input={"request": "buy"})
            await sdk.runs.join(tid, first["run_id"])
        async with build_workers(client, queue, after, recorder)[0]:
            resumed = await sdk.runs.wait(tid, "approval", command={"resume": {"approved": True}})
            old = (await client.get_workflow_handle(first["workflow_id"]).describe()).status
    await recorder.close()

    assert old == WorkflowExecutionStatus.FAILED
    assert resumed["approved"] is True
    assert resumed["__interrupt__"][0]["value"] == "who reviews?"
