"""``GET /threads/{thread_id}/stream``: a thread's live events across its runs, as
LangGraph Server serves them.

The stream follows every run of the thread in the order they were created: the events
each run records (its durable log, as its own stream reads it) and, when a run ends, a
``metadata`` event ``{"status": "run_done", "run_id": ...}``. It never ends by itself; the
client closes it. Modes (``stream_mode``, as the SDK sends it, or ``stream_modes``, as
LangGraph Server reads it; repeated or comma-separated):

* ``run_modes`` (the default): every run event and ``run_done``;
* ``lifecycle``: a run's first ``metadata`` event (``run_id``, ``attempt``) and
  ``run_done``;
* ``state_update``: ``state_update`` events. Tempograph records none today (LangGraph
  Server's come from its own state writes), so this mode shows only heartbeats.

Without ``Last-Event-ID`` (or with one naming a run since deleted) it starts at what
happens next: runs that already ended are skipped, a run in flight continues from its
next event, and runs created later are followed from their start. Event ids are
``<run_id>:<seq>`` (``<run_id>:done`` for ``run_done``); given one as ``Last-Event-ID``,
the stream resumes right after it, on any replica. ``-`` (or ``0``) replays every run of
the thread from its beginning.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from uuid import UUID

from fastapi import HTTPException, Request

from tempograph.api.storage.runs import FINAL, RunStore
from tempograph.api.streaming import HEARTBEAT, HEARTBEAT_SECONDS, Notifier, Wake, sse

THREAD_MODES = ("run_modes", "lifecycle", "state_update")
_POLL_SECONDS = 0.5  # how soon a new run on the thread is noticed
_DONE = "done"


def thread_modes(request: Request) -> set[str]:
    """The modes asked for, checked; ``run_modes`` when none."""
    asked = [
        mode.strip()
        for name in ("stream_mode", "stream_modes")
        for value in request.query_params.getlist(name)
        for mode in value.split(",")
        if mode.strip()
    ]
    for mode in asked:
        if mode not in THREAD_MODES:
            raise HTTPException(
                422, f"Invalid stream mode {mode!r}: one of {', '.join(THREAD_MODES)}"
            )
    return set(asked or ["run_modes"])


def _passes(modes: set[str], event: str, data: str) -> bool:
    if "run_modes" in modes and event != "state_update":
        return True
    if "state_update" in modes and event == "state_update":
        return True
    if "lifecycle" in modes and event == "metadata":
        with contextlib.suppress(ValueError, AttributeError):
            fields = json.loads(data)
            return "attempt" in fields or fields.get("status") == "run_done"
    return False


class Cursor:
    """Where the stream is in each run of the thread: the last event sent, or done."""

    def __init__(self) -> None:
        self.sent: dict[UUID, int] = {}
        self.done: set[UUID] = set()

    @classmethod
    async def start(cls, runs: RunStore, thread_id: UUID, last_event_id: str | None) -> Cursor:
        cursor = cls()
        known = await runs.of_thread(thread_id)
        value = (last_event_id or "").strip()
        if value in ("-", "0"):  # the whole log
            return cursor
        resumed: UUID | None = None
        seq: int | None = None
        if value:
            run_part, _, seq_part = value.partition(":")
            try:
                resumed = UUID(run_part)
                seq = None if seq_part == _DONE else int(seq_part)
            except ValueError:
                raise HTTPException(
                    422, f"Invalid Last-Event-ID {value!r}: expected an id this stream sent"
                ) from None
        order = [run_id for run_id, _ in known]
        if resumed is None or resumed not in order:
            # No id, or the run it names is gone (deleted, rolled back): what happens next.
            for run_id, status in known:
                if status in FINAL:
                    cursor.done.add(run_id)
                else:
                    cursor.sent[run_id] = await runs.last_seq(run_id)
            return cursor
        # The runs before it have ended, unless two were created at once and the earlier
        # one (in creation order) is still to run: that one is followed from its start.
        for run_id, status in known[: order.index(resumed)]:
            if status in FINAL:
                cursor.done.add(run_id)
        if seq is None:
            cursor.done.add(resumed)
        else:
            cursor.sent[resumed] = seq
        return cursor


async def thread_events(
    runs: RunStore, notifier: Notifier, thread_id: UUID, modes: set[str], cursor: Cursor
) -> AsyncIterator[bytes]:
    """The thread's events from ``cursor`` on, with a heartbeat every few quiet seconds."""
    wake = Wake()
    watched: dict[UUID, contextlib.AsyncExitStack] = {}
    quiet = 0.0
    try:
        while True:
            wake.clear()
            sent_any = False
            current = await runs.of_thread(thread_id, leaving_out=cursor.done)
            for gone in set(watched) - {run_id for run_id, _ in current}:
                await watched.pop(gone).aclose()  # deleted (a rollback): nothing more comes
            for run_id, status in current:
                if run_id not in watched:  # woken by its events from now on
                    watched[run_id] = contextlib.AsyncExitStack()
                    await watched[run_id].enter_async_context(notifier.watch(str(run_id), wake))
                # The status was read before the events: once it is final, every event
                # is there (the worker writes the last ones and the status together).
                while events := await runs.events_after(run_id, cursor.sent.get(run_id, 0)):
                    for event in events:
                        cursor.sent[run_id] = event.seq
                        if _passes(modes, event.event, event.data):
                            sent_any = True
                            yield sse(event.event, event.data, f"{run_id}:{event.seq}")
                if status in FINAL:
                    cursor.done.add(run_id)
                    await watched.pop(run_id).aclose()
                    done = json.dumps({"status": "run_done", "run_id": str(run_id)})
                    if _passes(modes, "metadata", done):
                        sent_any = True
                        yield sse("metadata", done, f"{run_id}:{_DONE}")
            if sent_any:
                quiet = 0.0
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), _POLL_SECONDS)
            quiet += _POLL_SECONDS
            if quiet >= HEARTBEAT_SECONDS:
                quiet = 0.0
                yield HEARTBEAT
    finally:
        for stack in watched.values():
            await stack.aclose()
