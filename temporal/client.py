"""Talking to threads: submit a run, resume it, wait for it, read state."""

from __future__ import annotations

from typing import Any, cast

from tempograph.temporal.converter import DATA_CONVERTER
from tempograph.workflows.thread import ThreadCarry, ThreadWorkflow, WaitRun
from tempograph.workflows.types import (
    API_HISTORY,
    API_STATE,
    CANCEL_RUN,
    EXPORT_CHECKPOINTS,
    RESUME,
    SUBMIT_RUN,
    THREAD_ID,
    UPDATE_STATE,
    WAIT_RUN,
    CancelRequest,
    HistoryQuery,
    RunOutcome,
    RunRequest,
    RunTicket,
    StateUpdate,
    ThreadState,
)
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from tempograph.errors import ErrorCode, InvalidRequestError, TempographError
from tempograph.settings import Settings


async def connect(settings: Settings) -> Client:
    """A client for ``settings.temporal_address`` with Tempograph's data converter."""
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.namespace,
            data_converter=DATA_CONVERTER,
        )
    except RuntimeError as err:
        raise TempographError(
            f"cannot reach Temporal at {settings.temporal_address}: {err}",
            code=ErrorCode.SERVER_UNAVAILABLE,
        ) from None


def thread_workflow_id(thread_id: str) -> str:
    return f"thread-{thread_id}"


def _request_error(err: WorkflowUpdateFailedError) -> TempographError:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        code = {
            "NotWaiting": ErrorCode.NOT_WAITING,
            "Busy": ErrorCode.NOT_WAITING,
            "NotRunning": ErrorCode.NOT_FOUND,
            "UnknownCheckpoint": ErrorCode.NOT_FOUND,
            "UnknownGraph": ErrorCode.UNKNOWN_GRAPH,
        }.get(cause.type or "", ErrorCode.INVALID_INPUT)
        return InvalidRequestError(cause.message, code=code)
    return TempographError(str(cause or err))


def _rpc_error(err: RPCError, thread_id: str | None = None) -> TempographError:
    if err.status == RPCStatusCode.NOT_FOUND and thread_id is not None:
        return InvalidRequestError(f"thread {thread_id!r} does not exist")
    if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return TempographError(
            f"Temporal is unavailable: {err.message}", code=ErrorCode.SERVER_UNAVAILABLE
        )
    return TempographError(f"Temporal refused the request: {err.message}")


class Threads:
    """Client-side operations on thread workflows."""

    def __init__(self, client: Client, task_queue: str, runs_per_execution: int = 100) -> None:
        self._client = client
        self._task_queue = task_queue
        self._runs_per_execution = runs_per_execution

    def _start(self, thread_id: str) -> WithStartWorkflowOperation[Any, Any]:
        """Start the thread's workflow unless it runs already (for Update-with-Start)."""
        return WithStartWorkflowOperation(
            ThreadWorkflow.run,
            ThreadCarry(thread_id=thread_id, runs_per_execution=self._runs_per_execution),
            id=thread_workflow_id(thread_id),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            task_queue=self._task_queue,
            static_summary=f"thread {thread_id}",
            search_attributes=TypedSearchAttributes([SearchAttributePair(THREAD_ID, thread_id)]),
        )

    async def submit(self, thread_id: str, request: RunRequest) -> RunTicket:
        """Start (or reuse) the thread and enqueue the run; validated before it is accepted."""
        start = self._start(thread_id)
        try:
            ticket: RunTicket = await self._client.execute_update_with_start_workflow(
                SUBMIT_RUN, request, start_workflow_operation=start, result_type=RunTicket
            )
        except WorkflowUpdateFailedError as err:
            raise _request_error(err) from None
        except RPCError as err:
            raise _rpc_error(err) from None
        return ticket

    async def resume(self, thread_id: str, value: Any) -> WaitRun:
        handle = self._client.get_workflow_handle(thread_workflow_id(thread_id))
        try:
            result: WaitRun = await handle.execute_update(RESUME, value, result_type=WaitRun)
        except WorkflowUpdateFailedError as err:
            raise _request_error(err) from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise InvalidRequestError(
                    f"thread {thread_id!r} does not exist", code=ErrorCode.NOT_WAITING
                ) from None
            raise
        return result

    async def wait(self, thread_id: str, run_id: str, resumes: int = 0) -> RunOutcome:
        handle = self._client.get_workflow_handle(thread_workflow_id(thread_id))
        try:
            outcome: RunOutcome = await handle.execute_update(
                WAIT_RUN, WaitRun(run_id=run_id, resumes=resumes), result_type=RunOutcome
            )
        except WorkflowUpdateFailedError as err:
            raise _request_error(err) from None
        except RPCError as err:
            raise _rpc_error(err, thread_id) from None
        return outcome

    async def state(self, thread_id: str, history: bool = False) -> ThreadState:
        handle = self._client.get_workflow_handle(thread_workflow_id(thread_id))
        try:
            state: ThreadState = await handle.query(ThreadWorkflow.state, history)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise InvalidRequestError(f"thread {thread_id!r} does not exist") from None
            raise
        if state.checkpoint_id is None and state.status == "idle":
            # Only a rejected first submission leaves a thread without any checkpoint.
            raise InvalidRequestError(f"thread {thread_id!r} does not exist")
        return state

    async def cancel(self, thread_id: str, run_id: str, rollback: bool = False) -> str:
        """Cancel an API run: ``dequeued`` (it never started) or ``cancelling``."""
        handle = self._client.get_workflow_handle(thread_workflow_id(thread_id))
        try:
            result: str = await handle.execute_update(
                CANCEL_RUN, CancelRequest(run_id, rollback), result_type=str
            )
        except WorkflowUpdateFailedError as err:
            raise _request_error(err) from None
        except RPCError as err:
            raise _rpc_error(err, thread_id) from None
        return result

    async def api_state(self, thread_id: str, checkpoint_id: str | None) -> dict[str, Any] | None:
        """LangGraph Server's ThreadState; None when the thread has no such checkpoint."""
        handle = self._client.get_workflow_handle(thread_workflow_id(thread_id))
        try:
            found: dict[str, Any] | None = await handle.query(
                API_STATE, checkpoint_id, result_type=cast(type, dict[str, Any] | None)
            )
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise _rpc_error(err, thread_id) from None
        return found

    async def api_history(self, thread_id: str, query: HistoryQuery) -> list[dict[str, Any]]:
        handle = self._client.get_workflow_handle(thread_workflow_id(thread_id))
        try:
            found: list[dict[str, Any]] = await handle.query(
                API_HISTORY, query, result_type=list[dict[str, Any]]
            )
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return []
            raise _rpc_error(err, thread_id) from None
        return found

    async def update_state(self, thread_id: str, update: StateUpdate) -> dict[str, Any]:
        """Apply a state update (starting the thread's workflow if it has none yet)."""
        start = self._start(thread_id)
        try:
            state: dict[str, Any] = await self._client.execute_update_with_start_workflow(
                UPDATE_STATE, update, start_workflow_operation=start, result_type=dict[str, Any]
            )
        except WorkflowUpdateFailedError as err:
            raise _request_error(err) from None
        except RPCError as err:
            raise _rpc_error(err) from None
        return state

    async def copy(self, source: str, target: str) -> bool:
        """Start thread ``target`` with ``source``'s checkpoints; False if ``source`` has none."""
        handle = self._client.get_workflow_handle(thread_workflow_id(source))
        try:
            carry: ThreadCarry = await handle.query(EXPORT_CHECKPOINTS, result_type=ThreadCarry)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise _rpc_error(err, source) from None
        carry.thread_id = target
        carry.runs_per_execution = self._runs_per_execution
        await self._client.start_workflow(
            ThreadWorkflow.run,
            carry,
            id=thread_workflow_id(target),
            task_queue=self._task_queue,
            static_summary=f"thread {target} (copy of {source})",
            search_attributes=TypedSearchAttributes([SearchAttributePair(THREAD_ID, target)]),
        )
        return True

    async def delete(self, thread_id: str) -> None:
        """Stop the thread's workflow (its runs are its children and stop with it)."""
        handle = self._client.get_workflow_handle(thread_workflow_id(thread_id))
        try:
            await handle.terminate("thread deleted")
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise _rpc_error(err, thread_id) from None
