"""Where workflow code finds the durable graphs its worker registered.

Graphs are Python objects loaded once per worker process; workflows reach them through
this passed-through module, keyed by the task queue the worker polls, so two workers in
one process (tests, or a worker serving two queues) never see each other's graphs.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from tempograph.workflows.durable import DurableGraph

_BY_QUEUE: dict[str, dict[str, DurableGraph]] = {}


def register(task_queue: str, graphs: dict[str, DurableGraph]) -> None:
    """Make ``graphs`` visible to workflows running on ``task_queue``."""
    _BY_QUEUE[task_queue] = dict(graphs)


def graphs_for_queue(task_queue: str) -> dict[str, DurableGraph]:
    return _BY_QUEUE.get(task_queue, {})


def durable_graph(graph_id: str) -> DurableGraph:
    """The graph ``graph_id`` of the worker running the current workflow."""
    graphs = graphs_for_queue(workflow.info().task_queue)
    if graph_id not in graphs:
        raise ApplicationError(
            f"unknown graph {graph_id!r}; this worker serves {sorted(graphs)}",
            type="UnknownGraph",
            non_retryable=True,
        )
    return graphs[graph_id]
