"""Temporal's own floor on this machine: a workflow that runs N no-op activities in a row."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench.noop")
async def noop(value: int) -> int:
    return value + 1


@workflow.defn(name="BenchChain")
class Chain:
    @workflow.run
    async def run(self, length: int) -> int:
        value = 0
        for _ in range(length):
            value = await workflow.execute_activity(
                noop, value, start_to_close_timeout=timedelta(seconds=30)
            )
        return value
