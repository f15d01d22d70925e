"""Threads: create, read, patch, delete, search and count. State and runs live elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
import re
from datetime import timedelta
from typing import Annotated, Any, get_args
from uuid import UUID, uuid4

from fastapi import APIRouter, Body, Header, HTTPException, Response
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from tempograph.api.audit import note
from tempograph.api.auth import authorize, tenant
from tempograph.api.auth_filters import matches
from tempograph.api.deps import State, parse_uuid
from tempograph.api.models import (
    ThreadCount,
    ThreadCreate,
    ThreadField,
    ThreadPatch,
    ThreadSearch,
    ThreadTTL,
)
from tempograph.api.services.checks import allowed_thread
from tempograph.api.services.crons import forget_schedules
from tempograph.api.state import AppState
from tempograph.api.storage.crons import CronStore
from tempograph.api.storage.threads import ThreadStore
from tempograph.api.strict_json import StrictJSONRoute
from tempograph.errors import ErrorCode, TempographError
from tempograph.workflows.types import THREAD_ID, WEBHOOK_WORKFLOW

router = APIRouter(route_class=StrictJSONRoute, prefix="/threads", tags=["threads"])

_THREAD_FIELDS = set(get_args(ThreadField))
# How long erasing a thread waits for a run's workflow that is closing.
_CLOSING_SECONDS = 10.0
_EXTRACT_ROOTS = {"values", "metadata", "config", "interrupts"}
_EXTRACT_PATH = re.compile(r"([A-Za-z_]\w*)((?:\.[^.\[\]]+|\[-?\d+\])*)")
_EXTRACT_STEP = re.compile(r"\.([^.\[\]]+)|\[(-?\d+)\]")


def thread_uuid(value: str) -> UUID:
    """The thread id in a path; 422 when it is not a UUID."""
    return parse_uuid(value, "thread")


def _not_found(thread_id: UUID) -> HTTPException:
    return HTTPException(404, f"Thread {thread_id} not found")


async def _store(state: State) -> ThreadStore:
    return ThreadStore(await state.database.pool(), state.values)


def _extract_paths(extract: dict[str, str]) -> dict[str, tuple[str, list[str | int]]]:
    """``{alias: "values.messages[-1].content"}`` parsed into a root column and steps."""
    parsed: dict[str, tuple[str, list[str | int]]] = {}
    for alias, path in extract.items():
        if not alias.isidentifier() or alias in _THREAD_FIELDS:
            raise HTTPException(422, f"Invalid extract key {alias!r}: an identifier, not a field")
        match = _EXTRACT_PATH.fullmatch(path)
        if match is None or match.group(1) not in _EXTRACT_ROOTS:
            raise HTTPException(
                422,
                f"Invalid extract path {path!r}: must start with one of {sorted(_EXTRACT_ROOTS)}",
            )
        steps: list[str | int] = [
            key if key else int(index) for key, index in _EXTRACT_STEP.findall(match.group(2))
        ]
        parsed[alias] = (match.group(1), steps)
    return parsed


def _extracted(thread: dict[str, Any], root: str, steps: list[str | int]) -> Any:
    """The value at a parsed path, or None when the path does not lead anywhere."""
    current = thread.get(root)
    for step in steps:
        if (
            isinstance(step, int)
            and isinstance(current, list)
            and -len(current) <= step < len(current)
        ):
            current = current[step]
        elif isinstance(step, str) and isinstance(current, dict):
            current = current.get(step)
        else:
            return None
    return current


@router.post("")
async def create(
    body: Annotated[ThreadCreate, Body(default_factory=ThreadCreate)], state: State
) -> dict[str, Any]:
    if body.supersteps:
        raise HTTPException(422, "supersteps is not supported")
    thread_id = body.thread_id or uuid4()
    asked: dict[str, Any] = {
        "thread_id": thread_id,
        "metadata": dict(body.metadata),
        "if_exists": body.if_exists,
    }
    filters = await authorize("threads", "create", asked)
    created = await (await _store(state)).create(
        thread_id, asked["metadata"], body.if_exists, tenant(), _ttl(body.ttl)
    )
    if created is None or not matches(created["metadata"], filters):
        raise HTTPException(409, f"Thread with ID {thread_id} already exists")
    note(resource_id=str(thread_id))
    return created


def _ttl(ttl: ThreadTTL | None) -> tuple[float, str] | None:
    """A thread's own TTL (minutes of inactivity, then what happens), if it asks one."""
    if ttl is None or ttl.ttl is None:
        return None
    if ttl.ttl <= 0:
        raise HTTPException(422, "ttl.ttl must be a positive number of minutes")
    return float(ttl.ttl), ttl.strategy


def _search_value(body: ThreadSearch | ThreadCount) -> dict[str, Any]:
    value: dict[str, Any] = {
        "metadata": body.metadata or {},
        "values": body.values or {},
        "status": body.status,
    }
    if isinstance(body, ThreadSearch):
        value.update(limit=body.limit, offset=body.offset)
    return value


@router.post("/search")
async def search(
    body: Annotated[ThreadSearch, Body(default_factory=ThreadSearch)],
    state: State,
    response: Response,
) -> list[dict[str, Any]]:
    paths = _extract_paths(body.extract) if body.extract else {}
    filters = await authorize("threads", "search", _search_value(body))
    page, total = await (await _store(state)).search(
        allowed=filters,
        tenant=tenant(),
        metadata=body.metadata,
        values=body.values,
        status=body.status,
        ids=body.ids,
        limit=body.limit,
        offset=body.offset,
        sort_by=body.sort_by or "updated_at",
        sort_order=body.sort_order or "desc",
        with_values=not body.select
        or "values" in body.select
        or any(root == "values" for root, _ in paths.values()),
    )
    response.headers["X-Pagination-Total"] = str(total)
    if body.offset + len(page) < total:
        response.headers["X-Pagination-Next"] = str(body.offset + len(page))
    out = []
    for thread in page:
        shown: dict[str, Any] = (
            {k: v for k, v in thread.items() if k in body.select} if body.select else thread
        )
        if paths:
            shown["extracted"] = {
                alias: _extracted(thread, root, steps) for alias, (root, steps) in paths.items()
            }
        out.append(shown)
    return out


@router.post("/count")
async def count(
    body: Annotated[ThreadCount, Body(default_factory=ThreadCount)], state: State
) -> int:
    filters = await authorize("threads", "search", _search_value(body))
    return await (await _store(state)).count(
        metadata=body.metadata,
        values=body.values,
        status=body.status,
        allowed=filters,
        tenant=tenant(),
    )


@router.get("/{thread_id}")
async def get(thread_id: str, state: State, include: str | None = None) -> dict[str, Any]:
    # ``include=ttl`` is accepted; threads carry no TTL yet.
    return await allowed_thread(state, thread_uuid(thread_id), values=True)


@router.patch(
    "/{thread_id}",
    response_model=None,
    responses={204: {"description": "With Prefer: return=minimal"}},
)
async def patch(
    thread_id: str,
    state: State,
    body: Annotated[ThreadPatch, Body(default_factory=ThreadPatch)],
    prefer: Annotated[str | None, Header()] = None,
) -> dict[str, Any] | Response:
    uuid = thread_uuid(thread_id)
    asked: dict[str, Any] = {"thread_id": uuid, "metadata": dict(body.metadata)}
    await allowed_thread(state, uuid, "update", asked)
    updated = await (await _store(state)).update(uuid, asked["metadata"], _ttl(body.ttl))
    if updated is None:
        raise _not_found(uuid)
    if prefer and "return=minimal" in (p.strip() for p in prefer.split(",")):
        return Response(status_code=204)
    return updated


async def drop_thread(state: AppState, thread_id: UUID) -> bool:
    """Erase a thread: every Temporal execution of its runs (the running or waiting one
    is stopped first; resets' executions too) is deleted from Temporal, then its runs,
    events and checkpoints from Postgres. False when it is unknown."""
    pool = await state.database.pool()
    store = ThreadStore(pool, state.values)
    checkpoints = await state.checkpoints()
    records = await pool.fetch(
        "SELECT workflow_id, bool_or(updated_at > now() - $2::interval) AS recent FROM runs"
        " WHERE thread_id = $1 AND workflow_id IS NOT NULL GROUP BY workflow_id",
        thread_id,
        timedelta(minutes=1),
    )
    workflow_ids = {r["workflow_id"] for r in records}

    async def erase(holder: str | None) -> None:
        # The thread's row is locked meanwhile: no run of it can start.
        if holder is not None:
            await _temporal(state.temporal.get_workflow_handle(holder).terminate("thread deleted"))
        # A run that just ended in the API may still be closing its workflow, which
        # starts the run's webhook delivery as it closes: it closes first.
        await asyncio.gather(
            *(
                _closed(state.temporal.get_workflow_handle(r["workflow_id"]))
                for r in records
                if r["recent"] and r["workflow_id"] != holder
            )
        )
        await _erase_executions(state, thread_id, {*workflow_ids, *([holder] if holder else [])})

    its_crons = await CronStore(pool).of_thread(thread_id)
    if not await store.delete(thread_id, before_delete=erase):
        return False
    await checkpoints.adelete_thread(str(thread_id))
    # Its crons went with the row; their Schedules go now (one left behind deletes
    # itself at its next tick).
    await forget_schedules(state, its_crons, strict=False)
    return True


async def _temporal(call: Any) -> None:
    """A Temporal call whose NOT_FOUND means done; another refusal is a 503."""
    try:
        await call
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return
        raise TempographError(
            f"Temporal refused to erase the thread's runs: {err.message}",
            code=ErrorCode.SERVER_UNAVAILABLE,
        ) from None


async def _closed(handle: Any) -> None:
    """Until the workflow has closed (however it ends), for a few seconds at most."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(handle.result(), _CLOSING_SECONDS)


async def _erase_executions(state: AppState, thread_id: UUID, workflow_ids: set[str]) -> None:
    """Delete from Temporal every execution of the thread: its runs' workflows by id, and
    any other execution visibility knows under its ``ThreadId`` (a reset's, say). A
    webhook delivery still under way is left to finish (its receiver is owed the run's
    end); Temporal's retention removes it later."""
    client = state.temporal
    executions: set[tuple[str, str]] = {(w, "") for w in workflow_ids}
    try:
        async for found in client.list_workflows(f'{THREAD_ID.name} = "{thread_id}"'):
            delivering = found.status == WorkflowExecutionStatus.RUNNING
            if not (delivering and found.workflow_type == WEBHOOK_WORKFLOW):
                executions.add((found.id, found.run_id))
    except RPCError:
        pass  # visibility unavailable: the ids above still go
    for workflow_id, run_id in sorted(executions):
        await _temporal(
            client.workflow_service.delete_workflow_execution(
                DeleteWorkflowExecutionRequest(
                    namespace=client.namespace,
                    workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
                )
            )
        )


@router.delete("/{thread_id}", status_code=204)
async def delete(thread_id: str, state: State) -> Response:
    uuid = thread_uuid(thread_id)
    await allowed_thread(state, uuid, "delete", {"thread_id": uuid, "run_id": None})
    if not await drop_thread(state, uuid):
        raise _not_found(uuid)
    return Response(status_code=204)
