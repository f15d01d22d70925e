"""Replay from the Temporal UI is real: resetting a finished run to an earlier node (the
UI's Reset; here Temporal's own CLI, ``temporal workflow reset --event-id N``) runs the
run again from that node, and the thread and the API show the outcome: the run's new
checkpoints fork from the checkpoint at the reset point and become the thread's head, as
LangGraph's time travel would."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

from langgraph_sdk import get_client
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tempograph.temporal.devserver import DevServer, temporal_binary
from tests.conftest import load_test_graph
from tests.integration.api_server import api_stack

BOUND = 60.0


def scheduled(history: Any) -> list[tuple[int, str]]:
    return [
        (e.event_id, e.activity_task_scheduled_event_attributes.activity_type.name)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


def reset_point(history: Any, activity_type: str) -> int:
    """The workflow task completion that scheduled ``activity_type``: resetting there
    runs that task, and so that node, again."""
    event_id = next(i for i, name in scheduled(history) if name == activity_type)
    return max(
        e.event_id
        for e in history.events
        if e.event_id < event_id and e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )


def reset_graph() -> dict[str, Any]:
    return {"reset": load_test_graph("reset", "reset_graph.py:graph")}


async def reset(dev_server: DevServer, workflow_id: str, reason: str, *point: str) -> None:
    """``temporal workflow reset``, as an operator runs it (``point``: ``--event-id N`` or
    ``--type ...``)."""
    await asyncio.to_thread(
        subprocess.run,
        [
            str(temporal_binary()),
            "workflow",
            "reset",
            "--workflow-id",
            workflow_id,
            *point,
            "--reason",
            reason,
            "--address",
            dev_server.address,
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


async def streamed(stream: Any) -> list[Any]:
    return [part async for part in stream]


async def until_rerun(sdk: Any, thread_id: str) -> dict[str, Any]:
    """The thread's state once the reset branch ran (its middle node read "after")."""
    deadline = asyncio.get_running_loop().time() + BOUND
    while True:
        state = await sdk.threads.get_state(thread_id)
        if state["values"]["steps"][-2:] == ["middle read after", "last"]:
            return dict(state)
        assert asyncio.get_running_loop().time() < deadline, state["values"]
        await asyncio.sleep(0.2)


async def test_reset_to_a_node_reruns_from_it_and_forks_the_thread(
    dev_server: DevServer, client: Client, postgres_url: str, tmp_path: Path
) -> None:
    mark = tmp_path / "mark"
    mark.write_text("before")
    async with api_stack(dev_server, client, postgres_url, reset_graph()) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        first = await sdk.runs.wait(tid, "reset", input={"mark": str(mark), "steps": []})
        [run] = await sdk.runs.list(tid)
        before = await sdk.threads.get_history(tid, limit=50)
        handle = client.get_workflow_handle(run["workflow_id"])
        history = await handle.fetch_history()

        mark.write_text("after")
        point = reset_point(history, "reset.middle")
        await reset(
            dev_server,
            run["workflow_id"],
            "operator replays from middle",
            "--event-id",
            str(point),
        )
        # Joined at once: the reset execution has not claimed the run yet (its row still
        # says success, with the old output); the joins wait for the new execution.
        again, parts = await asyncio.gather(
            sdk.runs.join(tid, run["run_id"]), streamed(sdk.runs.join_stream(tid, run["run_id"]))
        )
        state = await until_rerun(sdk, tid)
        shown = await sdk.runs.get(tid, run["run_id"])
        thread = await sdk.threads.get(tid)
        after = await sdk.threads.get_history(tid, limit=50)
        reset_history = await client.get_workflow_handle(run["workflow_id"]).fetch_history()
        next_run = await sdk.runs.wait(tid, "reset", input={"steps": ["later"]})

    assert first["steps"] == ["first", "middle read before", "last"]
    assert again["steps"] == ["first", "middle read after", "last"]
    values = [p.data["steps"] for p in parts if p.event == "values"]
    assert values and values[-1] == ["first", "middle read after", "last"], parts
    assert shown["status"] == "success" and thread["status"] == "idle"
    # As LangGraph's time travel from the checkpoint at the reset point ("first" done,
    # "middle" next): the new branch's first checkpoint has that very one as its parent
    # (the reset workflow task mints the ids it minted before, not a copy), and the old
    # branch's checkpoints stay in the history, unchanged.
    old_ids = {c["checkpoint_id"] for c in before}
    new = [c for c in after if c["checkpoint_id"] not in old_ids]
    assert [c["values"]["steps"][-1] for c in new] == ["last", "middle read after"]
    [fork_point] = [c for c in before if c["next"] == ["middle"]]
    assert new[-1]["parent_checkpoint"]["checkpoint_id"] == fork_point["checkpoint_id"]
    assert [c for c in after if c["checkpoint_id"] in old_ids] == before
    assert state["checkpoint_id"] == new[0]["checkpoint_id"]
    # Only the nodes from the reset point on ran again.
    assert [name for _, name in scheduled(reset_history)] == [
        "reset.first",
        "reset.middle",
        "reset.last",
    ]
    # The thread goes on from the new head.
    assert next_run["steps"][:5] == ["first", "middle read after", "last", "later", "first"]


async def test_a_failed_run_reset_after_its_tool_is_fixed_succeeds(
    dev_server: DevServer, client: Client, postgres_url: str, tmp_path: Path
) -> None:
    """The operator's usual case: a node failed (the run and its thread show the error),
    the tool is fixed, and Reset re-runs the run from that node: the same run ends
    ``success`` and the thread is ``idle`` again, in the API as in Temporal."""
    mark = tmp_path / "mark"
    mark.write_text("fail")
    async with api_stack(dev_server, client, postgres_url, reset_graph()) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        failed = await sdk.runs.wait(
            tid, "reset", input={"mark": str(mark), "steps": []}, raise_error=False
        )
        [run] = await sdk.runs.list(tid)
        thread_failed = await sdk.threads.get(tid)
        handle = client.get_workflow_handle(run["workflow_id"])
        history = await handle.fetch_history()

        mark.write_text("fixed")
        point = reset_point(history, "reset.middle")
        await reset(dev_server, run["workflow_id"], "tool fixed", "--event-id", str(point))
        deadline = asyncio.get_running_loop().time() + BOUND
        while (shown := await sdk.runs.get(tid, run["run_id"]))["status"] != "success":
            assert asyncio.get_running_loop().time() < deadline, shown
            await asyncio.sleep(0.2)
        joined = await sdk.runs.join(tid, run["run_id"])
        thread = await sdk.threads.get(tid)
        state = await sdk.threads.get_state(tid)
        described = await client.get_workflow_handle(run["workflow_id"]).describe()

    assert failed["__error__"]["message"] == "the tool is broken", failed
    assert run["status"] == "error" and thread_failed["status"] == "error"
    assert joined["steps"] == ["first", "middle read fixed", "last"], joined
    assert thread["status"] == "idle", thread
    assert state["values"]["steps"] == ["first", "middle read fixed", "last"]
    assert state["next"] == []
    assert described.status is not None and described.status.name == "COMPLETED"


async def test_reset_to_the_first_workflow_task_reruns_the_whole_run(
    dev_server: DevServer, client: Client, postgres_url: str, tmp_path: Path
) -> None:
    """``temporal workflow reset --type FirstWorkflowTask``: every node runs again, from
    the checkpoint the run started from (here, the thread's first run: from its input)."""
    mark = tmp_path / "mark"
    mark.write_text("before")
    async with api_stack(dev_server, client, postgres_url, reset_graph()) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        await sdk.runs.wait(tid, "reset", input={"mark": str(mark), "steps": ["seed"]})
        second = await sdk.runs.wait(tid, "reset", input={"steps": ["again"]})
        latest, _ = await sdk.runs.list(tid)  # newest first
        mark.write_text("after")
        await reset(
            dev_server, latest["workflow_id"], "rerun it all", "--type", "FirstWorkflowTask"
        )
        state = await until_rerun(sdk, tid)
        joined = await sdk.runs.join(tid, latest["run_id"])
        thread = await sdk.threads.get(tid)

    first_run = ["seed", "first", "middle read before", "last"]
    assert second["steps"] == [*first_run, "again", "first", "middle read before", "last"]
    assert joined["steps"] == [*first_run, "again", "first", "middle read after", "last"]
    assert state["values"]["steps"] == joined["steps"]
    assert thread["status"] == "idle"


async def test_a_last_workflow_task_reset_of_an_older_run_leaves_the_thread_as_it_was(
    dev_server: DevServer, client: Client, postgres_url: str, tmp_path: Path
) -> None:
    """``--type LastWorkflowTask`` on an older finished run re-runs only its finish (no
    node, no checkpoint): the thread keeps the newer run's values, as its checkpoints do."""
    mark = tmp_path / "mark"
    mark.write_text("before")
    async with api_stack(dev_server, client, postgres_url, reset_graph()) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        await sdk.runs.wait(tid, "reset", input={"mark": str(mark), "steps": ["seed"]})
        second = await sdk.runs.wait(tid, "reset", input={"steps": ["again"]})
        _, oldest = await sdk.runs.list(tid)  # newest first
        handle = client.get_workflow_handle(oldest["workflow_id"])
        first_execution = (await handle.describe()).run_id
        await reset(dev_server, oldest["workflow_id"], "finish again", "--type", "LastWorkflowTask")
        deadline = asyncio.get_running_loop().time() + BOUND
        while True:  # the reset execution ran its finish
            described = await handle.describe()
            if described.run_id != first_execution and described.status is not None:
                if described.status.name == "COMPLETED":
                    break
            assert asyncio.get_running_loop().time() < deadline, described.status
            await asyncio.sleep(0.2)
        thread = await sdk.threads.get(tid)
        state = await sdk.threads.get_state(tid)

    assert state["values"]["steps"] == second["steps"]
    assert thread["values"] == second, thread["values"]
    assert thread["status"] == "idle"


async def test_a_resumed_runs_join_returns_when_a_reset_waits_at_the_interrupt_again(
    dev_server: DevServer, client: Client, postgres_url: str
) -> None:
    """Reset to its first workflow task, a run that had stopped at an interrupt (and was
    resumed) stops there again: the resume's own run will not run again unless someone
    answers anew, so its ``join`` answers with its end instead of waiting for it."""
    graphs = {"approval": load_test_graph("approval", "approval.py:graph")}
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        sdk = get_client(url=str(http.base_url))
        tid = (await sdk.threads.create())["thread_id"]
        await sdk.runs.wait(tid, "approval", input={"request": "r"})
        [asked] = await sdk.runs.list(tid)
        resumed = await sdk.runs.wait(tid, "approval", command={"resume": {"approved": False}})
        answered = next(r for r in await sdk.runs.list(tid) if r["run_id"] != asked["run_id"])
        handle = client.get_workflow_handle(asked["workflow_id"])
        first_execution = (await handle.describe()).run_id
        await reset(dev_server, asked["workflow_id"], "ask again", "--type", "FirstWorkflowTask")
        deadline = asyncio.get_running_loop().time() + BOUND
        while True:  # the reset execution asked again
            thread = await sdk.threads.get(tid)
            if thread["status"] == "interrupted" and (await handle.describe()).run_id != (
                first_execution
            ):
                break
            assert asyncio.get_running_loop().time() < deadline, thread["status"]
            await asyncio.sleep(0.2)
        joined = await asyncio.wait_for(sdk.runs.join(tid, answered["run_id"]), 30)
        again = await sdk.runs.wait(tid, "approval", command={"resume": {"approved": False}})

    assert resumed["log"] == ["draft r", "approve"]
    assert joined == resumed
    assert again["log"] == ["draft r", "approve"]
