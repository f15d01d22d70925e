"""RunWorkflow: one run of a graph on a thread, driven by LangGraph's own Pregel loop."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, cast

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from langchain_core.runnables import RunnableConfig
    from langgraph._internal._constants import CONFIG_KEY_RUNTIME, CONFIG_KEY_STREAM
    from langgraph.errors import GraphRecursionError
    from langgraph.pregel.protocol import StreamProtocol
    from langgraph.runtime import Runtime
    from langgraph.types import Command
    from langsmith.run_helpers import tracing_context
    from tempograph.workflows import ids
    from tempograph.workflows.durable import inline_executor
    from tempograph.workflows.graphs import durable_graph
    from tempograph.workflows.jsonable import to_jsonable
    from tempograph.workflows.saver import WorkflowSaver
    from tempograph.workflows.stream import Outbox
    from tempograph.workflows.types import (
        CANCEL_RUN,
        CANCELLED,
        ERROR,
        FINISH_RUN_ACTIVITY,
        INTERRUPTED,
        PENDING,
        RESUME,
        ROLLBACK,
        RUN_PAUSED,
        RUN_WORKFLOW,
        RUNNING,
        SUCCESS,
        THREAD_ID,
        WEBHOOK_WORKFLOW,
        NodeFailure,
        ResumeRequest,
        RunEnd,
        RunInput,
        RunOutcome,
        WebhookDelivery,
    )


@workflow.defn(name=RUN_WORKFLOW)
class RunWorkflow:
    """Runs the graph to the end; at an ``interrupt()`` it waits for the thread's resume.

    Seen from the HTTP API a run ends at an interrupt and the resume is a new run: each
    such segment has its own API run id (``StreamSpec.run_id``), its own events and its
    own end, written by the finish activity. Runs started from the CLI have no stream.
    """

    @workflow.init
    def __init__(self, inp: RunInput) -> None:
        self._inp = inp
        self._status = PENDING
        self._resumes = 0
        self._pending: list[Any] = []
        self._cancel = False
        self._rollback = False
        # Where the current segment started: a rollback shows the thread as it was there.
        self._segment_start: str | None = inp.checkpoints.head_id()
        self._outcome = RunOutcome(run_id=inp.run_id, status=PENDING)
        # Read by the node activities' caller (tempograph.workflows.durable.run_activity).
        self.outbox = Outbox()

    @workflow.signal(name=RESUME)
    def resume(self, value: Any) -> None:
        """The human's answer to the pending interrupt(s), forwarded by the thread."""
        self._pending.append(value)

    @workflow.signal(name=CANCEL_RUN)
    def cancel(self, reason: str = "cancel") -> None:
        """Stop the running segment; a run waiting at an interrupt just ends (superseded).
        ``rollback`` also reports the thread as it was when the segment started."""
        self._cancel = True
        self._rollback = self._rollback or reason == "rollback"

    @workflow.run
    async def run(self, inp: RunInput) -> RunOutcome:
        inline_executor(asyncio.get_running_loop())
        request = inp.request
        durable = durable_graph(request.graph_id)
        saver = WorkflowSaver(inp.thread_id, inp.checkpoints)
        ids.set_floor(inp.checkpoints.head_id())
        graph = durable.workflow_graph.copy({"checkpointer": saver})
        self.outbox.begin(request.stream)
        user_config = dict(request.config)
        configurable = {
            **user_config.get("configurable", {}),
            "thread_id": inp.thread_id,
            "run_id": inp.run_id,
            "graph_id": request.graph_id,
        }
        config = cast(RunnableConfig, {**user_config, "configurable": configurable})
        payload: Any = request.command if request.command is not None else request.input
        breakpoints: dict[str, Any] = {
            "interrupt_before": request.interrupt_before,
            "interrupt_after": request.interrupt_after,
        }
        if request.after_seconds > 0:
            try:
                await workflow.wait_condition(lambda: self._cancel, timeout=request.after_seconds)
            except TimeoutError:
                pass  # its time has come; a cancel meanwhile stops it in _invoke
        while True:
            self._status = RUNNING
            try:
                state = await self._invoke(
                    graph, payload, self._streaming(config), request.context, breakpoints
                )
            except asyncio.CancelledError:
                return await self._cancelled(saver, graph, config)
            except Exception as err:  # noqa: BLE001 - every failure fails the run, visibly
                return await self._fail(inp, saver, graph, config, _as_failure(err))
            if not state.next:
                break
            # Stopped at interrupt() or at a static breakpoint (interrupt_before/after).
            self._settle(INTERRUPTED, state, saver)
            await self._notify(inp)
            await self._finish(SUCCESS, state)
            await workflow.wait_condition(lambda: bool(self._pending) or self._cancel)
            if not self._pending:
                # Superseded by a new run on the thread, which starts from these checkpoints.
                self._outcome.checkpoints = None
                return self._outcome
            answer = self._pending.pop(0)
            self._segment_start = state.config["configurable"].get("checkpoint_id")
            if isinstance(answer, ResumeRequest):
                self.outbox.begin(answer.stream)
                answer = answer.value
            # A breakpoint is continued with no input; an interrupt() gets the answer.
            payload = Command(resume=answer) if state.interrupts else None
            breakpoints = {}
            config = _latest(config)
            self._resumes += 1
        self._settle(SUCCESS, state, saver)
        await self._notify(inp)
        await self._finish(SUCCESS, state)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._outcome

    def _streaming(self, config: Any) -> Any:
        """``config`` streaming into the outbox in the current segment's modes."""
        configurable = {
            k: v
            for k, v in config["configurable"].items()
            if k not in (CONFIG_KEY_STREAM, CONFIG_KEY_RUNTIME)
        }
        if self.outbox.modes():
            configurable[CONFIG_KEY_STREAM] = StreamProtocol(
                self.outbox.put, cast(Any, self.outbox.modes())
            )
            # LangGraph takes the root's stream writer from the runtime when it streams
            # into a caller; custom writes in workflow code (an entrypoint) land here.
            configurable[CONFIG_KEY_RUNTIME] = Runtime(
                stream_writer=lambda chunk: self.outbox.put(((), "custom", chunk))
            )
        return {**config, "configurable": configurable}

    async def _invoke(
        self, graph: Any, payload: Any, config: Any, context: Any, breakpoints: dict[str, Any]
    ) -> Any:
        """One pass of LangGraph's loop; a cancel request stops it (CancelledError)."""

        async def invoke() -> Any:
            # LangSmith tracing from workflow code would post again on every replay.
            with tracing_context(enabled=False):
                await graph.ainvoke(payload, config, context=context, **breakpoints)
            # The thread's newest state: without the checkpoint a fork started from.
            return await graph.aget_state(_latest(config))

        task = asyncio.ensure_future(invoke())
        try:
            await workflow.wait_condition(lambda: task.done() or self._cancel)
        except asyncio.CancelledError:  # the workflow itself was cancelled
            self._cancel = True
        if not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - a cancel's fallout
                pass
            raise asyncio.CancelledError
        if self._cancel and task.exception() is not None:
            # The cancelled node's activity failed with the cancellation: not an error.
            raise asyncio.CancelledError
        return task.result()

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

    async def _finish(self, status: str, state: Any, error: dict[str, str] | None = None) -> None:
        """Write the segment's remaining events and its end to Postgres (API runs only)."""
        spec = self.outbox.spec
        if spec is None:
            return
        values = to_jsonable(state.values) if state is not None else None
        interrupts = {
            task.id: to_jsonable(list(task.interrupts))
            for task in (state.tasks if state is not None else ())
            if task.interrupts
        }
        output: Any = values
        if error is not None:
            output = {
                "__error__": {"error": error.get("type", "Error"), "message": error["message"]}
            }
        elif interrupts and isinstance(values, dict):
            output = {**values, "__interrupt__": [i for v in interrupts.values() for i in v]}
        thread_status = "idle"
        if error is not None:
            thread_status = "error"
        elif state is not None and state.next:
            thread_status = "interrupted"
        if error is not None:
            self.outbox.error(error)
        end = RunEnd(
            run_id=spec.run_id,
            thread_id=self._inp.thread_id,
            status=status,
            thread_status=thread_status,
            output=output,
            values=values,
            interrupts=interrupts,
            error=error,
            events=self.outbox.drain(),
        )
        # A local activity: no extra workflow task. Writing the end again (a worker died
        # before the task completed) is harmless: events are keyed, the status the same.
        await workflow.execute_local_activity(
            FINISH_RUN_ACTIVITY,
            end,
            start_to_close_timeout=timedelta(seconds=60),
            summary=f"run {spec.run_id} {status}",
        )
        if spec.webhook:
            await workflow.start_child_workflow(
                WEBHOOK_WORKFLOW,
                WebhookDelivery(
                    url=spec.webhook,
                    run_id=spec.run_id,
                    thread_id=self._inp.thread_id,
                    status=status,
                    values=values,
                    error=end.error,
                ),
                id=f"webhook-{spec.run_id}",
                task_queue=workflow.info().task_queue,
                parent_close_policy=ParentClosePolicy.ABANDON,
                search_attributes=TypedSearchAttributes(
                    [SearchAttributePair(THREAD_ID, self._inp.thread_id)]
                ),
            )
        self.outbox.begin(None)

    async def _notify(self, inp: RunInput) -> None:
        """Hand the thread this segment's checkpoints and status before Postgres says the
        segment ended, so a client that sees the end also sees the state."""
        if inp.parent_workflow_id:
            parent = workflow.get_external_workflow_handle(inp.parent_workflow_id)
            await parent.signal(RUN_PAUSED, self._outcome)
            self._outcome.checkpoints = None

    async def _cancelled(self, saver: WorkflowSaver, graph: Any, config: Any) -> RunOutcome:
        state = await graph.aget_state(_latest(config))
        self._settle(CANCELLED, state, saver)
        await self._notify(self._inp)
        if self._rollback:
            # The thread drops this segment's checkpoints; report the state it returns to.
            before = None
            if self._segment_start is not None:
                conf = {**config["configurable"], "checkpoint_id": self._segment_start}
                before = await graph.aget_state({**config, "configurable": conf})
            await self._finish(ROLLBACK, before)
        else:
            await self._finish(INTERRUPTED, state)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._outcome

    async def _fail(
        self, inp: RunInput, saver: WorkflowSaver, graph: Any, config: Any, err: ApplicationError
    ) -> RunOutcome:
        try:
            state = await graph.aget_state(_latest(config))
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
        await self._finish(ERROR, state, self._outcome.error)
        await workflow.wait_condition(workflow.all_handlers_finished)
        raise err


def _latest(config: Any) -> Any:
    """``config`` pointing at the thread's newest checkpoint rather than a fork point."""
    configurable = {k: v for k, v in config["configurable"].items() if k != "checkpoint_id"}
    return {**config, "configurable": configurable}


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
