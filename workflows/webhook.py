"""WebhookWorkflow: delivers a run's webhook with retries, apart from the run.

The run starts it as an abandoned child, so a slow or unreachable receiver never holds up
the run or the thread's next run; the delivery is retried on its own and visible in the
Temporal UI as ``webhook-<run id>``.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from tempograph.workflows.types import (
        WEBHOOK_ACTIVITY,
        WEBHOOK_WORKFLOW,
        ErrorType,
        WebhookDelivery,
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
