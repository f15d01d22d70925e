"""Creating, resuming and cancelling runs: what the run routes call.

A route parses the request and shapes the answer; everything between is here: the
assistant and thread the run belongs to, the checks a bad request fails, the run's row
and its place on the thread (:func:`tempograph.runs.admit`), and what Temporal is asked
to do about it (start its workflow, resume the one waiting, or stop the one running).
If Temporal refuses, the row is withdrawn, so nothing half-made is left behind.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from uuid import UUID, uuid4

from fastapi import HTTPException
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from tempograph.api import audit, auth
from tempograph.api.auth import authorize, strip_user_keys
from tempograph.api.auth_filters import matches
from tempograph.api.models import RunCreate
from tempograph.api.services.checks import assistant, check_body, check_carriable, check_input
from tempograph.api.services.closed import holder_closed, release_vanished, unavailable
from tempograph.api.state import AppState
from tempograph.api.storage.threads import ThreadStore
from tempograph.errors import ErrorCode, InvalidRequestError, TempographError
from tempograph.metrics import RUNS_STARTED
from tempograph.runs import (
    Admission,
    NewRun,
    NotWaiting,
    QuotaExceeded,
    ThreadBusy,
    admit,
    notify,
    settle,
    tenant_in_flight,
    withdraw,
)
from tempograph.starter import command_from
from tempograph.telemetry import traceparent
from tempograph.webhooks import WebhookRefused, check_url
from tempograph.workflows.types import (
    CANCEL_RUN,
    RESUME,
    CancelReason,
    ErrorType,
    ResumeRequest,
    RunRequest,
    RunStatus,
    StreamSpec,
)

logger = logging.getLogger(__name__)

_RETRY_AFTER_SECONDS = 2
_RESERVED_METADATA = ("thread_id", "assistant_id", "run_id", "cron_id")


async def create_run(
    state: AppState,
    thread_id: UUID,
    body: RunCreate,
    idempotency_key: str | None,
    *,
    temporary: bool = False,
) -> dict[str, Any]:
    """Record the run and put it on its thread: started, queued, or the answer to the
    interrupt the thread waits at. Returns the run."""
    check_body(body)
    asked: dict[str, Any] = {
        "thread_id": None if temporary else thread_id,
        "assistant_id": body.assistant_id,
        "run_id": None,
        "status": "pending",
        "metadata": dict(body.metadata),
        "prevent_insert_if_inflight": True,
        "multitask_strategy": body.multitask_strategy,
        "if_not_exists": body.if_not_exists,
        "after_seconds": body.after_seconds,
        # What the request set (LangGraph passes the run's kwargs): an approver's may hold
        # nothing but the answer (tempograph.api.builtin_auth.required_role).
        "kwargs": body.model_dump(exclude_unset=True, exclude_none=True),
    }
    filters = await authorize("threads", "create_run", asked)
    if body.webhook is not None:
        try:
            await check_url(body.webhook, allow_private=state.webhook_allow_private)
        except WebhookRefused as err:
            raise HTTPException(422, str(err)) from None
    found = await assistant(state, body.assistant_id)
    graph_id = found["graph_id"]
    pool = await state.database.pool()
    config = {**found["config"], **body.config}
    configurable = strip_user_keys(
        {**found["config"].get("configurable", {}), **config.get("configurable", {})}
    )
    caller = auth.current()
    if caller is not None:
        configurable.update(caller.configurable())
    if body.checkpoint is not None and body.checkpoint.get("checkpoint_id"):
        configurable["checkpoint_id"] = str(body.checkpoint["checkpoint_id"])
    if body.checkpoint_id is not None:
        configurable["checkpoint_id"] = str(body.checkpoint_id)
    config["configurable"] = configurable
    context = {**found["context"], **body.context} or None
    check_input(state, graph_id, body, config)
    check_carriable(body, config, context)
    metadata = {k: v for k, v in asked["metadata"].items() if k not in _RESERVED_METADATA}
    threads = ThreadStore(pool, state.values)
    owner = auth.tenant()
    if owner is not None and state.tenant_max_runs:
        async with pool.acquire() as conn:
            if await tenant_in_flight(conn, owner) >= state.tenant_max_runs:
                raise _over_quota(state.tenant_max_runs)  # before anything is stored
    if configurable.get("checkpoint_id") and not await _has_checkpoint(
        state, thread_id, configurable["checkpoint_id"]
    ):
        if temporary:
            raise HTTPException(
                404,
                f"A stateless run has no checkpoint {configurable['checkpoint_id']} to start"
                " from: send a run that forks a checkpoint to its thread's /threads/{id}/runs",
            )
        raise HTTPException(
            404, f"Thread {thread_id} has no checkpoint {configurable['checkpoint_id']}"
        )
    created_thread = False
    if body.if_not_exists == "create":
        # Created only now: a request refused above leaves no thread behind. (A thread
        # that does not exist otherwise is a 404 from admit.) It carries the run's
        # metadata, as in LangGraph Server: an owner an auth handler stamped on the run.
        created_thread = (
            await threads.create(thread_id, {**metadata, "graph_id": graph_id}, tenant=owner)
            is not None
        )
    if filters:
        existing = await threads.get(thread_id, values=False)
        if existing is not None and not matches(existing["metadata"], filters):
            raise HTTPException(404, f"Thread {thread_id} not found")
    metadata.update({"graph_id": graph_id, "assistant_id": str(found["assistant_id"])})
    # checkpoint_during=false is the older spelling of durability="exit".
    durability = body.durability or ("exit" if body.checkpoint_during is False else None)
    run_id = uuid4()
    new = NewRun(
        traceparent=traceparent(),
        run_id=run_id,
        thread_id=thread_id,
        tenant_id=owner,
        tenant_max_runs=state.tenant_max_runs,
        created_by=caller.user.get("identity") if caller is not None else None,
        assistant_id=UUID(str(found["assistant_id"])),
        metadata=metadata,
        kwargs={
            "input": body.input,
            "command": body.command.model_dump() if body.command is not None else None,
            "config": config,
            "context": context or {},
            "stream_mode": body.modes(),
            "interrupt_before": body.interrupt_before,
            "interrupt_after": body.interrupt_after,
            "webhook": body.webhook,
            "feedback_keys": body.feedback_keys,
            "temporary": temporary,
            "subgraphs": body.stream_subgraphs,
            "resumable": True,
            "after_seconds": body.after_seconds or 0,
            "checkpoint_during": body.checkpoint_during
            if body.checkpoint_during is not None
            else True,
            "durability": durability or "async",
        },
        multitask_strategy=body.multitask_strategy,
        idempotency_key=idempotency_key,
        request=RunRequest(
            graph_id=graph_id,
            input=body.input,
            command=command_from(body.command.model_dump() if body.command else None),
            config=config,
            context=context,
            stream=StreamSpec(
                run_id=str(run_id),
                modes=body.modes(),
                subgraphs=body.stream_subgraphs,
                webhook=body.webhook,
            ),
            interrupt_before=body.interrupt_before,
            interrupt_after=body.interrupt_after,
            after_seconds=body.after_seconds or 0,
            assistant_id=str(found["assistant_id"]),
            durability=durability,
        ),
        resume=body.command is not None and body.command.resume is not None,
        thread_metadata={
            "graph_id": graph_id,
            "assistant_id": str(found["assistant_id"]),
            **(config.get("metadata") or {}),
        },
    )
    audit.note(resource_id=str(run_id), thread_id=str(thread_id))
    if new.resume and body.command is not None:
        # An approval decision: the interrupt it answers and the answer given.
        waiting = await threads.get(thread_id, auth.tenant(), values=False)
        audit.note(
            action="interrupts.answer",
            interrupts=(waiting or {}).get("interrupts"),
            answer=body.command.resume,
        )
    try:
        run = await _admit_and_start(state, new, temporary)
    except BaseException:
        if created_thread:
            await threads.delete(thread_id)  # refused (or lost a race): store nothing
        raise
    if created_thread and run["thread_id"] != str(thread_id):
        await threads.delete(thread_id)  # a stateless request repeated: the first run's
    return run


async def _admit_and_start(state: AppState, new: NewRun, temporary: bool) -> dict[str, Any]:
    """The run admitted on its thread and, when the thread is free, started."""
    thread_id = new.thread_id
    pool = await state.database.pool()
    for attempt in range(2):
        try:
            admission = await _admit(state, new)
        except _Busy as busy:
            if not attempt and await holder_closed(state, busy.holder):
                continue  # the thread was free after all
            raise
        if not admission.created:
            # The same idempotency key: the earlier run, not a second execution.
            if not temporary and admission.run["thread_id"] != str(thread_id):
                raise HTTPException(
                    409, "Idempotency-Key was already used for a run on another thread"
                )
            return admission.run
        try:
            await _act(state, admission, new)
            break
        except _HolderGone:
            # The run waiting at the interrupt had vanished (terminated): its thread is
            # free now, so the resume starts a run from the thread's checkpoint.
            async with pool.acquire() as conn, conn.transaction():
                await withdraw(conn, new.run_id, thread_id)
            if attempt:
                raise InvalidRequestError(
                    f"Thread {thread_id} is not waiting for input", code=ErrorCode.NOT_WAITING
                ) from None
        except (TempographError, HTTPException, asyncio.CancelledError):
            async with pool.acquire() as conn, conn.transaction():
                await withdraw(conn, new.run_id, thread_id)
            raise
    RUNS_STARTED.labels(new.request.graph_id).inc()
    return admission.run


async def start_stateless(
    state: AppState, body: RunCreate, idempotency_key: str | None
) -> tuple[UUID, dict[str, Any]]:
    """A stateless run: on a temporary thread of its own. Returns the thread and run."""
    if body.command is not None and body.command.resume is not None:
        raise HTTPException(400, "You must provide a thread_id when resuming.")
    thread_id = uuid4()
    body = body.model_copy(update={"if_not_exists": "create"})
    return thread_id, await create_run(state, thread_id, body, idempotency_key, temporary=True)


async def _has_checkpoint(state: AppState, thread_id: UUID, checkpoint_id: str) -> bool:
    store = await state.checkpoints()
    config: Any = {"configurable": {"thread_id": str(thread_id), "checkpoint_id": checkpoint_id}}
    return await store.aget_tuple(config) is not None


async def _admit(state: AppState, new: NewRun) -> Admission:
    pool = await state.database.pool()
    try:
        async with pool.acquire() as conn, conn.transaction():
            return await admit(conn, new)
    except ThreadBusy as err:
        raise _Busy(err.holder) from None
    except NotWaiting:
        raise InvalidRequestError(
            f"Thread {new.thread_id} is not waiting for input: it has no pending interrupt",
            code=ErrorCode.NOT_WAITING,
        ) from None
    except LookupError:
        raise HTTPException(404, "Thread or assistant not found.") from None
    except QuotaExceeded as err:
        raise _over_quota(err.limit) from None


class _Busy(HTTPException):
    def __init__(self, holder: str | None) -> None:
        super().__init__(
            409,
            "Thread is already running a task. Wait for it to finish or choose a different "
            "multitask strategy.",
        )
        self.holder = holder


def _over_quota(limit: int) -> HTTPException:
    return HTTPException(
        429,
        f"Too many runs in flight: this tenant may have {limit} pending or running at once. "
        "Retry when some have finished.",
        headers={"Retry-After": str(_RETRY_AFTER_SECONDS)},
    )


async def _act(state: AppState, admission: Admission, new: NewRun) -> None:
    """What Temporal is asked to do for an admitted run."""
    if admission.start:
        await _start(state, admission.run, new.request)
    if admission.resume_holder is not None:
        await _resume(state, admission, new)
    if admission.cancel is not None:
        await signal_cancel(state, *admission.cancel)


async def _start(state: AppState, run: dict[str, Any], request: RunRequest | None = None) -> None:
    try:
        await (await state.starter()).start(run, request)
    except RPCError as err:
        raise unavailable(err) from None


async def _resume(state: AppState, admission: Admission, new: NewRun) -> None:
    holder = admission.resume_holder
    assert holder is not None
    command = command_from(new.kwargs["command"])
    assert command is not None and command.resume is not None
    request = ResumeRequest.of(command, new.request.stream)
    handle = state.temporal.get_workflow_handle(holder)
    try:
        await handle.execute_update(RESUME, request)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == ErrorType.NOT_WAITING:
            raise InvalidRequestError(cause.message, code=ErrorCode.NOT_WAITING) from None
        message = cause.message if isinstance(cause, ApplicationError) else str(err)
        raise InvalidRequestError(message) from None
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise unavailable(err) from None
        await release_vanished(state, holder, "its workflow no longer exists")
        raise _HolderGone from None


async def signal_cancel(state: AppState, workflow_id: str, reason: CancelReason) -> None:
    """Ask the RunWorkflow ``workflow_id`` to stop; if Temporal no longer has it, give
    its thread to the next run now."""
    handle = state.temporal.get_workflow_handle(workflow_id)
    try:
        await handle.signal(CANCEL_RUN, reason.value)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise unavailable(err) from None
        await release_vanished(
            state,
            workflow_id,
            "its workflow no longer exists",
            rollback=reason is CancelReason.ROLLBACK,
        )


async def cancel_run(state: AppState, run: dict[str, Any], rollback: bool) -> None:
    """Stop ``run``: a queued run is dropped, a running one asked to stop."""
    if RunStatus(run["status"]).final:
        raise HTTPException(
            404, f"No matching runs to cancel: run {run['run_id']} is {run['status']}"
        )
    pool = await state.database.pool()
    thread_id, run_id = UUID(run["thread_id"]), UUID(run["run_id"])
    async with pool.acquire() as conn, conn.transaction():
        holder = await conn.fetchval(
            "SELECT run_workflow_id FROM threads WHERE thread_id = $1 FOR UPDATE", thread_id
        )
        if holder != run["workflow_id"]:
            # Queued behind another run: it never starts.
            if rollback:
                await conn.execute("DELETE FROM runs WHERE run_id = $1", run_id)
            else:
                await conn.execute(
                    "UPDATE runs SET status = 'interrupted', updated_at = now()"
                    " WHERE run_id = $1 AND status = 'pending'",
                    run_id,
                )
            await settle(conn, thread_id)
            await notify(conn, [run_id])
            return
    await signal_cancel(
        state, run["workflow_id"], CancelReason.ROLLBACK if rollback else CancelReason.CANCEL
    )


class _HolderGone(Exception):
    """The workflow a resume was for no longer exists."""
