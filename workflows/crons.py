"""Crons: each is a Temporal Schedule that starts a :class:`CronWorkflow` at its times.

The fire itself is an activity served by the API replicas (on the ``<queue>-crons`` task
queue), because a cron run is made exactly as a request would make it: the creator's auth,
the assistant, the input checks, the thread's multitask strategy
(:mod:`tempograph.api.services.crons`). The workflow's id and run id name the tick (the
Schedule appends the scheduled time to the id), and that name is the run's idempotency
key, so a retried fire never makes a second run.

A cron that is not bound to a thread makes a new thread per run; with
``on_run_completed="delete"`` that thread is erased when its run ends, as LangGraph Server
does. That wait is a :class:`CronCleanupWorkflow`, started as an abandoned child: the
fire itself ends at once, so the Schedule's overlap policy (skip while a fire is in
flight) never holds back the next tick behind a long run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ParentClosePolicy

CRON_WORKFLOW = "CronWorkflow"
CRON_CLEANUP_WORKFLOW = "CronCleanupWorkflow"
FIRE_ACTIVITY = "cron.fire"
DROP_WHEN_ENDED_ACTIVITY = "cron.drop_when_ended"

_FIRE_GIVES_UP = timedelta(minutes=10)
# The cleanup polls the run's status: soon after a short run, seldom during a long one.
_FIRST_POLL = timedelta(seconds=1)
_LONGEST_POLL = timedelta(seconds=30)
_POLLS_PER_EXECUTION = 500  # then continue-as-new, so the history stays small


def cron_queue(task_queue: str) -> str:
    """The task queue the API replicas serve for crons, beside the workers' ``task_queue``."""
    return f"{task_queue}-crons"


def schedule_id(cron_id: str) -> str:
    return f"cron-{cron_id}"


@dataclass
class CronFired:
    """What a tick made: the run, its thread, and whether the thread goes when it ends."""

    run_id: str
    thread_id: str
    drop_thread: bool = False


@workflow.defn(name=CRON_WORKFLOW)
class CronWorkflow:
    @workflow.run
    async def run(self, cron_id: str) -> CronFired | None:
        info = workflow.info()
        fired: CronFired | None = await workflow.execute_activity(
            FIRE_ACTIVITY,
            # The tick: the Schedule's time in the id; two triggered within one second
            # share that, so the execution's run id too.
            args=[cron_id, f"{info.workflow_id}/{info.run_id}"],
            result_type=CronFired,
            start_to_close_timeout=timedelta(minutes=1),
            # Retried while the API or Postgres is away; a refusal (the cron's assistant
            # or thread is gone, its input no longer fits) fails the fire, not the cron.
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            # A fire still trying when the API has been away this long gives up (its
            # tick is lost, the next one fires), so the Schedule's skip never holds the
            # cron back for longer.
            schedule_to_close_timeout=_FIRE_GIVES_UP,
            summary=f"cron {cron_id}: start a run",
        )
        if fired is not None and fired.drop_thread:
            await workflow.start_child_workflow(
                CRON_CLEANUP_WORKFLOW,
                fired,
                id=f"{info.workflow_id}-{info.run_id}-cleanup",
                task_queue=info.task_queue,
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"erase thread {fired.thread_id} when run {fired.run_id} ends",
            )
        return fired


@workflow.defn(name=CRON_CLEANUP_WORKFLOW)
class CronCleanupWorkflow:
    @workflow.run
    async def run(self, fired: CronFired) -> None:
        wait = _FIRST_POLL
        for _ in range(_POLLS_PER_EXECUTION):
            dropped: bool = await workflow.execute_activity(
                DROP_WHEN_ENDED_ACTIVITY,
                args=[fired.thread_id, fired.run_id],
                result_type=bool,
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            )
            if dropped:
                return
            await workflow.sleep(wait)
            wait = min(wait * 2, _LONGEST_POLL)
        workflow.continue_as_new(fired)
