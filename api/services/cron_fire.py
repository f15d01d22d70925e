"""A cron's tick, served by the API replicas: the run it makes, and its thread's erasure.

Every API replica runs a small Temporal worker on ``<queue>-crons`` for the
:mod:`tempograph.workflows.crons` workflows. A fire makes its run exactly as
``POST /threads/{id}/runs`` would for the cron's creator (their auth context, the
assistant, the input checks, the thread's multitask strategy), keyed by the tick, so a
retried fire finds the run it made instead of making another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial
from uuid import NAMESPACE_URL, UUID, uuid5

from fastapi import HTTPException
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from tempograph.activities.crons import CronActivities
from tempograph.api.auth import Caller, Policy, acting_as
from tempograph.api.models import RunCreate
from tempograph.api.routes.threads import drop_thread
from tempograph.api.services.crons import forget_schedules
from tempograph.api.services.runs import create_run
from tempograph.api.state import AppState
from tempograph.api.storage.crons import CronStore, ended
from tempograph.errors import ErrorCode, TempographError
from tempograph.keys import KeyStore
from tempograph.workflows.crons import (
    CronCleanupWorkflow,
    CronFired,
    CronWorkflow,
    cron_queue,
)

logger = logging.getLogger(__name__)

_REFUSED = "CronRunRefused"
_RESTART_AFTER = 5.0  # seconds, when the worker stops on an error (Temporal away)


async def fire(state: AppState, policy: Policy | None, cron_id: str, tick: str) -> CronFired | None:
    pool = await state.database.pool()
    row = await CronStore(pool).get(UUID(cron_id))
    if row is None:
        # Its cron was deleted (with its thread or assistant): the Schedule goes too.
        await forget_schedules(state, [cron_id])
        return None
    # Paused or not is the Schedule's say: a tick while paused is an operator's trigger.
    if ended(row["end_time"], datetime.now(UTC)):
        logger.info("cron %s: not fired, past its end_time", cron_id)
        return None
    payload = row["payload"]  # its config names the cron (tempograph.api.services.crons)
    bound = row["thread_id"] is not None
    # A new thread per tick, the same one for the tick's retries.
    thread_id = UUID(row["thread_id"]) if bound else uuid5(NAMESPACE_URL, tick)
    try:
        body = RunCreate.model_validate(
            {
                **payload,
                "metadata": {**row["metadata"], **(payload.get("metadata") or {})},
                "if_not_exists": "reject" if bound else "create",
            }
        )
        caller = Caller.from_json(row["caller"]) if row["caller"] else None
    except (ValidationError, ValueError, KeyError, TypeError) as err:
        raise _refused(cron_id, f"its stored request is not a run: {err}") from None
    keys = KeyStore(pool)
    if caller is not None and caller.key_id is not None and not await keys.is_live(caller.key_id):
        raise _refused(cron_id, "the API key that made the cron has been revoked")
    try:
        with acting_as(policy, caller):
            run = await create_run(state, thread_id, body, f"cron:{tick}")
    except HTTPException as err:
        # Refused as a request would be (the thread is gone or busy with "reject", the
        # input no longer fits the graph): this tick fails, visibly; the cron goes on.
        # Over the tenant's quota is worth waiting for: retried.
        raise _refused(
            cron_id, f"{err.status_code} {err.detail}", retry=err.status_code == 429
        ) from None
    except TempographError as err:
        if err.code == ErrorCode.SERVER_UNAVAILABLE:
            raise  # retried
        raise _refused(cron_id, str(err)) from None
    drop = not bound and row["on_run_completed"] == "delete"
    return CronFired(run_id=run["run_id"], thread_id=str(thread_id), drop_thread=drop)


def _refused(cron_id: str, why: str, retry: bool = False) -> ApplicationError:
    return ApplicationError(
        f"cron {cron_id}: the run was refused: {why}", type=_REFUSED, non_retryable=not retry
    )


async def drop_when_ended(state: AppState, thread_id: str, run_id: str) -> bool:
    """Erase the thread once its run has ended (also at an interrupt, as LangGraph
    Server deletes a temporary thread when its run stops)."""
    pool = await state.database.pool()
    status = await pool.fetchval("SELECT status FROM runs WHERE run_id = $1", UUID(run_id))
    if status in ("pending", "running"):
        return False
    await drop_thread(state, UUID(thread_id))
    return True


def cron_worker(state: AppState, policy: Policy | None) -> Worker:
    activities = CronActivities(partial(fire, state, policy), partial(drop_when_ended, state))
    return Worker(
        state.temporal,
        task_queue=cron_queue(state.task_queue),
        workflows=[CronWorkflow, CronCleanupWorkflow],
        activities=[activities.fire, activities.drop_when_ended],
        max_concurrent_activities=20,
    )


@contextlib.asynccontextmanager
async def serving_crons(state: AppState, policy: Policy | None) -> AsyncIterator[None]:
    """Serve the crons' task queue while the API runs; a worker that stops on an error
    (Temporal away) is started again."""
    current: list[Worker] = []

    async def serve() -> None:
        while True:
            worker = cron_worker(state, policy)
            current[:] = [worker]
            try:
                await worker.run()
                return
            except Exception as err:  # noqa: BLE001 - Temporal away: start again later
                logger.warning("the crons' worker stopped: %s; restarting", err)
            await asyncio.sleep(_RESTART_AFTER)

    task = asyncio.create_task(serve())
    try:
        yield
    finally:
        if current and current[0].is_running:
            await current[0].shutdown()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
