"""Two API replicas on one Postgres and one Temporal: the API keeps no state of its own."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Any

from langgraph_sdk import get_client
from temporalio.client import Client

from tempograph.activities.events import Recorder
from tempograph.temporal.devserver import DevServer
from tempograph.temporal.worker import build_workers
from tests.conftest import load_test_graph
from tests.integration.api_server import serving


async def test_a_stream_survives_the_replica_that_served_it(
    dev_server: DevServer, client: Client, postgres_url: str, tmp_path: Path
) -> None:
    queue = f"replicas-{uuid.uuid4()}"
    gate = load_test_graph("gate", "api_compat_graphs.py:gate_graph")
    recorder = Recorder(postgres_url)
    async with contextlib.AsyncExitStack() as stack:
        for worker in build_workers(client, queue, {"gate": gate}, recorder):
            await stack.enter_async_context(worker)
        stack.push_async_callback(recorder.close)
        originals = {"gate": gate}
        replica_b = await stack.enter_async_context(
            serving(dev_server, postgres_url, originals, task_queue=queue)
        )
        sdk_b = get_client(url=str(replica_b.base_url))
        door = tmp_path / "door"
        seen: list[tuple[str, Any, str]] = []
        async with serving(dev_server, postgres_url, originals, task_queue=queue) as replica_a:
            sdk_a = get_client(url=str(replica_a.base_url))
            thread = await sdk_a.threads.create()
            tid = thread["thread_id"]
            run = await sdk_a.runs.create(
                tid, "gate", input={"gate": str(door)}, stream_mode=["values", "updates"]
            )
            async for part in sdk_a.runs.join_stream(tid, run["run_id"], last_event_id="-"):
                seen.append((part.event, part.data, str(part.id)))
                if part.event == "values":
                    break  # the input state; the run is now held at the gate
        # Replica A is gone. The run goes on; its events go on being recorded.
        door.touch()
        await sdk_b.runs.join(tid, run["run_id"])
        rest = [
            (p.event, p.data, str(p.id))
            async for p in sdk_b.runs.join_stream(tid, run["run_id"], last_event_id=seen[-1][2])
        ]
        everything = [
            (p.event, p.data, str(p.id))
            async for p in sdk_b.runs.join_stream(tid, run["run_id"], last_event_id="-")
        ]
        assert seen + rest == everything
        assert [e for e, _, _ in everything] == [
            "metadata",
            "values",
            "updates",
            "values",
            "updates",
            "values",
        ]
        assert everything[-1][1] == {"gate": str(door), "steps": ["held", "released"]}
        assert (await sdk_b.runs.get(tid, run["run_id"]))["status"] == "success"
