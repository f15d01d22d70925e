"""``GET /metrics``: Prometheus's text format, from ``prometheus_client``.

Beside this process's counters and histograms (:mod:`tempograph.metrics`; in
``tempograph up`` the worker's too), two gauges describe the whole deployment and are
read when scraped: threads waiting at ``interrupt()`` (how many, and the oldest wait, by
graph) and the circuit breakers' states from Postgres, and the main task queue's backlog
from Temporal. Metrics cross
tenants, so with auth only operators may read them (:func:`require_operator`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.service import RPCError

from tempograph.api.auth import require_operator
from tempograph.api.deps import State
from tempograph.api.state import AppState
from tempograph.api.strict_json import StrictJSONRoute
from tempograph.metrics import BACKLOG, INTERRUPT_OLDEST, INTERRUPTS_WAITING

router = APIRouter(route_class=StrictJSONRoute, tags=["system"])
logger = logging.getLogger(__name__)

_KINDS = {
    "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}


@router.get("/metrics", response_class=Response)
async def metrics(state: State) -> Response:
    """Prometheus metrics of this process and of the deployment's waiting work."""
    require_operator(state, "metrics describe every tenant's runs")
    await asyncio.gather(_interrupts(state), _backlog(state), state.breakers.describe())
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _interrupts(state: AppState) -> None:
    pool = await state.database.pool()
    rows = await pool.fetch(
        "SELECT coalesce(metadata->>'graph_id', '') AS graph, count(*) AS waiting,"
        " extract(epoch FROM now() - min(state_updated_at)) AS oldest"
        " FROM threads WHERE waiting GROUP BY 1"
    )
    INTERRUPTS_WAITING.clear()
    INTERRUPT_OLDEST.clear()
    for graph in state.catalog.ids():  # a graph nobody waits on shows 0, not nothing
        INTERRUPTS_WAITING.labels(graph).set(0)
        INTERRUPT_OLDEST.labels(graph).set(0)
    for row in rows:
        INTERRUPTS_WAITING.labels(row["graph"]).set(row["waiting"])
        INTERRUPT_OLDEST.labels(row["graph"]).set(float(row["oldest"] or 0))


async def _backlog(state: AppState) -> None:
    client = state.temporal
    for kind, queue_type in _KINDS.items():
        try:
            found = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(
                        name=state.task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL
                    ),
                    task_queue_type=queue_type,
                    report_stats=True,
                ),
                timeout=timedelta(seconds=2),
            )
        except (RPCError, RuntimeError, TimeoutError) as err:  # the rest still serves
            logger.debug("task queue backlog unavailable: %s", err)
            continue
        BACKLOG.labels(state.task_queue, kind).set(found.stats.approximate_backlog_count)
