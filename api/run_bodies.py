"""What a run's wait, join and stream send: its output once it ends, its events as SSE.

Both are async iterators of bytes for a streaming response; :func:`around` adds what
happens when one is sent in full or when the client leaves first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any
from uuid import UUID

from fastapi import HTTPException

from tempograph.api.deps import State
from tempograph.api.services.closed import until_rerun_claims
from tempograph.api.storage.runs import RunStore
from tempograph.api.streaming import HEARTBEAT, MessageView, follow, mode_filter, sse, until_final
from tempograph.errors import TempographError

logger = logging.getLogger(__name__)


async def run_store(state: State) -> RunStore:
    return RunStore(await state.database.pool(), state.values)


async def wait_body(
    state: State, run_id: UUID, joined: dict[str, Any] | None = None
) -> AsyncIterator[bytes]:
    """``\\n`` every few seconds until the run ends, then its output (as LangGraph Server).
    ``joined``: the run as a join found it (finished, it may since have been reset)."""
    runs = await run_store(state)
    if joined is not None:
        async for _ in until_rerun_claims(state, runs, joined):
            yield b"\n"
    async for _ in until_final(runs, state.notifier, run_id):
        yield b"\n"
    found = await runs.output(run_id)
    output = found[1] if found is not None else None
    yield (output if output is not None else "{}").encode()


async def stream_body(
    state: State,
    run_id: UUID,
    modes: list[str] | None,
    after: int = 0,
    joined: dict[str, Any] | None = None,
) -> AsyncIterator[bytes]:
    """The run's events as SSE, from after ``after`` until it ends (``joined``: as for
    :func:`wait_body`)."""
    runs = await run_store(state)
    if joined is not None:
        async for _ in until_rerun_claims(state, runs, joined):
            yield HEARTBEAT
    passes = mode_filter(modes)
    view = MessageView(modes)
    if view.whole and after > 0:
        # Whole messages so far: replay the tokens before the rejoin point, unsent.
        for earlier in await runs.events_after(run_id, 0, limit=after):
            if earlier.seq <= after and passes(earlier.event):
                list(view.render(earlier))
    async for event in follow(runs, state.notifier, run_id, after):
        if event is None:
            yield HEARTBEAT
            continue
        if not passes(event.event):
            continue
        rendered = list(view.render(event))
        for n, (name, data) in enumerate(rendered, start=1):
            # One stored event may become two (messages/metadata, then the message):
            # only the last carries the id, so a resume never lands between them.
            yield sse(name, data, event.seq if n == len(rendered) else None)


Work = Callable[[], Coroutine[Any, Any, Any]]


def around(
    body: AsyncIterator[bytes], *, at_end: Work | None = None, on_leave: Work | None = None
) -> AsyncIterator[bytes]:
    """``body``, then ``at_end`` once it has all been sent; ``on_leave`` when the client
    leaves before (in a task of its own: the request's is being cancelled)."""

    async def watched() -> AsyncIterator[bytes]:
        finished = False
        try:
            async for chunk in body:
                yield chunk
            finished = True
        finally:
            if finished and at_end is not None:
                await at_end()
            elif not finished and on_leave is not None:
                _after_leaving(on_leave())

    return watched()


_LEFT_BEHIND: set[asyncio.Task[Any]] = set()


def _after_leaving(work: Coroutine[Any, Any, Any]) -> None:
    """``work`` done for a client that has gone (nobody to tell if it cannot be done:
    the run ended meanwhile, or was deleted)."""

    async def quietly() -> None:
        try:
            await work
        except (HTTPException, TempographError):
            pass
        except Exception:  # nobody is there to answer: the log says it
            logger.warning("could not act for a client that left", exc_info=True)

    task = asyncio.get_running_loop().create_task(quietly())
    _LEFT_BEHIND.add(task)
    task.add_done_callback(_LEFT_BEHIND.discard)
