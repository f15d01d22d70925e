"""`tempograph cluster up --autoscale 1:3`: a burst of runs grows the worker pool from the
task queue's backlog (as Temporal reports it), quiet drains it back, and no run is lost.
Each worker runs two node attempts at once here (TEMPOGRAPH_ACTIVITY_SLOTS), so forty
one-second nodes make a backlog on this machine."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from langgraph_sdk import get_client

from tempograph.temporal.processes import free_port
from tests.integration.test_cli import started

APP = Path(__file__).resolve().parents[1] / "graphs" / "autoscale_app" / "langgraph.json"


def workers(data: Path) -> list[str]:
    pids = json.loads((data / "endpoints.json").read_text())["cluster"]
    return sorted(name for name in pids if name.startswith("worker "))


async def test_a_burst_grows_the_pool_and_quiet_shrinks_it_with_nothing_lost(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "TEMPOGRAPH_DATA_DIR": str(data), "TEMPOGRAPH_ACTIVITY_SLOTS": "2"}
    env.pop("DATABASE_URL", None)
    port, ui_port, api_port = free_port(), free_port(), free_port()
    args = ["cluster", "up", "--config", str(APP), "--autoscale", "1:3", "--port", str(port)]
    args += ["--ui-port", str(ui_port), "--api-port", str(api_port)]
    with started(args, env, ready_within=600) as (_, lines):
        assert any("1 to 3 workers per task queue" in line for line in lines), lines
        assert workers(data) == ["worker tempograph 1"]
        sdk = get_client(url=f"http://127.0.0.1:{api_port}")

        async def start(n: int) -> tuple[str, str]:
            thread = await sdk.threads.create()
            run = await sdk.runs.create(thread["thread_id"], "slow", input={"n": n})
            return thread["thread_id"], run["run_id"]

        runs = await asyncio.gather(*(start(n) for n in range(40)))
        most = 1
        for _ in range(300):
            most = max(most, len(workers(data)))
            if most == 3:
                break
            await asyncio.sleep(0.2)
        assert most == 3, "the backlog did not grow the pool to its maximum"
        for thread_id, run_id in runs:
            await sdk.runs.join(thread_id, run_id)
            assert (await sdk.runs.get(thread_id, run_id))["status"] == "success"
        for _ in range(120):  # idle for 15 s per step: 3 -> 2 -> 1
            if len(workers(data)) == 1:
                break
            await asyncio.sleep(0.5)
        assert len(workers(data)) == 1, workers(data)  # drained, not restarted
