"""Following a run's durable event log: SSE framing, filters, wake-ups.

Events live in Postgres (``run_events``), numbered per run. A stream reads what is
there, then sleeps until a worker's ``NOTIFY`` (or a one-second poll, should the
notification connection be down) and reads again, until the run's status is final; the
worker writes the last events and the final status in one transaction, so nothing can
follow them. A client that reconnects with ``Last-Event-ID`` continues after that
number, on any replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from uuid import UUID

import asyncpg

from tempograph.api.storage.runs import FINAL, Event, RunStore
from tempograph.runs import EVENTS_ONLY
from tempograph.workflows.jsonable import RUN_EVENTS_CHANNEL as CHANNEL
from tempograph.workflows.jsonable import dumps

HEARTBEAT_SECONDS = 5.0
_POLL_SECONDS = 1.0


class Wake(asyncio.Event):
    """Set when a notification for the run arrives. ``status_changed`` is False while
    the notifications since it was last cleared said only "new events"."""

    status_changed = True


class Notifier:
    """One ``LISTEN`` connection per app; wakes the streams of the notified run."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: asyncpg.Connection | None = None
        self._waiters: dict[str, set[Wake]] = {}
        self._lock = asyncio.Lock()

    async def _ensure(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            return
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return
            try:
                conn = await asyncpg.connect(self._url, timeout=5)
                await conn.add_listener(CHANNEL, self._notified)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                return  # streams fall back to polling until Postgres is back
            self._conn = conn

    def _notified(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        run_id, _, kind = payload.partition(" ")
        for waiter in self._waiters.get(run_id, ()):
            if kind != EVENTS_ONLY.strip():
                waiter.status_changed = True
            waiter.set()

    def subscribe(self, run_id: str) -> contextlib.AbstractAsyncContextManager[Wake]:
        return self.watch(run_id, Wake())

    @contextlib.asynccontextmanager
    async def watch(self, run_id: str, waiter: Wake) -> AsyncIterator[Wake]:
        """Wake ``waiter`` on the run's notifications too (one waiter, several runs)."""
        await self._ensure()
        self._waiters.setdefault(run_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            waiters = self._waiters.get(run_id, set())
            waiters.discard(waiter)
            if not waiters:
                self._waiters.pop(run_id, None)

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None


async def follow(
    store: RunStore, notifier: Notifier, run_id: UUID, after: int = 0
) -> AsyncIterator[Event | None]:
    """The run's events after ``after`` until it ends; ``None`` is a heartbeat tick."""
    quiet = 0.0
    async with notifier.subscribe(str(run_id)) as wake:
        while True:
            wake.clear()
            events = await store.events_after(run_id, after)
            for event in events:
                after = event.seq
                yield event
            if events:
                quiet = 0.0
                continue
            status = await store.status(run_id)
            if status is None or status in FINAL:
                for event in await store.events_after(run_id, after, limit=1_000_000):
                    yield event
                return
            quiet, heartbeat = await _pause(wake, quiet)
            if heartbeat:
                yield None


async def _pause(wake: Wake, quiet: float) -> tuple[float, bool]:
    """Sleep until woken or one poll interval passes. Returns the quiet time so far and
    whether a heartbeat is due (then the quiet time starts over)."""
    try:
        await asyncio.wait_for(wake.wait(), timeout=_POLL_SECONDS)
    except TimeoutError:
        wake.status_changed = True  # a poll: the notification may have been missed
        quiet += _POLL_SECONDS
        if quiet >= HEARTBEAT_SECONDS:
            return 0.0, True
    return quiet, False


async def until_final(store: RunStore, notifier: Notifier, run_id: UUID) -> AsyncIterator[None]:
    """Wait for the run to end, reading only its status; yields a heartbeat tick every
    few seconds meanwhile (``wait`` and ``join`` need the end, not the events)."""
    quiet = 0.0
    async with notifier.subscribe(str(run_id)) as wake:
        while True:
            wake.clear()
            if wake.status_changed:
                wake.status_changed = False
                status = await store.status(run_id)
                if status is None or status in FINAL:
                    return
            quiet, heartbeat = await _pause(wake, quiet)
            if heartbeat:
                yield None


def sse(event: str, data: str, event_id: int | str | None = None) -> bytes:
    """One event framed as LangGraph Server frames it (CRLF lines, ``id`` after ``data``)."""
    name = event.replace("\r", "").replace("\n", "")
    text = f"event: {name}\r\ndata: {data}\r\n"
    if event_id is not None:
        text += f"id: {event_id}\r\n"
    return (text + "\r\n").encode()


HEARTBEAT = b": heartbeat\r\n\r\n"


def mode_filter(modes: list[str] | None) -> Callable[[str], bool]:
    """Which stored events a client asked for (``None``: all). Errors always pass."""
    if not modes:
        return lambda name: True
    wanted = set(modes)

    def passes(name: str) -> bool:
        base = name.split("|", 1)[0]
        if name in ("metadata", "error") or base in wanted:
            return True
        return base == "messages" and bool({"messages", "messages-tuple"} & wanted)

    return passes


class MessageView:
    """Stored ``messages`` events (LangGraph's ``(chunk, metadata)`` tuples) rendered for a
    client that asked for ``messages`` (whole messages so far) rather than
    ``messages-tuple`` (the raw tuples)."""

    def __init__(self, modes: list[str] | None) -> None:
        wanted = set(modes or ())
        self.tuples = not modes or "messages-tuple" in wanted
        self.whole = "messages" in wanted
        self._seen: dict[str, dict[str, Any]] = {}

    def render(self, event: Event) -> Iterator[tuple[str, str]]:
        base = event.event.split("|", 1)[0]
        if base != "messages":
            yield event.event, event.data
            return
        if self.tuples:
            yield event.event, event.data
        if not self.whole or "|" in event.event:
            return
        message, metadata = json.loads(event.data)
        message_id = str(message.get("id"))
        if message_id not in self._seen:
            yield "messages/metadata", dumps({message_id: {"metadata": metadata}})
        if str(message.get("type", "")).endswith("Chunk"):
            whole = self._seen.get(message_id)
            if whole is None:
                whole = {**message, "type": _WHOLE_TYPES.get(message["type"], "ai")}
            elif isinstance(whole.get("content"), str) and isinstance(message.get("content"), str):
                whole = {**whole, "content": whole["content"] + message["content"]}
            self._seen[message_id] = whole
            yield "messages/partial", dumps([whole])
        else:
            self._seen[message_id] = message
            yield "messages/complete", dumps([message])


_WHOLE_TYPES = {
    "AIMessageChunk": "ai",
    "HumanMessageChunk": "human",
    "ToolMessageChunk": "tool",
    "SystemMessageChunk": "system",
    "ChatMessageChunk": "chat",
    "FunctionMessageChunk": "function",
}
