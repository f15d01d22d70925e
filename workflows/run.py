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
        WAIT_RUN,
        NodeFailure,
        RunInput,
        RunOutcome,
        WaitRequest,
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

    @workflow.update(name=WAIT_RUN)
    async def wait(self, request: WaitRequest) -> RunOutcome:
        await workflow.wait_condition(
            lambda: (
                self._status in (SUCCESS, ERROR, INTERRUPTED) and self._resumes >= request.resumes
            )
        )
        return self._outcome

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
                await graph.ainvoke(payload, config, context=request.context)
            except NodeFailure as err:
                return await self._fail(inp, saver, graph, config, err)
            except GraphRecursionError as err:
                return await self._fail(
                    inp,
                    saver,
                    graph,
                    config,
                    ApplicationError(str(err), type="GraphRecursionError", non_retryable=True),
                )
            except ApplicationError as err:
                return await self._fail(inp, saver, graph, config, err)
            except Exception as err:  # noqa: BLE001 - a router or reducer raised: fail the run
                return await self._fail(
                    inp,
                    saver,
                    graph,
                    config,
                    ApplicationError(
                        f"{type(err).__name__}: {err}", type=type(err).__name__, non_retryable=True
                    ),
                )
            state = await graph.aget_state(config)
            if not state.interrupts:
                break
            self._settle(INTERRUPTED, state, saver)
            await self._notify(inp)
            await workflow.wait_condition(lambda: bool(self._pending))
            payload = Command(resume=self._pending.pop(0))
            self._resumes += 1
        self._settle(SUCCESS, state, saver)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._outcome

    def _settle(self, status: str, state: Any, saver: WorkflowSaver) -> None:
        self._status = status
        self._outcome = RunOutcome(
            run_id=self._inp.run_id,
            status=status,
            values=to_jsonable(state.values),
            interrupts=to_jsonable(list(state.interrupts)),
            resumes=self._resumes,
            checkpoints=saver.export(),
        )

    async def _notify(self, inp: RunInput) -> None:
        if inp.parent_workflow_id:
            parent = workflow.get_external_workflow_handle(inp.parent_workflow_id)
            await parent.signal(RUN_PAUSED, self._outcome)

    async def _fail(
        self, inp: RunInput, saver: WorkflowSaver, graph: Any, config: Any, err: ApplicationError
    ) -> RunOutcome:
        state = await graph.aget_state(config)
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
