"""Crons as Temporal Schedules: create, read, update, delete and search, as LangGraph
Server's ``/runs/crons`` routes do.

A cron is a row in Postgres (what its runs are made of, who made it) and a Temporal
Schedule ``cron-<cron_id>`` (when it fires), so it shows on the Temporal UI's Schedules
page, survives any restart, and an operator can pause, trigger or backfill it there. Both
are written in one transaction: the Schedule is created or changed while the row is
locked, so a refusal from Temporal (an invalid expression or time zone) leaves nothing.

Choices (LangGraph Server has no Schedules; these keep its behaviour):

- **Expressions** fire when LangGraph's would. LangGraph (croniter) reads a sixth field
  as seconds and a seventh as the year, Temporal puts seconds first: fields are
  reordered. croniter fires when *either* a restricted day of the month or a restricted
  day of the week matches, Temporal when both do: such an expression becomes two.
  ``@hourly`` and the other shorthands pass through. Times are UTC unless ``timezone``
  names an IANA zone.
- **Overlap: skip.** A fire (the :class:`~tempograph.workflows.crons.CronWorkflow`) only
  makes the run, so it takes a fraction of a second and never overlaps the next tick;
  when the API replicas that serve fires are all down, the ticks meanwhile collapse into
  one late fire instead of a burst, as LangGraph's scheduler fires once when overdue.
  Runs still overlap as LangGraph's do: each tick makes its run, whatever the last one is
  doing (a thread's multitask strategy decides on a bound thread).
- **Catch-up: Temporal's default (a year).** After a Temporal outage the missed tick
  fires once (skip collapses the rest), however late, as in LangGraph.
- ``enabled: false`` pauses the Schedule, ``end_time`` is its end; ``next_run_date`` is
  Temporal's next action time (null past the end). The Schedule is the truth about
  timing: a pause or resume in the Temporal UI shows as ``enabled`` when the cron is next
  read, and an operator's "Trigger" makes a run even while the cron is paused.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from fastapi import HTTPException
from fastapi.encoders import jsonable_encoder
from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from tempograph.api import auth
from tempograph.api.auth import authorize, tenant
from tempograph.api.auth_filters import matches
from tempograph.api.models import (
    CRON_RUN_FIELDS,
    CronCount,
    CronCreate,
    CronPatch,
    CronSearch,
    RunCreate,
)
from tempograph.api.services.checks import allowed_thread, check_run
from tempograph.api.state import AppState
from tempograph.api.storage.crons import CronStore
from tempograph.errors import ErrorCode, TempographError
from tempograph.workflows.crons import CRON_WORKFLOW, cron_queue, schedule_id

logger = logging.getLogger(__name__)

_DESCRIBE_AT_ONCE = 16  # Temporal calls in flight for one search's next_run_dates
_TIMING = ("schedule", "timezone", "end_time", "enabled")


def temporal_expressions(expression: str) -> list[str]:
    """LangGraph's (croniter's) cron expression as Temporal expressions firing at the
    same times (see the module): fields reordered where the two read them differently,
    and a day of the month *and* a day of the week (either one, for croniter; both at
    once, for Temporal) split into two expressions."""
    fields = expression.split()
    if len(fields) == 6:  # croniter: ... day_of_week second
        fields = [fields[5], *fields[:5], "*"]
    elif len(fields) == 7:  # croniter: ... day_of_week second year
        fields = [fields[5], *fields[:5], fields[6]]
    elif len(fields) == 5:
        fields = ["0", *fields, "*"]
    else:
        return [" ".join(fields)]  # @hourly and Temporal's other forms; Temporal checks
    day, week = fields[3], fields[5]
    if day not in ("*", "?") and week not in ("*", "?"):
        return [
            " ".join([*fields[:5], "*", fields[6]]),
            " ".join([*fields[:3], "*", fields[4], week, fields[6]]),
        ]
    return [" ".join(fields)]


def _schedule(state: AppState, cron_id: str, row: dict[str, Any]) -> Schedule:
    end = row.get("end_time")
    return Schedule(
        action=ScheduleActionStartWorkflow(
            CRON_WORKFLOW,
            cron_id,
            id=schedule_id(cron_id),  # Temporal appends each tick's time
            task_queue=cron_queue(state.task_queue),
        ),
        spec=ScheduleSpec(
            cron_expressions=temporal_expressions(row["schedule"]),
            time_zone_name=row.get("timezone") or "UTC",
            end_at=datetime.fromisoformat(end) if isinstance(end, str) else end,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(
            paused=not row["enabled"],
            note="disabled through the API (enabled: false)" if not row["enabled"] else None,
        ),
    )


def _refusal(err: RPCError) -> Exception:
    """Temporal's answer about a Schedule, as the API's: a refused spec is a 422."""
    if err.status == RPCStatusCode.INVALID_ARGUMENT:
        return HTTPException(422, f"Invalid cron schedule: {err.message}")
    if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return TempographError(
            f"Temporal is unavailable: {err.message}", code=ErrorCode.SERVER_UNAVAILABLE
        )
    return TempographError(f"Temporal refused the cron's schedule: {err.message}")


async def _temporal(call: Any) -> Any:
    try:
        return await call
    except RPCError as err:
        raise _refusal(err) from None


def _aware(moment: datetime | None) -> datetime | None:
    """An end time without a zone is UTC (the SDK sends what it is given)."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


async def _check_run(state: AppState, payload: dict[str, Any], thread_id: UUID | None) -> None:
    """What each fire would refuse, refused now: the assistant, the input, the webhook."""
    found = await check_run(state, RunCreate.model_validate(payload))
    payload["assistant_id"] = str(found["assistant_id"])
    if thread_id is not None:
        await allowed_thread(state, thread_id)


def _name_the_cron(payload: dict[str, Any], cron_id: UUID) -> None:
    """The runs' config names their cron (``configurable.cron_id``), as LangGraph stores
    it; not beside a context (the two do not go together in a run, so a context given
    later takes the name out again, as LangGraph's scheduler does)."""
    config = payload["config"] = dict(payload.get("config") or {})
    configurable = {**(config.get("configurable") or {}), "cron_id": str(cron_id)}
    if payload.get("context"):
        del configurable["cron_id"]
    if configurable:
        config["configurable"] = configurable
    else:
        config.pop("configurable", None)


async def create_cron(state: AppState, body: CronCreate, thread_id: UUID | None) -> dict[str, Any]:
    """A new cron (on ``thread_id``, or a new thread per run) and its Schedule."""
    payload = body.model_dump(include=set(CRON_RUN_FIELDS), exclude_none=True)
    await _check_run(state, payload, thread_id)
    cron_id = uuid4()
    _name_the_cron(payload, cron_id)
    caller = auth.current()
    value: dict[str, Any] = {
        "payload": payload,
        "schedule": body.schedule,
        "cron_id": cron_id,
        "thread_id": thread_id,
        "user_id": caller.user.get("identity") if caller is not None else None,
        "end_time": body.end_time,
        "metadata": dict(body.metadata or {}),
    }
    await authorize("crons", "create", value)  # a handler may stamp metadata
    fields = {
        "assistant_id": UUID(payload["assistant_id"]),
        "thread_id": thread_id,
        "tenant_id": tenant() or "",
        "user_id": value["user_id"],
        "caller": caller.to_json() if caller is not None else None,
        "schedule": body.schedule,
        "timezone": body.timezone,
        "end_time": _aware(body.end_time),
        # Bound to a thread, a cron's runs stay on it: nothing to delete.
        "on_run_completed": None if thread_id else body.on_run_completed or "delete",
        "enabled": body.enabled if body.enabled is not None else True,
        "payload": payload,
        "metadata": value["metadata"],
    }
    pool = await state.database.pool()
    store = CronStore(pool)
    # The row first: a tick never finds a Schedule whose cron is not there yet (a fire
    # that finds no row deletes its Schedule as left behind).
    row = await store.create(pool, cron_id, fields)
    try:
        schedule = _schedule(state, str(cron_id), row)
        await _temporal(state.temporal.create_schedule(schedule_id(str(cron_id)), schedule))
    except BaseException:
        await store.delete(pool, cron_id)
        raise
    return (await with_next_run_dates(state, [row]))[0]


async def existing(
    state: AppState,
    cron_id: UUID,
    action: str,
    conn: Any = None,
    value: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The cron, if the caller may ``action`` it (``value``: what the auth handler is
    given beside the id); 404 as for one that does not exist."""
    filters = await authorize("crons", action, {"cron_id": cron_id, **(value or {})})
    store = CronStore(await state.database.pool())
    row = await store.get(cron_id, tenant(), conn, lock=conn is not None)
    if row is None or not matches(row["metadata"], filters):
        raise HTTPException(404, f"Cron {cron_id} not found")
    if row["thread_id"] is not None:  # and its thread must be the caller's to read
        try:
            await allowed_thread(state, UUID(row["thread_id"]))
        except HTTPException:
            raise HTTPException(404, f"Cron {cron_id} not found") from None
    return row


async def update_cron(state: AppState, cron_id: UUID, body: CronPatch) -> dict[str, Any]:
    """Change what was given: timing goes to the Schedule, run fields are merged into the
    payload (shallowly, as LangGraph does), metadata into the cron's. Whoever changes
    what the cron runs is whom its runs act for from then on."""
    given = {k: getattr(body, k) for k in body.model_fields_set}
    if not given:
        raise HTTPException(400, "Request body cannot be empty")
    pool = await state.database.pool()
    async with pool.acquire() as conn, conn.transaction():
        row = await existing(state, cron_id, "update", conn, jsonable_encoder(given))
        changes: dict[str, Any] = {}
        for key in ("schedule", "timezone", "enabled", "on_run_completed"):
            if given.get(key) is not None:
                changes[key] = given[key]
        if "end_time" in given:  # an explicit null clears it
            changes["end_time"] = _aware(given["end_time"])
        run_fields = {
            k: v
            for k, v in body.model_dump(include=set(CRON_RUN_FIELDS)).items()
            if k in given and v is not None
        }
        if run_fields:
            payload = {**row["payload"], **run_fields, "assistant_id": row["assistant_id"]}
            _name_the_cron(payload, cron_id)  # a config given anew replaced the stored one
            if set(run_fields) - {"metadata"}:
                thread = UUID(row["thread_id"]) if row["thread_id"] else None
                await _check_run(state, payload, thread)
                caller = auth.current()
                changes["caller"] = caller.to_json() if caller is not None else None
            changes["payload"] = payload
        if body.metadata:
            changes["metadata"] = body.metadata
        if not changes:
            raise HTTPException(400, "No fields to update")
        if any(k in changes for k in _TIMING):
            timing = {k: v for k, v in changes.items() if k in _TIMING}
            await _reschedule(state, str(cron_id), {**row, **timing}, set(timing))
        updated = await CronStore(pool).update(conn, cron_id, changes)
    return (await with_next_run_dates(state, [updated]))[0]


async def _reschedule(
    state: AppState, cron_id: str, row: dict[str, Any], changed: set[str]
) -> None:
    """Give the cron's Schedule ``row``'s timing where it ``changed``; what an operator
    changed in the Temporal UI (a pause, a note, the overlap policy) otherwise stays as
    they left it. A Schedule that has gone is made again."""
    fresh = _schedule(state, cron_id, row)

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule = current.description.schedule
        if changed & {"schedule", "timezone", "end_time"}:
            schedule.spec = fresh.spec
        if "enabled" in changed:
            schedule.state = fresh.state
        return ScheduleUpdate(schedule=schedule)

    try:
        await state.temporal.get_schedule_handle(schedule_id(cron_id)).update(update)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise _refusal(err) from None
        await _temporal(state.temporal.create_schedule(schedule_id(cron_id), fresh))


async def delete_cron(state: AppState, cron_id: UUID) -> None:
    """The Schedule, then the row (kept, with a 503, if Temporal refuses)."""
    pool = await state.database.pool()
    async with pool.acquire() as conn, conn.transaction():
        await existing(state, cron_id, "delete", conn)
        await forget_schedules(state, [str(cron_id)])
        await CronStore(pool).delete(conn, cron_id)


async def forget_schedules(state: AppState, cron_ids: list[str], *, strict: bool = True) -> None:
    """Delete the crons' Schedules (one already gone is fine). Not ``strict`` (their rows
    are gone already): a refusal is logged, and a Schedule left behind deletes itself at
    its next tick, when its fire finds no row."""
    for cron_id in cron_ids:
        try:
            await state.temporal.get_schedule_handle(schedule_id(cron_id)).delete()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                continue
            if not strict:
                logger.warning("cron %s: its schedule was not deleted: %s", cron_id, err.message)
                continue
            raise TempographError(
                f"Temporal refused to delete the cron's schedule: {err.message}",
                code=ErrorCode.SERVER_UNAVAILABLE,
            ) from None


async def with_next_run_dates(state: AppState, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` as their Schedules have them: the next action time as ``next_run_date``
    (also while disabled, as LangGraph shows it; none past the end), and ``enabled`` as
    the Schedule's pause says, whoever paused it (the API or an operator in the Temporal
    UI); a row that says otherwise is brought in line."""
    gate = asyncio.Semaphore(_DESCRIBE_AT_ONCE)

    async def described(row: dict[str, Any]) -> dict[str, Any]:
        async with gate:
            try:
                found = await state.temporal.get_schedule_handle(
                    schedule_id(row["cron_id"])
                ).describe()
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return {**row, "next_run_date": None}
                raise
        times = found.info.next_action_times
        enabled = not found.schedule.state.paused
        if enabled != row["enabled"]:
            await CronStore(await state.database.pool()).set_enabled(UUID(row["cron_id"]), enabled)
        return {**row, "enabled": enabled, "next_run_date": times[0].isoformat() if times else None}

    return list(await _temporal(asyncio.gather(*(described(r) for r in rows))))


def _search_value(body: CronSearch | CronCount) -> dict[str, Any]:
    value: dict[str, Any] = {
        "assistant_id": body.assistant_id,
        "thread_id": body.thread_id,
        "metadata": body.metadata or {},
    }
    if isinstance(body, CronSearch):
        value.update(limit=body.limit, offset=body.offset)
    return value


async def _threads_allowed(thread_id: UUID | None) -> dict[str, Any] | None:
    """The threads' own auth filter, which a thread's crons pass too (as in LangGraph)."""
    if thread_id is not None:
        return await authorize("threads", "read", {"thread_id": thread_id})
    return await authorize("threads", "search", {"metadata": {}, "limit": 0, "offset": 0})


async def search_crons(state: AppState, body: CronSearch) -> tuple[list[dict[str, Any]], int]:
    allowed = await authorize("crons", "search", _search_value(body))
    threads_allowed = await _threads_allowed(body.thread_id)
    store = CronStore(await state.database.pool())
    by_next = body.sort_by == "next_run_date"
    rows, total = await store.search(
        tenant=tenant(),
        limit=None if by_next else body.limit,
        offset=0 if by_next else body.offset,
        sort_by="created_at" if by_next else body.sort_by,
        sort_order=body.sort_order,
        assistant_id=body.assistant_id,
        thread_id=body.thread_id,
        enabled=body.enabled,
        metadata=body.metadata,
        allowed=allowed,
        threads_allowed=threads_allowed,
    )
    if by_next or body.select is None or "next_run_date" in body.select:
        rows = await with_next_run_dates(state, rows)
    if by_next:
        # Crons that will not fire again come last, whichever the order.
        timed = sorted(
            (r for r in rows if r["next_run_date"] is not None),
            key=lambda r: r["next_run_date"],
            reverse=body.sort_order == "desc",
        )
        rows = [*timed, *(r for r in rows if r["next_run_date"] is None)]
        rows = rows[body.offset : body.offset + body.limit]
    if body.select:
        rows = [{k: v for k, v in r.items() if k in body.select} for r in rows]
    return rows, total


async def count_crons(state: AppState, body: CronCount) -> int:
    allowed = await authorize("crons", "search", _search_value(body))
    return await CronStore(await state.database.pool()).count(
        tenant=tenant(),
        assistant_id=body.assistant_id,
        thread_id=body.thread_id,
        metadata=body.metadata,
        allowed=allowed,
        threads_allowed=await _threads_allowed(body.thread_id),
    )


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A cron as the API shows it (not who made it, nor the tenant)."""
    return {k: v for k, v in row.items() if k not in ("caller", "tenant_id")}
