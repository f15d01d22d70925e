"""RunWorkflow: one run of a graph on a thread, driven by LangGraph's own Pregel loop."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from langchain_core.runnables import RunnableConfig
    from langgraph.errors import GraphRecursionError
    from langgraph.types import Command
    from langsmith.run_helpers import tracing_context

    from workflows import ids
    from workflows.durable import inline_executor
    from workflows.graphs import durable_graph
    from workflows.jsonable import to_jsonable
    from workflows.saver import WorkflowSaver
    from workflows.types import (
        ERROR,
        INTERRUPTED,
        PENDING,
        RESUME,
        RUN_PAUSED,
        RUN_WORKFLOW,
        RUNNING,
        SUCCESS,
        NodeFailure,
        RunInput,
        RunOutcome,
    )


@workflow.defn(name=RUN_WORKFLOW)
class RunWorkflow:
    """Runs the graph to the end; at an ``interrupt()`` it waits for the thread's resume."""

    @workflow.init
    def __init__(self, inp: RunInput) -> None:
        self._inp = inp
        self._status = PENDING
        self._resumes = 0
        self._pending: list[Any] = []
        self._outcome = RunOutcome(run_id=inp.run_id, status=PENDING)

    @workflow.signal(name=RESUME)
    def resume(self, value: Any) -> None:
        """The human's answer to the pending interrupt(s), forwarded by the thread."""
        self._pending.append(value)

    @workflow.run
    async def run(self, inp: RunInput) -> RunOutcome:
        inline_executor(asyncio.get_running_loop())
        request = inp.request
        durable = durable_graph(request.graph_id)
        saver = WorkflowSaver(inp.thread_id, inp.checkpoints)
        ids.set_floor(inp.checkpoints.head_id())
        graph = durable.workflow_graph.copy({"checkpointer": saver})
        user_config = dict(request.config)
        config = cast(
            RunnableConfig,
            {
                **user_config,
                "configurable": {
                    **user_config.get("configurable", {}),
                    "thread_id": inp.thread_id,
                    "run_id": inp.run_id,
                    "graph_id": request.graph_id,
                },
            },
        )
        payload: Any = request.command if request.command is not None else request.input
        while True:
            self._status = RUNNING
            try:
                # LangSmith tracing from workflow code would post again on every replay.
                with tracing_context(enabled=False):
                    await graph.ainvoke(payload, config, context=request.context)
                state = await graph.aget_state(config)
            except Exception as err:  # noqa: BLE001 - every failure fails the run, visibly
                return await self._fail(inp, saver, graph, config, _as_failure(err))
            if not state.next:
                break
            # Stopped at interrupt() or at a static breakpoint (interrupt_before/after).
            self._settle(INTERRUPTED, state, saver)
            await self._notify(inp)
            await workflow.wait_condition(lambda: bool(self._pending))
            answer = self._pending.pop(0)
            # A breakpoint is continued with no input; an interrupt() gets the answer.
            payload = Command(resume=answer) if state.interrupts else None
            self._resumes += 1
        self._settle(SUCCESS, state, saver)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._outcome

    def _settle(self, status: str, state: Any, saver: WorkflowSaver) -> None:
        self._status = status
        self._outcome = RunOutcome(
            run_id=self._inp.run_id,
            status=status,
            values=to_jsonable(state.values) if state is not None else None,
            interrupts=to_jsonable(list(state.interrupts)) if state is not None else [],
            resumes=self._resumes,
            checkpoints=saver.export_new(),
        )

    async def _notify(self, inp: RunInput) -> None:
        if inp.parent_workflow_id:
            parent = workflow.get_external_workflow_handle(inp.parent_workflow_id)
            await parent.signal(RUN_PAUSED, self._outcome)

    async def _fail(
        self, inp: RunInput, saver: WorkflowSaver, graph: Any, config: Any, err: ApplicationError
    ) -> RunOutcome:
        try:
            state = await graph.aget_state(config)
        except Exception:  # noqa: BLE001 - report the run's own error, without its state
            state = None
        self._settle(ERROR, state, saver)
        self._outcome.error = {"type": err.type or "Error", "message": err.message}
        if isinstance(err, NodeFailure):
            self._outcome.error = {
                "node": err.node,
                "type": err.error_type,
                "message": err.error_message,
            }
        await self._notify(inp)
        await workflow.wait_condition(workflow.all_handlers_finished)
        raise err


def _as_failure(err: Exception) -> ApplicationError:
    """The run's failure: a node's error as it is, anything else by its type and message."""
    if isinstance(err, ApplicationError):
        return err
    if isinstance(err, GraphRecursionError):
        return ApplicationError(str(err), type="GraphRecursionError", non_retryable=True)
    # A router, reducer or the entrypoint raised in the workflow: fail the run, do not
    # retry the workflow task forever.
    return ApplicationError(
        f"{type(err).__name__}: {err}", type=type(err).__name__, non_retryable=True
    )
