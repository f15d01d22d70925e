"""Talking to threads: submit a run, resume it, wait for it, read state."""

from __future__ import annotations

from typing import Any

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
from temporal.converter import DATA_CONVERTER
from workflows.thread import THREAD_ID, ThreadCarry, ThreadWorkflow, WaitRun
from workflows.types import RESUME, WAIT_RUN, RunOutcome, RunRequest, RunTicket, ThreadState


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
        code = ErrorCode.NOT_WAITING if cause.type == "NotWaiting" else ErrorCode.INVALID_INPUT
        if cause.type == "UnknownGraph":
            code = ErrorCode.UNKNOWN_GRAPH
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

    async def submit(self, thread_id: str, request: RunRequest) -> RunTicket:
        """Start (or reuse) the thread and enqueue the run; validated before it is accepted."""
        start = WithStartWorkflowOperation(
            ThreadWorkflow.run,
            ThreadCarry(thread_id=thread_id, runs_per_execution=self._runs_per_execution),
            id=thread_workflow_id(thread_id),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            task_queue=self._task_queue,
            static_summary=f"thread {thread_id}",
            search_attributes=TypedSearchAttributes([SearchAttributePair(THREAD_ID, thread_id)]),
        )
        try:
            ticket: RunTicket = await self._client.execute_update_with_start_workflow(
                ThreadWorkflow.submit_run, request, start_workflow_operation=start
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
