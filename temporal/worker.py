"""Builds the workers that run Tempograph workflows and node activities.

Workflows run without Temporal's Python sandbox. Measured on our two-core machines: the
sandbox costs about half the Python CPU of a workflow task (10 ms against 5.4 ms), and
with LangGraph passed through it guards nothing that matters: a user's router calling
``datetime.now()`` or ``random`` runs unchecked either way, since the graph module is
imported outside the sandbox. What keeps workflow code deterministic instead: the
determinism hooks (:mod:`tempograph.temporal.determinism`), replay tests over recorded
histories, and those same histories replayed in the strict sandbox with our workflow
modules *not* passed through (:func:`build_replayer` with ``sandboxed=True``), which
fails on any clock, random or I/O call in our own workflow code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from langgraph.store.base import BaseStore
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.worker import (
    Interceptor,
    Replayer,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.workflow import NondeterminismError

from tempograph.activities.events import Recorder
from tempograph.activities.nodes import NodeActivities
from tempograph.activities.webhooks import WebhookSender
from tempograph.breakers import BreakerConfig, Breakers
from tempograph.crypto import KeyRing
from tempograph.temporal import determinism, logs
from tempograph.temporal.codec import data_converter
from tempograph.temporal.versioning import deployment_config
from tempograph.usage import Prices
from tempograph.valuestore import ValueStore
from tempograph.workflows import graphs as graph_registry
from tempograph.workflows.crons import CronCleanupWorkflow, CronWorkflow
from tempograph.workflows.durable import DurableGraph
from tempograph.workflows.run import RunWorkflow
from tempograph.workflows.webhook import WebhookWorkflow

_WORKFLOWS = [RunWorkflow, WebhookWorkflow]
# A run whose code no longer matches its history (a graph changed under a waiting run)
# fails, visibly, instead of retrying its workflow task forever; an operator can fix the
# deployment and Reset it to a point before the change.
_FAIL_ON = [NondeterminismError]

# Third-party modules the strict replay sandbox lets through (too heavy to re-import per
# workflow, and not ours to check).
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
    "temporalio",
)


def strict_runner() -> SandboxedWorkflowRunner:
    """Temporal's sandbox with our workflow code sandboxed: clock, random and I/O calls
    in it fail. Used to replay the recorded histories in tests."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*_PASSTHROUGH)
    return SandboxedWorkflowRunner(restrictions=restrictions)


_REPLAY_BUILD_ID = "tempograph-replay"


def build_replayer(
    graphs: dict[str, DurableGraph],
    values: ValueStore,
    *,
    sandboxed: bool = False,
    keys: KeyRing | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Replayer:
    """A replayer for recorded histories of runs of ``graphs``; ``values`` holds the
    values their payloads name; ``keys`` opens encrypted ones (a deployment's)."""
    determinism.install()
    # The replayer runs workflows on its own queue, "replay-<build id>".
    graph_registry.register(f"replay-{_REPLAY_BUILD_ID}", graphs)
    runner: WorkflowRunner = strict_runner() if sandboxed else UnsandboxedWorkflowRunner()
    return Replayer(
        # The cron workflows run on the API replicas (tempograph.api.services.cron_fire).
        workflows=[*_WORKFLOWS, CronWorkflow, CronCleanupWorkflow],
        data_converter=data_converter(values, keys),
        workflow_runner=runner,
        build_id=_REPLAY_BUILD_ID,
        interceptors=interceptors,
    )


def build_workers(
    client: Client,
    task_queue: str,
    graphs: dict[str, DurableGraph],
    recorder: Recorder,
    *,
    node_queues: str | Sequence[str] = "all",
    max_concurrent_activities: int = 100,
    graceful_shutdown: timedelta = timedelta(0),
    identity: str | None = None,
    webhook_allow_private: bool = False,
    store: BaseStore | None = None,
    sandbox: bool = False,
    prices: Prices | None = None,
    breakers: Breakers | None = None,
    version: WorkerDeploymentVersion | None = None,
) -> list[Worker]:
    """The workers a process runs for ``graphs``.

    ``client`` must use :func:`~tempograph.temporal.codec.data_converter` with
    ``recorder.values``. ``node_queues`` says which node-specific task queues (from node
    policies) it serves: ``"all"`` also polls every one of them beside ``task_queue`` (one
    machine); ``"none"`` serves ``task_queue`` only; a list of queue names makes a
    dedicated node pool that polls just those queues and runs no workflows.
    ``recorder`` is the API's Postgres, where runs keep their checkpoints, events and
    ends; ``webhook_allow_private`` lets webhooks reach private addresses (local
    development); ``store`` is the long-term memory store node bodies get; ``sandbox``
    runs every node's attempts in a sandboxed child process; ``prices`` prices model
    tokens (langgraph.json's ``tempograph.prices``); ``breakers`` guards the nodes whose
    policy or task queue names a dependency (``tempograph.breakers``); ``version`` makes
    every worker a versioned one of that Worker Deployment Version, its workflows pinned
    (:mod:`tempograph.temporal.versioning`).
    """
    determinism.install()
    logs.install()
    graph_registry.register(task_queue, graphs)
    for durable in graphs.values():
        for activity_type, target in durable.targets.items():
            logs.NODE_RETRY[activity_type] = target.policy.retry.to_temporal()
    nodes = NodeActivities(
        graphs,
        recorder,
        store,
        sandbox=sandbox,
        prices=prices,
        breakers=breakers or Breakers(recorder.pool, BreakerConfig()),
    )
    webhooks = WebhookSender(recorder, allow_private=webhook_allow_private)
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
        "deployment_config": None if version is None else deployment_config(version),
    }
    named = sorted({q for g in graphs.values() for q in g.task_queues} - {task_queue})
    if not isinstance(node_queues, str):
        return [Worker(client, task_queue=q, **common) for q in node_queues]  # type: ignore[arg-type]
    workers = [
        Worker(
            client,
            task_queue=task_queue,
            workflows=_WORKFLOWS,
            workflow_runner=UnsandboxedWorkflowRunner(),
            workflow_failure_exception_types=_FAIL_ON,
            **{  # type: ignore[arg-type]
                **common,
                "activities": [
                    nodes.execute_node,
                    recorder.finish_run,
                    recorder.flush_run,
                    recorder.answer_by_default,
                    webhooks.deliver,
                ],
            },
        )
    ]
    allow_slow_workflow_tasks(workers[0])
    if node_queues == "all":
        workers += [Worker(client, task_queue=q, **common) for q in named]  # type: ignore[arg-type]
    return workers


def allow_slow_workflow_tasks(worker: Worker) -> None:
    """Turn off the SDK's 2 s deadlock detector for ``worker``'s workflows.

    A graph's routers and reducers run in workflow code. A router taking 3 s (or a
    reducer over a big state) tripped the detector: the SDK failed the workflow task and
    then could not evict the workflow ("Eviction processed, but N tasks remain"), so the
    run hung and the worker could not stop (found 2026-12-02). Without it a slow task
    takes the time it takes; one slower than the workflow task timeout (10 s) is timed
    out by Temporal and retried, as its history shows. The SDK's only switch for it is
    ``debug_mode``, which also runs every activation on the worker's event loop, so this
    sets the attribute behind it; the slow-router test (``test_edge_cases.py``) fails if
    an SDK upgrade moves it.
    """
    workflow_worker = worker._workflow_worker
    if workflow_worker is not None:
        workflow_worker._deadlock_timeout_seconds = None
