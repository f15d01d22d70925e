"""ThreadWorkflow: a LangGraph thread. Serialises its runs; holds its checkpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import (
    ApplicationError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
)

with workflow.unsafe.imports_passed_through():
    from tempograph.workflows import state as thread_state
    from tempograph.workflows.graphs import durable_graph
    from tempograph.workflows.saver import ThreadCheckpoints
    from tempograph.workflows.serde import serializer
    from tempograph.workflows.types import (
        API_HISTORY,
        API_STATE,
        CANCEL_RUN,
        CANCELLED,
        ERROR,
        EXPORT_CHECKPOINTS,
        GRAPH_ID,
        INTERRUPTED,
        PENDING,
        RESUME,
        RUN_PAUSED,
        RUN_WORKFLOW,
        RUNNING,
        SUBMIT_RUN,
        SUCCESS,
        THREAD_ID,
        THREAD_STATE,
        THREAD_WORKFLOW,
        UPDATE_STATE,
        WAIT_RUN,
        CancelRequest,
        HistoryQuery,
        ResumeRequest,
        RunInput,
        RunOutcome,
        RunRequest,
        RunTicket,
        StateUpdate,
        ThreadState,
    )
    from tempograph.workflows.validation import is_interrupt_id, validate_request


# Outcomes kept for `wait` after a run has ended.
_KEEP_OUTCOMES = 100
# Root checkpoints a thread keeps (its history). The thread's state travels in signals and
# in continue-as-new input, which Temporal caps at 2 MB a payload.
KEEP_CHECKPOINTS = 100
# Outcomes that keep their final values (for `wait` on a run that just ended).
_KEEP_OUTCOME_VALUES = 10
# Continue-as-new input must stay under Temporal's 2 MB payload limit.
_MAX_CARRY_BYTES = 1_500_000
# How long a thread with no checkpoint (its first run was rejected) waits for a run.
_EMPTY_THREAD_IDLE = timedelta(seconds=10)


@dataclass
class ThreadCarry:
    """What a thread carries across continue-as-new."""

    thread_id: str
    checkpoints: ThreadCheckpoints = field(default_factory=ThreadCheckpoints)
    graph_id: str | None = None
    queue: list[RunRequest] = field(default_factory=list)
    outcomes: dict[str, RunOutcome] = field(default_factory=dict)
    # Continue-as-new after this many runs (or sooner, when Temporal suggests it).
    runs_per_execution: int = 100


@dataclass
class WaitRun:
    run_id: str
    resumes: int = 0


@workflow.defn(name=THREAD_WORKFLOW)
class ThreadWorkflow:
    """One execution per thread (workflow id ``thread-<thread_id>``)."""

    @workflow.init
    def __init__(self, carry: ThreadCarry) -> None:
        self._thread_id = carry.thread_id
        self._checkpoints = carry.checkpoints
        self._graph_id = carry.graph_id
        self._queue = list(carry.queue)
        self._outcomes = dict(carry.outcomes)
        self._current: str | None = None
        # The API run the current child is serving (it changes on each resume).
        self._segment: str | None = None
        # The thread's checkpoints when that segment started, and whether to return to them.
        self._before_segment = self._checkpoints
        self._rollback = False
        self._runs_per_execution = carry.runs_per_execution
        self._runs_here = 0

    # -- client-facing handlers ------------------------------------------------------

    @workflow.update(name=SUBMIT_RUN)
    async def submit_run(self, request: RunRequest) -> RunTicket:
        run_id = request.run_id or str(workflow.uuid4())
        request.run_id = run_id
        dropped: list[str] = []
        if request.interrupt_others or request.rollback_others:
            for queued in self._queue:
                dropped.append(queued.run_id or "")
                self._outcomes[queued.run_id or ""].status = CANCELLED
            self._queue.clear()
        self._queue.append(request)
        self._outcomes[run_id] = RunOutcome(run_id=run_id, status=PENDING)
        current = self._outcomes.get(self._current or "")
        # A run waiting at an interrupt is superseded by any new run (LangGraph starts the
        # new input from the thread's checkpoint); a running one only on request.
        if current is not None and current.status == INTERRUPTED:
            await self._cancel_current()
        elif current is not None and (request.interrupt_others or request.rollback_others):
            await self._cancel_current(rollback=request.rollback_others)
        return RunTicket(run_id=run_id, thread_id=self._thread_id, cancelled=dropped)

    @submit_run.validator
    def _validate_submit(self, request: RunRequest) -> None:
        validate_request(durable_graph(request.graph_id), request)
        owner = self._graph_id or (self._queue[0].graph_id if self._queue else None)
        if owner is not None and request.graph_id != owner:
            raise ApplicationError(
                f"thread {self._thread_id!r} belongs to graph {owner!r}, not {request.graph_id!r}",
                type="InvalidRequest",
            )
        self._known_checkpoint(request.config.get("configurable", {}).get("checkpoint_id"))
        if request.run_id is not None and request.run_id in self._outcomes:
            raise ApplicationError(f"run {request.run_id!r} exists", type="InvalidRequest")

    @workflow.update(name=RESUME)
    async def resume(self, value: Any) -> WaitRun:
        assert self._current is not None
        outcome = self._outcomes[self._current]
        outcome.status = RUNNING
        if isinstance(value, ResumeRequest) and value.stream is not None:
            self._segment = value.stream.run_id
        self._before_segment = self._checkpoints
        run = workflow.get_external_workflow_handle(self._current)
        await run.signal(RESUME, value)
        return WaitRun(run_id=self._current, resumes=outcome.resumes + 1)

    @resume.validator
    def _validate_resume(self, value: Any) -> None:
        if isinstance(value, ResumeRequest):
            value = value.value
        current = self._outcomes.get(self._current or "")
        if current is None or current.status != INTERRUPTED:
            raise ApplicationError(
                f"thread {self._thread_id!r} is not waiting for input", type="NotWaiting"
            )
        pending = [i.get("id") for i in current.interrupts if isinstance(i, dict)]
        keyed = isinstance(value, dict) and bool(value) and all(map(is_interrupt_id, value))
        if keyed and not set(value) <= set(pending):
            unknown = sorted(set(value) - set(pending))
            raise ApplicationError(
                f"no pending interrupt has id {unknown}; pending: {pending}", type="InvalidRequest"
            )
        if len(pending) > 1 and not keyed:
            raise ApplicationError(
                f"{len(pending)} interrupts are pending; answer with an object keyed by "
                f"interrupt id: {pending}",
                type="InvalidRequest",
            )

    @workflow.update(name=CANCEL_RUN)
    async def cancel_run(self, request: CancelRequest) -> str:
        """Cancel an API run: ``dequeued`` if it had not started, else ``cancelling``."""
        for queued in self._queue:
            if queued.run_id == request.run_id:
                self._queue.remove(queued)
                self._outcomes[request.run_id].status = CANCELLED
                return "dequeued"
        await self._cancel_current(rollback=request.rollback)
        return "cancelling"

    @cancel_run.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        if any(q.run_id == request.run_id for q in self._queue):
            return
        current = self._outcomes.get(self._current or "")
        if current is None or current.status != RUNNING or self._segment != request.run_id:
            raise ApplicationError(
                f"run {request.run_id!r} is not pending or running", type="NotRunning"
            )

    async def _cancel_current(self, rollback: bool = False) -> None:
        if self._current is not None:
            self._rollback = self._rollback or rollback
            run = workflow.get_external_workflow_handle(self._current)
            await run.signal(CANCEL_RUN, "rollback" if rollback else "cancel")

    @workflow.update(name=UPDATE_STATE)
    async def update_state(self, request: StateUpdate) -> dict[str, Any]:
        """LangGraph's ``update_state`` on the thread's checkpoints; the new state."""
        graph_id = request.graph_id or self._graph_id
        assert graph_id is not None
        self._graph_id = graph_id
        new = await thread_state.update(self._thread_id, graph_id, self._checkpoints, request)
        self._checkpoints = self._checkpoints.merged(new).trimmed(KEEP_CHECKPOINTS)
        found = thread_state.api_state(self._thread_id, graph_id, self._checkpoints, None)
        assert found is not None
        return found

    @update_state.validator
    def _validate_update_state(self, request: StateUpdate) -> None:
        if self._outcomes.get(self._current or "", None) is not None and self._outcomes[
            self._current or ""
        ].status in (PENDING, RUNNING):
            raise ApplicationError(f"thread {self._thread_id!r} has a run in flight", type="Busy")
        if self._queue:
            raise ApplicationError(f"thread {self._thread_id!r} has runs queued", type="Busy")
        if (request.graph_id or self._graph_id) is None:
            raise ApplicationError(
                f"thread {self._thread_id!r} has no graph yet", type="InvalidRequest"
            )
        self._known_checkpoint(request.checkpoint_id)

    @workflow.query(name=API_STATE)
    def api_state(self, checkpoint_id: str | None = None) -> dict[str, Any] | None:
        """The thread's state (or that at ``checkpoint_id``) as LangGraph Server shows it."""
        if self._graph_id is None:
            return None
        return thread_state.api_state(
            self._thread_id, self._graph_id, self._checkpoints, checkpoint_id
        )

    @workflow.query(name=API_HISTORY)
    def api_history(self, query: HistoryQuery) -> list[dict[str, Any]]:
        if self._graph_id is None:
            return []
        return thread_state.api_history(self._thread_id, self._graph_id, self._checkpoints, query)

    @workflow.query(name=EXPORT_CHECKPOINTS)
    def export_checkpoints(self) -> ThreadCarry:
        """What a copy of this thread starts from."""
        return ThreadCarry(
            thread_id=self._thread_id, checkpoints=self._checkpoints, graph_id=self._graph_id
        )

    def _known_checkpoint(self, checkpoint_id: str | None) -> None:
        if checkpoint_id is not None and not any(
            c.checkpoint_id == checkpoint_id and c.namespace == ""
            for c in self._checkpoints.checkpoints
        ):
            raise ApplicationError(
                f"thread {self._thread_id!r} has no checkpoint {checkpoint_id!r}",
                type="UnknownCheckpoint",
            )

    @workflow.update(name=WAIT_RUN)
    async def wait(self, request: WaitRun) -> RunOutcome:
        def settled() -> bool:
            outcome = self._outcomes.get(request.run_id)
            return (
                outcome is None
                or outcome.status in (SUCCESS, ERROR, CANCELLED)
                or (outcome.status == INTERRUPTED and outcome.resumes >= request.resumes)
            )

        await workflow.wait_condition(settled)
        outcome = self._outcomes.get(request.run_id)
        if outcome is None:
            raise ApplicationError(f"unknown run {request.run_id!r}", type="UnknownRun")
        return outcome

    @wait.validator
    def _validate_wait(self, request: WaitRun) -> None:
        if request.run_id not in self._outcomes:
            raise ApplicationError(f"unknown run {request.run_id!r}", type="UnknownRun")

    @workflow.query(name=THREAD_STATE)
    def state(self, history: bool = False) -> ThreadState:
        current = self._outcomes.get(self._current or "")
        status = "idle"
        if current is not None:
            status = {INTERRUPTED: "interrupted", ERROR: "error"}.get(current.status, "busy")
            if current.status == CANCELLED:
                status = "idle"
        elif self._queue:
            status = "busy"
        elif any(o.status == ERROR for o in list(self._outcomes.values())[-1:]):
            status = "error"
        return thread_state.describe(
            self._thread_id, status, self._graph_id, self._checkpoints, self._current, history
        )

    @workflow.signal(name=RUN_PAUSED)
    def run_paused(self, outcome: RunOutcome) -> None:
        """A child run reached an interrupt or failed: keep its checkpoints and status."""
        if outcome.status == CANCELLED and self._rollback:
            # Rolled back: the thread is as it was when the segment started. This happens
            # before the run's end is published, so the API never shows the undone state.
            outcome.checkpoints = None
            self._checkpoints = self._before_segment
        if outcome.checkpoints is not None:
            self._checkpoints = self._checkpoints.merged(outcome.checkpoints).trimmed(
                KEEP_CHECKPOINTS
            )
            outcome.checkpoints = None
        self._outcomes[outcome.run_id] = outcome

    # -- the run loop ---------------------------------------------------------------

    @workflow.run
    async def run(self, carry: ThreadCarry) -> None:
        while True:
            # A thread is started by its first run's submission; when that was rejected
            # there is nothing to keep, so the execution ends instead of idling.
            idle = timedelta(days=7) if self._checkpoints.checkpoints else _EMPTY_THREAD_IDLE
            try:
                await workflow.wait_condition(lambda: bool(self._queue), timeout=idle)
            except TimeoutError:
                if not self._checkpoints.checkpoints and not self._queue:
                    return
                continue
            request = self._queue.pop(0)
            await self._execute(request)
            self._runs_here += 1
            self._trim_outcomes()
            if self._should_continue_as_new():
                # Handlers still running (clients waiting on a run) must finish first; a
                # run submitted meanwhile is served here and the move waits for later.
                await workflow.wait_condition(
                    lambda: workflow.all_handlers_finished() or bool(self._queue)
                )
                if not self._queue:
                    workflow.continue_as_new(self._carry())

    async def _execute(self, request: RunRequest) -> None:
        run_id = request.run_id or ""
        self._current = run_id
        self._segment = request.stream.run_id if request.stream is not None else run_id
        self._before_segment = self._checkpoints
        self._rollback = False
        self._graph_id = request.graph_id
        self._outcomes[run_id] = RunOutcome(run_id=run_id, status=RUNNING)
        info = workflow.info()
        try:
            outcome: RunOutcome = await workflow.execute_child_workflow(
                RUN_WORKFLOW,
                RunInput(
                    thread_id=self._thread_id,
                    run_id=run_id,
                    request=request,
                    # A run from an older checkpoint (a fork) needs the history.
                    checkpoints=self._checkpoints
                    if request.config.get("configurable", {}).get("checkpoint_id")
                    else self._checkpoints.head(),
                    parent_workflow_id=info.workflow_id,
                ),
                id=run_id,
                task_queue=info.task_queue,
                result_type=RunOutcome,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(THREAD_ID, self._thread_id),
                        SearchAttributePair(GRAPH_ID, request.graph_id),
                    ]
                ),
                static_summary=f"{request.graph_id} on thread {self._thread_id}",
            )
        except WorkflowAlreadyStartedError:
            self._outcomes[run_id] = RunOutcome(
                run_id=run_id,
                status=ERROR,
                error={"type": "InvalidRequest", "message": f"run id {run_id!r} is taken"},
            )
        except ChildWorkflowError as err:
            known = self._outcomes.get(run_id)
            if known is None or known.status != ERROR:
                cause = err.cause
                message = getattr(cause, "message", None) or str(err)
                self._outcomes[run_id] = RunOutcome(
                    run_id=run_id,
                    status=ERROR,
                    error={"type": "RunFailed", "message": message},
                    resumes=known.resumes if known is not None else 0,
                )
        else:
            if outcome.checkpoints is not None:
                self._checkpoints = self._checkpoints.merged(outcome.checkpoints).trimmed(
                    KEEP_CHECKPOINTS
                )
                outcome.checkpoints = None
            self._outcomes[run_id] = outcome
        finally:
            if self._rollback and self._outcomes[run_id].status == CANCELLED:
                self._checkpoints = self._before_segment
            self._current = None
            self._segment = None
            self._rollback = False

    def _should_continue_as_new(self) -> bool:
        if self._queue:
            return False
        limit = self._runs_per_execution
        return workflow.info().is_continue_as_new_suggested() or 0 < limit <= self._runs_here

    def _trim_outcomes(self) -> None:
        while len(self._outcomes) > _KEEP_OUTCOMES:
            oldest = next(iter(self._outcomes))
            if self._outcomes[oldest].status in (PENDING, RUNNING):
                break
            del self._outcomes[oldest]
        # Older runs keep their status and error; their final values live in the
        # checkpoints, and carrying them would only grow the thread.
        for outcome in list(self._outcomes.values())[:-_KEEP_OUTCOME_VALUES]:
            outcome.values = None

    def _carry(self) -> ThreadCarry:
        """What the next execution starts from, shrunk until it fits one payload."""
        keep = KEEP_CHECKPOINTS
        while True:
            carry = ThreadCarry(
                thread_id=self._thread_id,
                checkpoints=self._checkpoints.trimmed(keep),
                graph_id=self._graph_id,
                outcomes=self._outcomes,
                runs_per_execution=self._runs_per_execution,
            )
            if keep == 1 or len(serializer().dumps_typed(carry)[1]) <= _MAX_CARRY_BYTES:
                return carry
            keep //= 2
