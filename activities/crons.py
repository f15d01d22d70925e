"""The activities of :mod:`tempograph.workflows.crons`, served by the API replicas.

What they do is the API's (making a run as its creator would, erasing a thread); they
are handed in as callables, so this module knows nothing of the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import activity

from tempograph.workflows.crons import DROP_WHEN_ENDED_ACTIVITY, FIRE_ACTIVITY, CronFired

Fire = Callable[[str, str], Awaitable[CronFired | None]]
DropWhenEnded = Callable[[str, str], Awaitable[bool]]


class CronActivities:
    def __init__(self, fire: Fire, drop_when_ended: DropWhenEnded) -> None:
        self._fire = fire
        self._drop_when_ended = drop_when_ended

    @activity.defn(name=FIRE_ACTIVITY)
    async def fire(self, cron_id: str, tick: str) -> CronFired | None:
        """Make the run of ``cron_id``'s tick ``tick`` (the CronWorkflow's id and run id); None when
        the cron is gone, disabled or past its end."""
        return await self._fire(cron_id, tick)

    @activity.defn(name=DROP_WHEN_ENDED_ACTIVITY)
    async def drop_when_ended(self, thread_id: str, run_id: str) -> bool:
        """Erase ``thread_id`` if ``run_id`` has ended; True when the thread is gone."""
        return await self._drop_when_ended(thread_id, run_id)
