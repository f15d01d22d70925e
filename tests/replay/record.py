"""Record the replay scenarios' histories: ``python -m tests.replay.record``.

``python -m tests.replay.record NAME...`` records only the scenarios named (``crons``
for the cron workflows), keeping the others' histories and values.

Starts its own dev server and Postgres, runs every scenario through the API and a worker
on task queue ``replay``, and writes the history of each workflow of each scenario's thread
to ``histories/<scenario>__<workflow id>__<n>.json``, and the values their payloads name
(claim checks: parts and large payloads) to ``histories/values.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from langgraph_sdk import get_client
from temporalio.client import Client

from tempograph.database import EmbeddedPostgres, open_pool
from tempograph.remote import thread_uuid
from tempograph.temporal.codec import data_converter
from tempograph.temporal.devserver import DevServer
from tempograph.valuestore import MemoryValueStore, PostgresValueStore
from tests.conftest import free_port
from tests.engine import Threads
from tests.integration.api_server import api_stack
from tests.replay.api_scenarios import API_SCENARIOS, OPERATOR_SCENARIOS
from tests.replay.scenarios import SCENARIOS, TASK_QUEUE, Scenario, graphs

HISTORIES = Path(__file__).resolve().parent / "histories"
CRONS = "crons"  # the cron workflows' histories
VALUES = HISTORIES / "values.json"
# Temporal suggests continue-as-new at this many events here (4Ki by default): above
# every other scenario's history (under 70 events), so only "continued" reaches it.
SUGGEST_CONTINUE_AT = 120


async def record(threads: Threads, scenario: Scenario, tmp: str) -> str:
    """Drive one engine scenario; returns its thread id."""
    os.environ.update(scenario.env)
    config = json.loads(json.dumps(scenario.config).replace("{tmp}", tmp))
    graph_input = json.loads(json.dumps(scenario.input).replace("{tmp}", tmp))
    for _ in range(scenario.runs):
        run = await threads.submit(
            scenario.thread_id, scenario.graph_id, graph_input, config=config
        )
        outcome = await threads.wait(scenario.thread_id, run.run_id)
    for answer in scenario.answers:
        resumed = await threads.resume(
            scenario.thread_id, answer(outcome.interrupts), scenario.resume_update
        )
        outcome = await threads.wait(scenario.thread_id, resumed.run_id)
    print(f"{scenario.name}: {outcome.status} {str(outcome.values)[:80]} {outcome.error or ''}")
    return thread_uuid(scenario.thread_id)


async def save(client: Client, scenario: str, thread_id: str) -> None:
    """Every execution of every workflow of the thread, as ``<scenario>__<id>__<n>.json``."""
    await asyncio.sleep(1)  # visibility catches up with the last workflows
    query = f'ThreadId = "{thread_id}"'
    executions = [e async for e in client.list_workflows(query)]
    counts: dict[str, int] = {}
    for execution in sorted(executions, key=lambda e: e.start_time):
        n = counts.get(execution.id, 0)
        counts[execution.id] = n + 1
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        (HISTORIES / f"{scenario}__{execution.id}__{n}.json").write_text(history.to_json())


async def record_crons(client: Client, sdk: Any) -> None:
    """A cron's ticks: one that makes a run and erases its thread when the run ends (the
    fire and its cleanup), and one while the cron is disabled (no run)."""
    cron = await sdk.crons.create("slow", schedule="0 0 1 1 *", input={"seconds": 1.5})
    schedule = client.get_schedule_handle(f"cron-{cron['cron_id']}")
    await schedule.trigger()
    await asyncio.sleep(1)
    await sdk.crons.update(cron["cron_id"], enabled=False)
    await schedule.trigger()
    for _ in range(100):
        if len((await schedule.describe()).info.recent_actions) == 2:
            break
        await asyncio.sleep(0.1)
    ids = []
    for action in (await schedule.describe()).info.recent_actions:
        fired = await client.get_workflow_handle(action.action.workflow_id).result()
        ids.append(action.action.workflow_id)
        if fired is not None:
            started = action.action
            cleanup = client.get_workflow_handle(
                f"{started.workflow_id}-{started.first_execution_run_id}-cleanup"
            )
            await cleanup.result()
            ids.append(cleanup.id)
    for workflow_id in ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        (HISTORIES / f"{CRONS}__{workflow_id}__0.json").write_text(history.to_json())
    await sdk.crons.delete(cron["cron_id"])
    print(f"{CRONS}: {len(ids)} workflows")


async def main(only: set[str] | None = None) -> None:
    """Record every scenario, or ``only`` those named (the others' histories stay)."""
    # The corpus is recorded unencrypted, so it replays with no key (tests.conftest turns
    # encryption on for the test session; a deployment's histories need its keys).
    os.environ.pop("TEMPOGRAPH_ENCRYPTION_KEYS", None)
    HISTORIES.mkdir(exist_ok=True)

    def chosen(name: str) -> bool:
        return only is None or name in only

    for old in HISTORIES.glob("*.json"):
        if old != VALUES and chosen(old.name.split("__", 1)[0]):
            old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        server = DevServer(
            Path(tmp),
            port=free_port(),
            ui_port=None,
            extra_args=(
                "--dynamic-config-value",
                f"limit.historyCount.suggestContinueAsNew={SUGGEST_CONTINUE_AT}",
            ),
        )
        postgres = EmbeddedPostgres(Path(tmp) / "pg")
        await server.start()
        database_url = postgres.start()
        try:
            pool = await open_pool(database_url)

            async def get_pool() -> object:
                return pool

            store = PostgresValueStore(get_pool)  # type: ignore[arg-type]
            client = await Client.connect(server.address, data_converter=data_converter(store))
            async with api_stack(server, client, database_url, graphs(), TASK_QUEUE) as http:
                threads = Threads(http)
                sdk = get_client(url=str(http.base_url))
                if chosen(CRONS):
                    await record_crons(client, sdk)
                for scenario in SCENARIOS:
                    if chosen(scenario.name):
                        await save(client, scenario.name, await record(threads, scenario, tmp))
                for name, drive in API_SCENARIOS.items():
                    if chosen(name):
                        thread_id = await drive(sdk)
                        print(f"{name}: thread {thread_id}")
                        await save(client, name, thread_id)
                for name, operate in OPERATOR_SCENARIOS.items():
                    if chosen(name):
                        thread_id = await operate(sdk, client, Path(tmp))
                        print(f"{name}: thread {thread_id}")
                        await save(client, name, thread_id)
            records = await pool.fetch("SELECT hash, data FROM tempograph_values")
            values = {bytes(r["hash"]): bytes(r["data"]) for r in records}
            if only is not None:  # the other histories still name theirs
                values = {**MemoryValueStore.load(VALUES).values, **values}
            MemoryValueStore(values).dump(VALUES)
            await pool.close()
        finally:
            postgres.stop()
            server.stop()


if __name__ == "__main__":
    asyncio.run(main(set(sys.argv[1:]) or None))
