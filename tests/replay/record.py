"""Record the replay scenarios' histories: ``python -m tests.replay.record``.

Starts its own dev server, runs every scenario on task queue ``replay``, and writes the
history of each thread and run workflow to ``histories/<scenario>__<workflow id>.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path

from langgraph_sdk import get_client
from temporalio.client import Client

from tempograph.database import EmbeddedPostgres
from tempograph.temporal.client import Threads, thread_workflow_id
from tempograph.temporal.converter import DATA_CONVERTER
from tempograph.temporal.devserver import DevServer
from tempograph.temporal.worker import build_workers
from tempograph.workflows.types import RunRequest
from tests.conftest import free_port
from tests.integration.api_server import api_stack
from tests.replay.api_scenarios import API_SCENARIOS
from tests.replay.scenarios import SCENARIOS, TASK_QUEUE, Scenario, graphs

HISTORIES = Path(__file__).resolve().parent / "histories"


async def record(client: Client, scenario: Scenario, tmp: str) -> None:
    os.environ.update(scenario.env)
    threads = Threads(client, TASK_QUEUE, scenario.runs_per_execution)
    config = json.loads(json.dumps(scenario.config).replace("{tmp}", tmp))
    graph_input = json.loads(json.dumps(scenario.input).replace("{tmp}", tmp))
    for _ in range(scenario.runs):
        ticket = await threads.submit(
            scenario.thread_id,
            RunRequest(scenario.graph_id, graph_input, config=config),
        )
        outcome = await threads.wait(scenario.thread_id, ticket.run_id)
    for answer in scenario.answers:
        waiting = await threads.resume(scenario.thread_id, answer(outcome.interrupts))
        outcome = await threads.wait(scenario.thread_id, waiting.run_id, waiting.resumes)
    print(f"{scenario.name}: {outcome.status} {outcome.values} {outcome.error or ''}")
    # Let the thread finish its bookkeeping before its history is read.
    await asyncio.sleep(1)
    for workflow_id in (thread_workflow_id(scenario.thread_id), ticket.run_id):
        query = f'WorkflowId = "{workflow_id}"'
        executions = [e async for e in client.list_workflows(query)]
        # Every execution of the id: a thread that continued-as-new has several.
        for n, execution in enumerate(sorted(executions, key=lambda e: e.start_time)):
            handle = client.get_workflow_handle(workflow_id, run_id=execution.run_id)
            history = await handle.fetch_history()
            path = HISTORIES / f"{scenario.name}__{workflow_id}__{n}.json"
            path.write_text(history.to_json())


async def save(client: Client, scenario: str, query: str) -> None:
    """Every execution of every workflow ``query`` finds, as ``<scenario>__<id>__<n>.json``."""
    executions = [e async for e in client.list_workflows(query)]
    counts: dict[str, int] = {}
    for execution in sorted(executions, key=lambda e: e.start_time):
        n = counts.get(execution.id, 0)
        counts[execution.id] = n + 1
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        (HISTORIES / f"{scenario}__{execution.id}__{n}.json").write_text(history.to_json())


async def record_api(client: Client, server: DevServer, database_url: str) -> None:
    """The API scenarios: the app and a worker recording run events, driven by the SDK."""
    async with api_stack(server, client, database_url, graphs(), task_queue=TASK_QUEUE) as http:
        sdk = get_client(url=str(http.base_url))
        for name, drive in API_SCENARIOS.items():
            thread_id = await drive(sdk)
            await asyncio.sleep(1)  # the thread's own bookkeeping after the last run
            print(f"{name}: thread {thread_id}")
            await save(client, name, f'ThreadId = "{thread_id}"')


async def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    for old in HISTORIES.glob("*.json"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        server = DevServer(Path(tmp), port=free_port(), ui_port=None)
        postgres = EmbeddedPostgres(Path(tmp) / "pg")
        await server.start()
        try:
            client = await Client.connect(server.address, data_converter=DATA_CONVERTER)
            async with build_workers(client, TASK_QUEUE, graphs())[0]:
                for scenario in SCENARIOS:
                    await record(client, scenario, tmp)
            await record_api(client, server, postgres.start())
        finally:
            postgres.stop()
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
