"""RunWorkflow: one run of a graph on a thread, driven by LangGraph's own Pregel loop.

One run is one execution in the Temporal UI (workflow id = the API run id), and each
node is an activity in it. The run starts from the thread's checkpoints in Postgres
(``RunInput.start``, loaded by whoever started it), and its own checkpoints go back there
through its activities: workflow code holds references and the current state only.

Seen from the HTTP API a run ends at an ``interrupt()`` and the resume is a new run: each
such *segment* has its own API run id (``StreamSpec.run_id``), its own events and its own
end, written by the finish activity. Here the workflow waits at the interrupt instead,
and the resume reaches it as the ``resume`` update.

The thread's next run starts when this workflow ends: its finish activity hands the
thread to the oldest queued run (see :mod:`tempograph.run_ends`). Whatever else ends it
(terminate, timeout, a limit) is noticed by the API's sweeper, which does the same.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, cast

from temporalio import workflow
from temporalio.exceptions import ApplicationError

RUN_STATUS_PATCH = "run-status-search-attribute"

with workflow.unsafe.imports_passed_through():
    from langchain_core.runnables import RunnableConfig
    from langgraph.errors import GraphRecursionError
    from langgraph.types import Command
    from langsmith.run_helpers import tracing_context

    from tempograph.workflows import continuation, ids
    from tempograph.workflows.activity_calls import HistoryFull, inline_executor
    from tempograph.workflows.approvals import deadline, default_answer
    from tempograph.workflows.graphs import durable_graph
    from tempograph.workflows.jsonable import to_jsonable
    from tempograph.workflows.outcome import as_failure, segment_output
    from tempograph.workflows.saver import WorkflowSaver
    from tempograph.workflows.stream import Outbox
    from tempograph.workflows.types import (
        CANCEL_RUN,
        FINISH_RUN_ACTIVITY,
        RESUME,
        RUN_STATUS,
        RUN_WORKFLOW,
        STATUS_ATTRIBUTE,
        CancelReason,
        ErrorType,
        FinishOutcome,
        NodeFailure,
        ResumeRequest,
        RunEnd,
        RunInput,
        RunState,
        SegmentEnd,
    )
    from tempograph.workflows.validation import is_interrupt_id
    from tempograph.workflows.values import PartTable, encode
    from tempograph.workflows.webhook import start_delivery

# Phases of a run (the ``status`` query).
PENDING, RUNNING, WAITING, DONE = "pending", "running", "waiting", "done"
ANSWERING = "answering"  # the approval deadline passed: the default answer is on its way


@workflow.defn(name=RUN_WORKFLOW)
class RunWorkflow:
    """See the module docstring."""

    @workflow.init
    def __init__(self, inp: RunInput) -> None:
        self._inp = inp
        self._phase = PENDING
        stream = inp.request.stream
        self._segment = stream.run_id if stream is not None else inp.run_id
        self._answers: list[ResumeRequest] = []
        self._cancel: CancelReason | None = None
        # Cancelled by Temporal itself (the UI's Cancel): the workflow ends Canceled.
        self._cancelled_by_temporal = False
        self._interrupts: list[Any] = []
        # The step past which LangGraph's loop raises GraphRecursionError (kept across a
        # continue-as-new, which starts a new loop).
        self._stop: int | None = None
        # Read by the node activities' caller (tempograph.workflows.activity_calls.run_activity).
        self.outbox = Outbox()
        self.saver = WorkflowSaver(inp.thread_id, inp.start, inp.parts, run_id=self._segment)

    @workflow.update(name=RESUME)
    async def resume(self, request: ResumeRequest) -> RunState:
        """The human's answer to the pending interrupt(s), and the API run carrying it."""
        self._answers.append(request)
        return self.status()

    @resume.validator
    def _validate_resume(self, request: ResumeRequest) -> None:
        if self._phase != WAITING or self._answers or self._cancel is not None:
            raise ApplicationError(
                f"run {self._inp.run_id} is not waiting for input", type=ErrorType.NOT_WAITING
            )
        value = request.value
        pending = [i.get("id") for i in self._interrupts if isinstance(i, dict)]
        keyed = isinstance(value, dict) and bool(value) and all(map(is_interrupt_id, value))
        if keyed and not set(value) <= set(pending):
            unknown = sorted(set(value) - set(pending))
            raise ApplicationError(
                f"no pending interrupt has id {unknown}; pending: {pending}",
                type=ErrorType.INVALID_REQUEST,
            )
        if len(pending) > 1 and not keyed:
            raise ApplicationError(
                f"{len(pending)} interrupts are pending; answer with an object keyed by "
                f"interrupt id: {pending}",
                type=ErrorType.INVALID_REQUEST,
            )

    @workflow.signal(name=CANCEL_RUN)
    def cancel(self, reason: str = CancelReason.CANCEL) -> None:
        """Stop the running segment (``rollback`` also undoes it); a run waiting at an
        interrupt ends and gives the thread to the next run."""
        wanted = CancelReason(reason) if reason in set(CancelReason) else CancelReason.CANCEL
        if self._cancel is not CancelReason.ROLLBACK:
            self._cancel = wanted

    @property
    def stopping(self) -> bool:
        """Asked to stop: no node starts any more (read by ``run_activity``)."""
        return self._cancel is not None

    def should_continue_as_new(self) -> bool:
        """The run goes on in a new execution: no node starts (read by ``run_activity``)."""
        if self._inp.request.durability == "exit":
            return False  # its checkpoints are kept at its end only: nothing to go on from
        return continuation.suggested(self._stop, self.saver)

    @workflow.query(name=RUN_STATUS)
    def status(self) -> RunState:
        return RunState(self._phase, self._segment, list(self._interrupts))

    @workflow.run
    async def run(self, inp: RunInput) -> RunState:
        inline_executor(asyncio.get_running_loop())
        request = inp.request
        ids.set_floor(self.saver.head_id())
        graph = durable_graph(request.graph_id).workflow_graph.copy({"checkpointer": self.saver})
        self.outbox.begin(request.stream, opened=inp.continued)
        user_config = dict(request.config)
        configurable = {
            **user_config.get("configurable", {}),
            "thread_id": inp.thread_id,
            "run_id": self._segment,
            "graph_id": request.graph_id,
        }
        if request.assistant_id:
            configurable["assistant_id"] = request.assistant_id
        config = cast(RunnableConfig, {**user_config, "configurable": configurable})
        payload: Any = request.command if request.command is not None else request.input
        breakpoints: dict[str, Any] = {
            "interrupt_before": request.interrupt_before,
            "interrupt_after": request.interrupt_after,
        }
        # LangGraph's own durability for every segment of the run (histories recorded
        # before it existed pass none, as before).
        durability = {"durability": request.durability} if request.durability else {}
        if request.after_seconds > 0:
            try:
                await workflow.wait_condition(
                    lambda: self._cancel is not None, timeout=request.after_seconds
                )
            except TimeoutError:
                pass  # its time has come; a cancel meanwhile stops it in _invoke
            except asyncio.CancelledError:
                self._cancel, self._cancelled_by_temporal = CancelReason.CANCEL, True
        # The checkpoint the segment started from: a rollback returns the thread there.
        segment_start = (
            inp.segment_start or configurable.get("checkpoint_id") or self.saver.head_id()
        )
        if self._cancel is not None:
            # Cancelled before it began (during its delay): it leaves no trace, not even
            # its input.
            return await self._cancelled(graph, config, segment_start)
        carried_stop = inp.stop  # continued as new: where the first loop would stop
        while True:
            self._phase = RUNNING
            self._stop, limit, user_limit = continuation.loop_start(
                graph, self.saver, config, carried_stop
            )
            carried_stop = None
            loop_config = self.outbox.streaming(config, durable_graph(request.graph_id))
            if limit != user_limit:  # else the user's (or LangGraph's default), untouched
                loop_config = {**loop_config, "recursion_limit": limit}
            try:
                state = await self._invoke(
                    graph, payload, loop_config, request.context, {**breakpoints, **durability}
                )
            except asyncio.CancelledError:
                return await self._cancelled(graph, config, segment_start)
            except HistoryFull:
                if self._cancel is not None:
                    return await self._cancelled(graph, config, segment_start)
                await continuation.continue_as_new(
                    inp, self.saver, self.outbox, self._stop, breakpoints, segment_start
                )
            except GraphRecursionError as err:
                err = continuation.as_set(err, limit, user_limit)
                return await self._fail(graph, config, as_failure(err))
            except Exception as err:  # noqa: BLE001 - every failure fails the run, visibly
                return await self._fail(graph, config, as_failure(err))
            if not state.next:
                break
            # Stopped at interrupt() or at a static breakpoint (interrupt_before/after).
            self._phase = WAITING
            self._interrupts = to_jsonable(list(state.interrupts))
            outcome = await self._finish(SegmentEnd.SUCCESS, state, final=False)
            if outcome.resume is not None:
                self._answers.append(outcome.resume)  # queued while the segment ran
            elif outcome.release:
                self._cancel = CancelReason.SUPERSEDE
            try:
                await self._wait_for_answer(request.graph_id, state)
            except asyncio.CancelledError:
                await self._release()
                raise
            if not self._answers:
                # Superseded by a new run on the thread, which starts from these checkpoints.
                await self._release()
                return self.status()
            answer = self._answers.pop(0)
            segment_start = state.config["configurable"].get("checkpoint_id")
            if answer.stream is not None:
                self._segment = answer.stream.run_id
            self.saver.run_id = self._segment
            self.outbox.begin(answer.stream)
            # A breakpoint is continued with no input; an interrupt() gets the answer.
            payload = (
                Command(resume=answer.value, update=answer.update, goto=answer.goto)
                if state.interrupts
                else None
            )
            breakpoints = {}
            config = _latest(config, run_id=self._segment)
            self._interrupts = []
            self._show_status("running")
        self._phase = DONE
        await self._finish(SegmentEnd.SUCCESS, state, final=True)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    async def _invoke(
        self, graph: Any, payload: Any, config: Any, context: Any, options: dict[str, Any]
    ) -> Any:
        """One pass of LangGraph's loop (``options``: its breakpoints and durability); a
        cancel request stops it (CancelledError)."""

        async def invoke() -> Any:
            # LangSmith tracing from workflow code would post again on every replay.
            with tracing_context(enabled=False):
                await graph.ainvoke(payload, config, context=context, **options)
            # The thread's newest state: without the checkpoint a fork started from.
            return await graph.aget_state(_latest(config))

        task = asyncio.ensure_future(invoke())
        try:
            await workflow.wait_condition(lambda: task.done() or self._cancel is not None)
        except asyncio.CancelledError:  # the workflow itself was cancelled
            self._cancel, self._cancelled_by_temporal = CancelReason.CANCEL, True
        if not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - a cancel's fallout
                pass
            raise asyncio.CancelledError
        if self._cancel is not None and task.exception() is not None:
            # The cancelled node's activity failed with the cancellation: not an error.
            raise asyncio.CancelledError
        return task.result()

    async def _finish(
        self,
        status: SegmentEnd,
        state: Any,
        *,
        final: bool,
        error: dict[str, str] | None = None,
    ) -> FinishOutcome:
        """Write the segment's remaining events, checkpoints and end to Postgres."""
        values, interrupts, output = segment_output(state, error)
        if error is not None:
            self.outbox.error(error)
        events, persist, table = continuation.unwritten(self.outbox, self.saver)
        info = workflow.info()
        spec = self.outbox.spec
        end = RunEnd(
            run_id=spec.run_id if spec is not None else self._segment,
            thread_id=self._inp.thread_id,
            workflow_id=info.workflow_id,
            status=status,
            final=final,
            # Waiting for input: stopped at an interrupt or a breakpoint, or rolled back
            # to an interrupt (a failed or cancelled run also has nodes left to run, but
            # waits for nobody).
            waiting=state is not None
            and (
                (status is SegmentEnd.SUCCESS and bool(state.next))
                or (status is SegmentEnd.ROLLBACK and bool(state.interrupts))
            ),
            output=encode(output, table, memo=True) if output is not None else None,
            values=encode(values, table, memo=True) if values is not None else None,
            interrupts=interrupts,
            error=error,
            events=events,
            persist=persist,
            execution=info.run_id,
            parts=table,
        )
        table.drop_stored(self.saver.stored_parts)
        # A local activity: no extra workflow task. Writing the end again (a worker died
        # before the task completed) is harmless: rows and events are keyed.
        outcome: FinishOutcome = await workflow.execute_local_activity(
            FINISH_RUN_ACTIVITY,
            end,
            result_type=FinishOutcome,
            start_to_close_timeout=timedelta(seconds=60),
            summary=f"run {end.run_id} {status}",
        )
        self.saver.confirm(end.persist)
        self._show_status("waiting" if end.waiting else status.value)
        if spec is not None and spec.webhook:
            await start_delivery(spec.webhook, self._inp.thread_id, end)
        self.outbox.begin(None)
        return outcome

    async def _wait_for_answer(self, graph_id: str, state: Any) -> None:
        """Until a human answers (or a cancel). A node whose policy sets an approval
        deadline gets its default answer when the deadline passes (a durable timer): the
        run resumes with it as with command.resume, in an API run of its own."""
        found = deadline(durable_graph(graph_id), state)
        waiting = lambda: bool(self._answers) or bool(self._cancel)  # noqa: E731
        if found is None:
            await workflow.wait_condition(waiting)
            return
        seconds, default = found
        try:
            await workflow.wait_condition(waiting, timeout=seconds)
            return
        except TimeoutError:
            pass
        self._phase = ANSWERING  # a human's answer from now on is refused: this one counts
        answer = await default_answer(
            self._inp.thread_id, self._segment, self._interrupts, seconds, default
        )
        if answer is not None:
            self._answers.append(answer)
            return
        self._phase = WAITING  # a run came first after all: wait for the humans
        await workflow.wait_condition(waiting)

    def _show_status(self, status: str) -> None:
        """The RunStatus search attribute (histories recorded before it keep replaying)."""
        if workflow.patched(RUN_STATUS_PATCH):
            workflow.upsert_search_attributes([STATUS_ATTRIBUTE.value_set(status)])

    async def _release(self) -> None:
        """End without a segment to report: write what is unwritten, free the thread."""
        persisted = self.saver.batch()
        table = persisted[1] if persisted is not None else PartTable()
        info = workflow.info()
        end = RunEnd(
            run_id=None,
            thread_id=self._inp.thread_id,
            workflow_id=info.workflow_id,
            status=SegmentEnd.SUCCESS,
            final=True,
            waiting=True,
            output=None,
            values=None,
            interrupts={},
            error=None,
            persist=persisted[0] if persisted is not None else None,
            execution=info.run_id,
            parts=table,
        )
        await workflow.execute_local_activity(
            FINISH_RUN_ACTIVITY,
            end,
            result_type=FinishOutcome,
            start_to_close_timeout=timedelta(seconds=60),
            summary="thread released",
        )
        self._phase = DONE

    async def _cancelled(self, graph: Any, config: Any, segment_start: str | None) -> RunState:
        self._phase = DONE
        if self._cancel is CancelReason.ROLLBACK:
            # The thread returns to where the segment started; its checkpoints go.
            self.saver.drop_unsent()
            before = None
            if segment_start is not None:
                conf = {**config["configurable"], "checkpoint_id": segment_start}
                before = await graph.aget_state({**config, "configurable": conf})
            await self._finish(SegmentEnd.ROLLBACK, before, final=True)
        else:
            state = await graph.aget_state(_latest(config))
            await self._finish(SegmentEnd.CANCELLED, state, final=True)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._cancelled_by_temporal:
            raise asyncio.CancelledError
        return self.status()

    async def _fail(self, graph: Any, config: Any, err: ApplicationError) -> RunState:
        self._phase = DONE
        try:
            state = await graph.aget_state(_latest(config))
        except Exception:  # noqa: BLE001 - report the run's own error, without its state
            state = None
        error = {"type": err.type or "Error", "message": err.message}
        if isinstance(err, NodeFailure):
            error = {"node": err.node, "type": err.error_type, "message": err.error_message}
        await self._finish(SegmentEnd.ERROR, state, final=True, error=error)
        await workflow.wait_condition(workflow.all_handlers_finished)
        raise err


def _latest(config: Any, run_id: str | None = None) -> Any:
    """``config`` pointing at the thread's newest checkpoint rather than a fork point."""
    configurable = {k: v for k, v in config["configurable"].items() if k != "checkpoint_id"}
    if run_id is not None:
        configurable["run_id"] = run_id
    return {**config, "configurable": configurable}
