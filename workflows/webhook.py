"""WebhookWorkflow: delivers a run's webhook with retries, apart from the run.

The run starts it as an abandoned child, so a slow or unreachable receiver never holds up
the run or the thread's next run; the delivery is retried on its own and visible in the
Temporal UI as ``webhook-<run id>``.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from tempograph.workflows.types import (
        THREAD_ID,
        WEBHOOK_ACTIVITY,
        WEBHOOK_WORKFLOW,
        ErrorType,
        RunEnd,
        WebhookDelivery,
    )
    from tempograph.workflows.values import PartTable


async def start_delivery(url: str, thread_id: str, end: RunEnd) -> None:
    """From a RunWorkflow: start the delivery of its segment's ``end`` to ``url``, as an
    abandoned child carrying the parts of the values it posts."""
    table = PartTable()
    if end.values is not None:
        for part_hash in end.values.part_hashes():
            part = end.parts.parts[part_hash]
            table.add(part_hash, part.kind, part.data, needed=True)
    await workflow.start_child_workflow(
        WEBHOOK_WORKFLOW,
        WebhookDelivery(
            url=url,
            run_id=end.run_id or "",
            thread_id=thread_id,
            status=end.status,
            values=end.values,
            error=end.error,
            parts=table,
        ),
        id=f"webhook-{end.run_id}",
        task_queue=workflow.info().task_queue,
        parent_close_policy=ParentClosePolicy.ABANDON,
        search_attributes=TypedSearchAttributes([SearchAttributePair(THREAD_ID, thread_id)]),
    )


@workflow.defn(name=WEBHOOK_WORKFLOW)
class WebhookWorkflow:
    @workflow.run
    async def run(self, delivery: WebhookDelivery) -> None:
        await workflow.execute_activity(
            WEBHOOK_ACTIVITY,
            delivery,
            start_to_close_timeout=timedelta(seconds=15),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                maximum_interval=timedelta(seconds=60),
                maximum_attempts=8,
                non_retryable_error_types=[ErrorType.WEBHOOK_REFUSED],
            ),
            summary=f"POST {delivery.url}",
        )
