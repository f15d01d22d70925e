"""A run that outgrew its history goes on in a new execution of its workflow.

Temporal suggests continue-as-new when a history grows long (4Ki events or 4 MB by
default). The next node call then raises :class:`~tempograph.workflows.activity_calls.
HistoryFull` instead of scheduling its activity, and :func:`continue_as_new` writes
what the run has not written yet and starts the workflow over (same id, same API run)
from the thread's newest checkpoint, by reference. LangGraph's recursion limit counts
from where its loop starts, so the step where the first loop would have stopped travels
with the run (``RunInput.stop``) and each later loop gets what is left of it.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any, NoReturn

from langgraph._internal._config import ensure_config
from langgraph.errors import GraphRecursionError
from temporalio import workflow

from tempograph.workflows.saver import WorkflowSaver
from tempograph.workflows.stream import Outbox
from tempograph.workflows.types import (
    FLUSH_RUN_ACTIVITY,
    CheckpointBatch,
    RunFlush,
    RunInput,
    StreamEvent,
)
from tempograph.workflows.values import PartTable

_NEWEST: Any = {"configurable": {}}


def unwritten(
    outbox: Outbox, saver: WorkflowSaver
) -> tuple[list[StreamEvent], CheckpointBatch | None, PartTable]:
    """The run's events and checkpoint rows not in Postgres yet, and the parts they name."""
    events, table = outbox.drain()
    persisted = saver.batch()
    if persisted is not None:
        table.merge(persisted[1])
    return events, persisted[0] if persisted is not None else None, table


def _limit_for(stop: int, step: int) -> int:
    """The recursion limit that stops a loop starting after checkpoint step ``step`` at
    ``stop``: LangGraph's loop stops past ``step + 1 + limit + 1``."""
    return stop - step - 2


def loop_start(
    graph: Any, saver: WorkflowSaver, config: Any, carried: int | None
) -> tuple[int, int, int]:
    """Where a loop started with ``config`` stops, the recursion limit to give it, and
    the one the user set (they differ when the stop was ``carried`` over)."""
    limit = int(ensure_config(graph.config, config)["recursion_limit"])
    step = saver.step_of(config)
    if carried is None:
        return step + limit + 2, limit, limit
    return carried, max(1, _limit_for(carried, step)), limit


def as_set(err: GraphRecursionError, given: int, user_limit: int) -> GraphRecursionError:
    """``err`` naming the recursion limit the user set, not the one a continued loop had."""
    said = f"Recursion limit of {given} reached"
    return GraphRecursionError(str(err).replace(said, f"Recursion limit of {user_limit} reached"))


def suggested(stop: int | None, saver: WorkflowSaver) -> bool:
    """Temporal suggests a new execution and the recursion limit leaves the next loop a
    step (else the run ends where it is)."""
    if stop is None or not workflow.info().is_continue_as_new_suggested():
        return False
    return _limit_for(stop, saver.step_of(_NEWEST)) >= 1


async def continue_as_new(
    inp: RunInput,
    saver: WorkflowSaver,
    outbox: Outbox,
    stop: int | None,
    breakpoints: dict[str, Any],
    segment_start: str | None,
) -> NoReturn:
    """Write what is unwritten, then continue as new from the newest checkpoint."""
    events, persist, table = unwritten(outbox, saver)
    table.drop_stored(saver.stored_parts)
    info, spec = workflow.info(), outbox.spec
    await workflow.execute_local_activity(
        FLUSH_RUN_ACTIVITY,
        RunFlush(
            run_id=spec.run_id if spec is not None else None,
            workflow_id=info.workflow_id,
            execution=info.run_id,
            events=events,
            persist=persist,
            parts=table,
        ),
        start_to_close_timeout=timedelta(seconds=60),
        summary=f"continuing as new after {info.get_current_history_length()} events",
    )
    saver.confirm(persist)
    start, parts = saver.continuation(also=segment_start)
    configurable = dict(inp.request.config.get("configurable") or {})
    configurable.pop("checkpoint_id", None)  # the newest, not the fork it began from
    request = dataclasses.replace(
        inp.request,
        input=None,
        command=None,
        config={**inp.request.config, "configurable": configurable},
        stream=spec,
        interrupt_before=breakpoints.get("interrupt_before"),
        interrupt_after=breakpoints.get("interrupt_after"),
        after_seconds=0,
    )
    await workflow.wait_condition(workflow.all_handlers_finished)
    workflow.continue_as_new(
        dataclasses.replace(
            inp,
            request=request,
            start=start,
            parts=parts,
            continued=True,
            segment_start=segment_start,
            stop=stop,
        )
    )
