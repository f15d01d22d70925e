"""Operations on many runs or threads at once, as LangGraph Server serves them:
``POST /runs/batch`` (stateless background runs), ``POST /runs/cancel`` (by id, or every
run of a status) and ``POST /threads/prune`` (delete threads, or keep each one's newest
checkpoint)."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tempograph.api.auth import authorize, tenant
from tempograph.api.auth_filters import filter_sql
from tempograph.api.deps import State, parse_uuid
from tempograph.api.models import RunCreate
from tempograph.api.routes.threads import drop_thread, thread_uuid
from tempograph.api.services.checks import allowed_thread, check_run
from tempograph.api.services.runs import cancel_run, start_stateless
from tempograph.api.storage.runs import RunStore
from tempograph.api.strict_json import StrictJSONRoute
from tempograph.errors import TempographError
from tempograph.runs import IN_FLIGHT

logger = logging.getLogger(__name__)

router = APIRouter(route_class=StrictJSONRoute, tags=["runs"])
thread_router = APIRouter(route_class=StrictJSONRoute, tags=["threads"])

_MAX_BATCH = 100


@router.post("/runs/batch")
async def create_batch(
    state: State,
    body: Annotated[list[dict[str, Any]], Body(min_length=1, max_length=_MAX_BATCH)],
) -> list[dict[str, Any]]:
    """Stateless background runs, each on its own temporary thread. Every request is
    checked before any run is made, so a bad one makes none."""
    requests = []
    for index, payload in enumerate(body):
        try:
            if payload.get("thread_id") is not None:
                raise HTTPException(422, "a batch makes stateless runs: thread_id is not accepted")
            request = RunCreate.model_validate(payload)
            await check_run(state, request)
        except ValidationError as err:
            raise HTTPException(422, f"runs[{index}]: {err.errors()[0]['msg']}") from None
        except HTTPException as err:
            raise HTTPException(err.status_code, f"runs[{index}]: {err.detail}") from None
        requests.append(request)
    return [(await start_stateless(state, request, None))[1] for request in requests]


class RunsCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thread_id: str | None = None
    run_ids: list[str] | None = None
    status: Literal["pending", "running", "all"] | None = None


@router.post("/runs/cancel", status_code=204)
async def cancel_many(body: RunsCancel, state: State, action: str = "interrupt") -> Response:
    """Cancel the runs named on a thread, or every run of a ``status`` the caller may
    change. Runs that have ended already are left as they are."""
    rollback = action == "rollback"  # anything else means interrupt, as there
    runs = RunStore(await state.database.pool(), state.values)
    if body.status is not None:
        if body.thread_id or body.run_ids:
            raise HTTPException(
                422, "When providing a 'status', 'thread_id' and 'run_ids' must be omitted"
            )
        chosen = await _in_flight(state, body.status)
    else:
        if body.thread_id is None or not body.run_ids:
            raise HTTPException(422, "Give 'thread_id' and 'run_ids', or a 'status'")
        tid = parse_uuid(body.thread_id, "thread")
        ids = [parse_uuid(r, "run") for r in body.run_ids]
        await allowed_thread(state, tid, "update", {"thread_id": tid, "run_id": None})
        chosen = [run for rid in ids if (run := await runs.get(tid, rid)) is not None]
        if not chosen:
            raise HTTPException(404, f"No runs {body.run_ids} on thread {tid}")
    for run in chosen:
        try:
            await cancel_run(state, run, rollback)
        except HTTPException as err:
            if err.status_code != 404:  # 404: it ended meanwhile
                raise
    return Response(status_code=204)


async def _in_flight(state: State, status: str) -> list[dict[str, Any]]:
    """The caller's runs of ``status`` (``all``: pending and running) on threads they may
    change."""
    filters = await authorize("threads", "update", {"thread_id": None, "run_id": None})
    args: list[Any] = [list(IN_FLIGHT) if status == "all" else [status], tenant()]
    where = filter_sql(filters, "t.metadata", args)
    records = await (await state.database.pool()).fetch(
        "SELECT r.thread_id, r.run_id FROM runs r JOIN threads t USING (thread_id)"
        " WHERE r.status = ANY($1::text[]) AND ($2::text IS NULL OR t.tenant_id = $2)"
        f" AND {where} ORDER BY r.created_at",
        *args,
    )
    runs = RunStore(await state.database.pool(), state.values)
    found = [await runs.get(r["thread_id"], r["run_id"]) for r in records]
    return [run for run in found if run is not None]


class ThreadPrune(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thread_ids: list[str] = Field(default_factory=list, max_length=1000)
    strategy: Literal["delete", "keep_latest"] = "delete"


@thread_router.post("/threads/prune")
async def prune(body: ThreadPrune, state: State) -> dict[str, int]:
    """Delete the threads (as ``DELETE /threads/{id}``), or keep only each one's newest
    checkpoint. Threads the caller may not change, or that do not exist, are skipped;
    ``pruned_count`` says how many were pruned."""
    ids = [thread_uuid(t) for t in body.thread_ids]
    checkpoints = await state.checkpoints()
    pruned = 0
    for tid in ids:
        action = "delete" if body.strategy == "delete" else "update"
        try:
            thread = await allowed_thread(state, tid, action, {"thread_id": tid, "run_id": None})
        except HTTPException:
            continue
        if body.strategy == "delete":
            pruned += await drop_thread(state, tid)
            continue
        if thread["status"] == "busy":
            continue  # a run is writing its checkpoints: left alone
        try:
            await checkpoints.aprune([str(tid)], strategy="keep_latest")
        except TempographError as err:
            logger.warning("thread %s not pruned: %s", tid, err)
            continue
        pruned += 1
    return {"pruned_count": pruned}
