"""Builds the workers that run Tempograph workflows and node activities."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from langgraph.store.base import BaseStore
from tempograph.activities.events import EventLog
from tempograph.activities.nodes import NodeActivities
from tempograph.activities.webhooks import WebhookSender
from tempograph.temporal import determinism
from tempograph.temporal.converter import DATA_CONVERTER
from tempograph.workflows import graphs as graph_registry
from tempograph.workflows.durable import DurableGraph
from tempograph.workflows.run import RunWorkflow
from tempograph.workflows.thread import ThreadWorkflow
from tempograph.workflows.webhook import WebhookWorkflow
from temporalio.client import Client
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

# Loaded once per process and shared by every workflow run; our workflow modules
# (thread.py, run.py) stay sandboxed and re-imported per run.
_PASSTHROUGH = (
    "langgraph",
    "langchain_core",
    "langsmith",
    "pydantic",
    "pydantic_core",
    "jsonschema",
    "jsonschema_specifications",
    "referencing",
    "ormsgpack",
    "xxhash",
    "typing_extensions",
    "tempograph",
    "tempograph.workflows.durable",
    "tempograph.workflows.graphs",
    "tempograph.workflows.ids",
    "tempograph.workflows.jsonable",
    "tempograph.workflows.policy",
    "tempograph.workflows.saver",
    "tempograph.workflows.serde",
    "tempograph.workflows.state",
    "tempograph.workflows.stream",
    "tempograph.workflows.types",
    "tempograph.workflows.validation",
)
_WORKFLOWS = [ThreadWorkflow, RunWorkflow, WebhookWorkflow]


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox our workflows run in, with LangGraph and our pure modules passed through."""
    # Every module is passed through, our workflow modules too: they hold no state, and
    # re-importing them for each new workflow cost ~18% of the process's CPU under load.
    # The sandbox's runtime checks (clock, random, I/O in workflow code) still apply.
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*_PASSTHROUGH)
    return SandboxedWorkflowRunner(restrictions=restrictions.with_passthrough_all_modules())


_REPLAY_BUILD_ID = "tempograph-replay"


def build_replayer(graphs: dict[str, DurableGraph]) -> Replayer:
    """A replayer for recorded histories of runs of ``graphs``."""
    determinism.install()
    # The replayer runs workflows on its own queue, "replay-<build id>".
    graph_registry.register(f"replay-{_REPLAY_BUILD_ID}", graphs)
    return Replayer(
        workflows=_WORKFLOWS,
        data_converter=DATA_CONVERTER,
        workflow_runner=workflow_runner(),
        build_id=_REPLAY_BUILD_ID,
    )


def build_workers(
    client: Client,
    task_queue: str,
    graphs: dict[str, DurableGraph],
    *,
    node_queues: str | Sequence[str] = "all",
    max_concurrent_activities: int = 100,
    graceful_shutdown: timedelta = timedelta(0),
    identity: str | None = None,
    events: EventLog | None = None,
    webhook_allow_private: bool = False,
    store: BaseStore | None = None,
) -> list[Worker]:
    """The workers a process runs for ``graphs``.

    ``node_queues`` says which node-specific task queues (from node policies) it serves:
    ``"all"`` also polls every one of them beside ``task_queue`` (one machine);
    ``"none"`` serves ``task_queue`` only; a list of queue names makes a dedicated node
    pool that polls just those queues and runs no workflows. ``events`` is the API's
    Postgres, where runs started through the API record their events and ends;
    ``webhook_allow_private`` lets webhooks reach private addresses (local development);
    ``store`` is the long-term memory store node bodies get (``store=``, ``runtime.store``).
    """
    determinism.install()
    graph_registry.register(task_queue, graphs)
    events = events or EventLog(None)
    nodes = NodeActivities(graphs, events, store)
    webhooks = WebhookSender(events, allow_private=webhook_allow_private)
    # Sync node bodies run on the loop's default executor (LangChain's run_in_executor);
    # size it to the activity slots so a leased slot never waits for a thread.
    executor = ThreadPoolExecutor(max_workers=max_concurrent_activities)
    asyncio.get_running_loop().set_default_executor(executor)
    common = {
        "activities": [nodes.execute_node],
        "activity_executor": executor,
        "max_concurrent_activities": max_concurrent_activities,
        "graceful_shutdown_timeout": graceful_shutdown,
        "identity": identity,
    }
    named = sorted({q for g in graphs.values() for q in g.task_queues} - {task_queue})
    if not isinstance(node_queues, str):
        return [Worker(client, task_queue=q, **common) for q in node_queues]  # type: ignore[arg-type]
    workers = [
        Worker(
            client,
            task_queue=task_queue,
            workflows=_WORKFLOWS,
            workflow_runner=workflow_runner(),
            **{**common, "activities": [nodes.execute_node, events.finish_run, webhooks.deliver]},  # type: ignore[arg-type]
        )
    ]
    if node_queues == "all":
        workers += [Worker(client, task_queue=q, **common) for q in named]  # type: ignore[arg-type]
    return workers
