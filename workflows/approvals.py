"""Approval deadlines, the workflow's side: a node policy's ``approval_timeout`` and
``approval_default`` (:mod:`tempograph.workflows.policy`). When nobody answers an
interrupt in time, a durable timer fires and the default answer is recorded as an API
run of its own (:meth:`tempograph.activities.events.Recorder.answer_by_default`), so the
run resumes with it as with ``command.resume``. Deterministic workflow code only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tempograph.workflows.types import DEFAULT_ANSWER_ACTIVITY, ResumeRequest, StreamSpec


def deadline(durable: Any, state: Any) -> tuple[float, Any] | None:
    """The earliest approval deadline (seconds, default answer) among the nodes that wait
    at interrupt() in ``state``, from their policies; None when none has one."""
    found: tuple[float, Any] | None = None
    for task in state.tasks:
        if not task.interrupts:
            continue
        target = durable.targets.get(f"{durable.graph_id}.{task.name}")
        policy = target.policy if target is not None else None
        if policy is None or policy.approval_timeout is None:
            continue
        if found is None or policy.approval_timeout < found[0]:
            found = (policy.approval_timeout, policy.approval_default)
    return found


async def default_answer(
    thread_id: str, asked_in: str, interrupts: list[Any], seconds: float, default: Any
) -> ResumeRequest | None:
    """The default answer to the pending ``interrupts`` (by interrupt id when there are
    several), carried by the API run the activity records; None if a run came first."""
    pending = [i["id"] for i in interrupts if isinstance(i, dict) and i.get("id")]
    value = {i: default for i in pending} if len(pending) > 1 else default
    run_id = await workflow.execute_local_activity(
        DEFAULT_ANSWER_ACTIVITY,
        args=[thread_id, workflow.info().workflow_id, asked_in, value, seconds],
        result_type=str,
        start_to_close_timeout=timedelta(seconds=60),
        summary=f"no answer in {seconds:g} s: the default",
    )
    return ResumeRequest(value, StreamSpec(run_id=run_id)) if run_id is not None else None
