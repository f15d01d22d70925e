"""``tempograph cluster up --autoscale MIN:MAX``: worker processes per task queue, sized to
the queue's backlog as Temporal reports it (``DescribeTaskQueue`` with its statistics).

Every ``interval`` seconds, per pool: the backlog (workflow and activity tasks waiting)
asks for ``ceil(backlog / per_worker)`` workers, kept between MIN and MAX. More are
started at once; one is drained (SIGTERM: it stops polling, finishes the nodes it runs,
exits) once the queue has been quiet for ``quiet`` seconds (no backlog seen, and no
change of the pool), and so on down to MIN. KEDA's ``temporal`` scaler does the same on
Kubernetes (the Helm chart's ``ScaledObject``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from tempograph.errors import ErrorCode, TempographError
from tempograph.temporal.processes import Process


def parse_bounds(text: str) -> tuple[int, int]:
    """``"MIN:MAX"`` with 1 <= MIN <= MAX."""
    low, sep, high = text.partition(":")
    try:
        bounds = (int(low), int(high))
    except ValueError:
        bounds = (0, 0)
    if not sep or not 1 <= bounds[0] <= bounds[1]:
        raise TempographError(
            f"--autoscale {text!r}: give MIN:MAX worker processes, 1 <= MIN <= MAX (e.g. 1:4)",
            code=ErrorCode.CONFIG_INVALID,
        )
    return bounds


async def backlog(client: Client, queue: str) -> int:
    """Workflow and activity tasks waiting in ``queue`` (Temporal's approximation)."""
    total = 0
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        found = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                task_queue_type=kind,
                report_stats=True,
            ),
            timeout=timedelta(seconds=5),
        )
        total += found.stats.approximate_backlog_count
    return total


@dataclass
class Pool:
    """The workers serving one task queue (``args``: their ``--node-queues`` choice)."""

    queue: str
    args: list[str]
    workers: list[Process] = field(default_factory=list)
    changed: float = 0.0  # monotonic time of the last start or drain
    idle_since: float | None = None  # since when its backlog has been zero
    started: int = 0  # workers ever started here, for their names


class Autoscaler:
    def __init__(
        self,
        client: Client,
        pools: list[Pool],
        bounds: tuple[int, int],
        spawn: Callable[[Pool], Process],
        say: Callable[[str], None],
        *,
        per_worker: int = 5,
        quiet: float = 15.0,
    ) -> None:
        self.client = client
        self.pools = pools
        self.minimum, self.maximum = bounds
        self._spawn = spawn
        self._say = say
        self.per_worker = per_worker
        self.quiet = quiet
        self.draining: list[Process] = []

    def live(self) -> list[Process]:
        return [w for pool in self.pools for w in pool.workers]

    def fill(self) -> None:
        """Every pool at its minimum (at start-up)."""
        for pool in self.pools:
            while len(pool.workers) < self.minimum:
                pool.workers.append(self._spawn(pool))
            pool.changed = time.monotonic()

    async def step(self) -> bool:
        """One look at every queue; whether a pool changed."""
        changed = False
        for pool in self.pools:
            try:
                waiting = await backlog(self.client, pool.queue)
            except (RPCError, RuntimeError, TimeoutError):
                continue  # Temporal busy or restarting: decide next time
            now = time.monotonic()
            if waiting:
                pool.idle_since = None
            elif pool.idle_since is None:
                pool.idle_since = now
            quiet_for = 0.0 if pool.idle_since is None else now - max(pool.idle_since, pool.changed)
            have = len(pool.workers)
            want = min(self.maximum, max(self.minimum, math.ceil(waiting / self.per_worker)))
            if want > have:
                for _ in range(want - have):
                    pool.workers.append(self._spawn(pool))
                self._say(f"autoscale {pool.queue}: {have} -> {want} workers (backlog {waiting})")
            elif have > self.minimum and quiet_for >= self.quiet:
                worker = pool.workers.pop()
                self.draining.append(worker)
                asyncio.get_running_loop().run_in_executor(None, self._drain, worker)
                self._say(
                    f"autoscale {pool.queue}: {have} -> {have - 1} workers (idle; draining"
                    f" {worker.name})"
                )
            else:
                continue
            pool.changed = now
            changed = True
        return changed

    def _drain(self, worker: Process) -> None:
        worker.stop(grace=120.0)  # SIGTERM: running nodes finish first
        self.draining.remove(worker)
