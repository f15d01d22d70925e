"""Reading what happened from a run's Temporal history (the ground truth of executions)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client


@dataclass
class NodeExecution:
    activity_type: str
    attempt: int
    scheduled_at: float
    started_at: float | None
    closed_at: float | None
    outcome: str  # "completed", "failed", "timed_out", "pending"


async def node_executions(client: Client, run_id: str) -> list[NodeExecution]:
    """Every node activity of a run with its final attempt number and times."""
    history = await client.get_workflow_handle(run_id).fetch_history()
    by_id: dict[int, NodeExecution] = {}
    for event in history.events:
        t = event.event_time.ToDatetime().timestamp()
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            by_id[event.event_id] = NodeExecution(
                attrs.activity_type.name, 1, t, None, None, "pending"
            )
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            execution = by_id[started.scheduled_event_id]
            execution.attempt = started.attempt
            execution.started_at = t
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = by_id[event.activity_task_completed_event_attributes.scheduled_event_id]
            done.closed_at, done.outcome = t, "completed"
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failed = by_id[event.activity_task_failed_event_attributes.scheduled_event_id]
            failed.closed_at, failed.outcome = t, "failed"
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            timed = by_id[event.activity_task_timed_out_event_attributes.scheduled_event_id]
            timed.closed_at, timed.outcome = t, "timed_out"
    return list(by_id.values())


def attempts_by_node(executions: list[NodeExecution]) -> Counter[str]:
    """Total attempts per activity type (retries included)."""
    total: Counter[str] = Counter()
    for e in executions:
        total[e.activity_type] += e.attempt
    return total
