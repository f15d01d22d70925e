"""Crons: ``/runs/crons`` and ``/threads/{id}/runs/crons``, as LangGraph Server serves
them; each cron is a Temporal Schedule (:mod:`tempograph.api.services.crons`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from tempograph.api.deps import State, parse_uuid
from tempograph.api.models import CronCount, CronCreate, CronPatch, CronSearch
from tempograph.api.routes.threads import thread_uuid
from tempograph.api.services import crons
from tempograph.api.strict_json import StrictJSONRoute

router = APIRouter(route_class=StrictJSONRoute, tags=["crons"])


@router.post("/runs/crons")
async def create(body: CronCreate, state: State) -> dict[str, Any]:
    """A cron that makes a new thread for each run (erased when the run ends, with
    ``on_run_completed: "delete"``, the default)."""
    return crons.public(await crons.create_cron(state, body, None))


@router.post("/threads/{thread_id}/runs/crons")
async def create_for_thread(thread_id: str, body: CronCreate, state: State) -> dict[str, Any]:
    """A cron whose runs go on this thread, by its multitask strategy (enqueue)."""
    return crons.public(await crons.create_cron(state, body, thread_uuid(thread_id)))


@router.post("/runs/crons/search")
async def search(body: CronSearch, state: State, response: Response) -> list[dict[str, Any]]:
    page, total = await crons.search_crons(state, body)
    response.headers["X-Pagination-Total"] = str(total)
    if body.offset + len(page) < total:
        response.headers["X-Pagination-Next"] = str(body.offset + len(page))
    return [crons.public(r) for r in page]


@router.post("/runs/crons/count")
async def count(body: CronCount, state: State) -> int:
    return await crons.count_crons(state, body)


@router.get("/runs/crons/{cron_id}")
async def get(cron_id: str, state: State) -> dict[str, Any]:
    row = await crons.existing(state, parse_uuid(cron_id, "cron"), "read")
    return crons.public((await crons.with_next_run_dates(state, [row]))[0])


@router.patch("/runs/crons/{cron_id}")
async def patch(cron_id: str, body: CronPatch, state: State) -> dict[str, Any]:
    return crons.public(await crons.update_cron(state, parse_uuid(cron_id, "cron"), body))


@router.delete("/runs/crons/{cron_id}", status_code=204)
async def delete(cron_id: str, state: State) -> Response:
    await crons.delete_cron(state, parse_uuid(cron_id, "cron"))
    return Response(status_code=204)
