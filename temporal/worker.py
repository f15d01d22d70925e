"""Builds the workers that run Tempograph workflows and node activities."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.nodes import NodeActivities
from temporal import determinism
from temporal.converter import DATA_CONVERTER
from workflows import graphs as graph_registry
from workflows.durable import DurableGraph
from workflows.run import RunWorkflow
from workflows.thread import ThreadWorkflow

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
    "workflows.durable",
    "workflows.graphs",
    "workflows.ids",
    "workflows.jsonable",
    "workflows.policy",
    "workflows.saver",
    "workflows.serde",
    "workflows.state",
    "workflows.types",
    "workflows.validation",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox our workflows run in, with LangGraph and our pure modules passed through."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*_PASSTHROUGH)
    )


_REPLAY_BUILD_ID = "tempograph-replay"


def build_replayer(graphs: dict[str, DurableGraph]) -> Replayer:
    """A replayer for recorded histories of runs of ``graphs``."""
    determinism.install()
    # The replayer runs workflows on its own queue, "replay-<build id>".
    graph_registry.register(f"replay-{_REPLAY_BUILD_ID}", graphs)
    return Replayer(
        workflows=[ThreadWorkflow, RunWorkflow],
        data_converter=DATA_CONVERTER,
        workflow_runner=workflow_runner(),
        build_id=_REPLAY_BUILD_ID,
    )


def build_workers(
    client: Client,
    task_queue: str,
    graphs: dict[str, DurableGraph],
    *,
    extra_queues: bool = True,
    max_concurrent_activities: int = 100,
) -> list[Worker]:
    """A worker for ``task_queue`` (workflows and nodes) and one per node-specific queue."""
    determinism.install()
    graph_registry.register(task_queue, graphs)
    nodes = NodeActivities(graphs)
    executor = ThreadPoolExecutor(max_workers=max_concurrent_activities)
    runner = workflow_runner()
    workers = [
        Worker(
            client,
            task_queue=task_queue,
            workflows=[ThreadWorkflow, RunWorkflow],
            activities=[nodes.execute_node],
            activity_executor=executor,
            workflow_runner=runner,
            max_concurrent_activities=max_concurrent_activities,
        )
    ]
    if extra_queues:
        queues = sorted({q for g in graphs.values() for q in g.task_queues} - {task_queue})
        for queue in queues:
            workers.append(
                Worker(
                    client,
                    task_queue=queue,
                    activities=[nodes.execute_node],
                    activity_executor=executor,
                    max_concurrent_activities=max_concurrent_activities,
                )
            )
    return workers
