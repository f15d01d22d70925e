"""Runs: start (background, wait, stream), list, get, delete, join, rejoin, cancel.

An API run is what LangGraph Server calls a run: it ends when the graph stops, also at
an ``interrupt()``, and the resume is a new run. In Tempograph the RunWorkflow waits at
the interrupt instead; the resume reaches it as a signal and the new API run is the
next segment of the same workflow (``workflow_id`` on the run row). Events and the end
of every segment are written to Postgres by the workers; this module only reads them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse

from tempograph.api.deps import State, parse_uuid
from tempograph.api.models import RunCreate
from tempograph.api.routes.threads import drop_thread, thread_uuid
from tempograph.api.run_bodies import around, run_store, stream_body, wait_body
from tempograph.api.services.checks import allowed_thread
from tempograph.api.services.runs import cancel_run, create_run, start_stateless
from tempograph.api.storage.runs import FINAL
from tempograph.api.strict_json import StrictJSONRoute
from tempograph.api.thread_stream import Cursor, thread_events, thread_modes

router = APIRouter(route_class=StrictJSONRoute, tags=["runs"])
# A thread's stream: LangGraph Server counts it among the thread routes (disable_threads).
thread_router = APIRouter(route_class=StrictJSONRoute, tags=["threads"])


class EventStream(StreamingResponse):
    """Documents a route as ``text/event-stream``. The routes build their own response;
    FastAPI's EventSourceResponse would make FastAPI expect a generator endpoint."""

    media_type = "text/event-stream"


# In OpenAPI 3.1 the schema of a text/event-stream response describes one event.
_SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The run's events, as server-sent events",
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "event": {"type": "string"},
                        "data": {"type": "string"},
                        "id": {"type": "string"},
                    },
                    "required": ["event", "data"],
                }
            }
        },
    }
}


def _run_uuid(value: str) -> UUID:
    return parse_uuid(value, "run")


def _headers(thread_id: UUID | None, run: dict[str, Any], tail: str) -> dict[str, str]:
    base = (
        f"/threads/{run['thread_id']}/runs/{run['run_id']}"
        if thread_id is not None
        else f"/runs/{run['run_id']}"
    )
    return {"Location": f"{base}/{tail}", "Content-Location": base}


def _cancel_on_disconnect(
    body: AsyncIterator[bytes], state: State, run: dict[str, Any], cancel: bool
) -> AsyncIterator[bytes]:
    """``body`` (a wait, join or stream), cancelling ``run`` when ``cancel`` and the client
    leaves before the body ends (``on_disconnect="cancel"``, ``cancel_on_disconnect``)."""
    if not cancel:
        return body
    thread_id, run_id = UUID(str(run["thread_id"])), UUID(str(run["run_id"]))
    return around(body, on_leave=lambda: _cancel(state, thread_id, run_id))


def _sse_response(body: AsyncIterator[bytes], headers: dict[str, str]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={**headers, "Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _rejoin_after(state: State, run_id: UUID, value: str | None) -> int:
    """Where a joined stream starts, as in LangGraph Server: without ``Last-Event-ID``,
    at the events still to come; after the given id; ``-`` or ``0``, the whole log."""
    if value is None or not value.strip():
        runs = await run_store(state)
        return await runs.last_seq(run_id)
    return _last_event_id(value)


def _last_event_id(value: str | None) -> int:
    if value is None or value.strip() in ("", "-"):
        return 0
    try:
        return int(value.strip())
    except ValueError:
        raise HTTPException(422, f"Invalid Last-Event-ID {value!r}: expected an event id") from None


IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=256)]


@router.post("/threads/{thread_id}/runs")
async def create_background(
    thread_id: str, body: RunCreate, state: State, response: Response, key: IdempotencyKey = None
) -> dict[str, Any]:
    tid = thread_uuid(thread_id)
    run = await create_run(state, tid, body, key)
    response.headers["Content-Location"] = _headers(tid, run, "")["Content-Location"]
    return run


@router.post("/threads/{thread_id}/runs/wait")
async def create_wait(
    thread_id: str, body: RunCreate, state: State, key: IdempotencyKey = None
) -> StreamingResponse:
    tid = thread_uuid(thread_id)
    run = await create_run(state, tid, body, key)
    return StreamingResponse(
        _cancel_on_disconnect(
            wait_body(state, UUID(run["run_id"])), state, run, body.on_disconnect == "cancel"
        ),
        media_type="application/json",
        headers=_headers(tid, run, "join"),
    )


@router.post(
    "/threads/{thread_id}/runs/stream", response_class=EventStream, responses=_SSE_RESPONSES
)
async def create_stream(
    thread_id: str, body: RunCreate, state: State, key: IdempotencyKey = None
) -> StreamingResponse:
    tid = thread_uuid(thread_id)
    run = await create_run(state, tid, body, key)
    out = stream_body(state, UUID(run["run_id"]), body.modes())
    return _sse_response(
        _cancel_on_disconnect(out, state, run, body.on_disconnect == "cancel"),
        _headers(tid, run, "stream"),
    )


@router.get("/threads/{thread_id}/runs")
async def list_runs(
    thread_id: str,
    state: State,
    limit: int = Query(10, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    status: Literal["pending", "running", "error", "success", "timeout", "interrupted"]
    | None = None,
) -> list[dict[str, Any]]:
    tid = thread_uuid(thread_id)
    await allowed_thread(state, tid)
    runs = await run_store(state)
    return await runs.list_runs(tid, limit, offset, status)


async def _existing(
    state: State, thread_id: UUID, run_id: UUID, action: str = "read"
) -> dict[str, Any]:
    """The run, when the caller may ``action`` its thread."""
    await allowed_thread(state, thread_id, action, {"thread_id": thread_id, "run_id": run_id})
    runs = await run_store(state)
    run = await runs.get(thread_id, run_id)
    if run is None:
        raise HTTPException(404, f"Run {run_id} not found on thread {thread_id}")
    return run


@router.get("/threads/{thread_id}/runs/{run_id}")
async def get_run(thread_id: str, run_id: str, state: State) -> dict[str, Any]:
    return await _existing(state, thread_uuid(thread_id), _run_uuid(run_id))


@router.get("/threads/{thread_id}/runs/{run_id}/attempts")
async def run_attempts(thread_id: str, run_id: str, state: State) -> list[dict[str, Any]]:
    """Tempograph's: the run's node attempts (node, attempt, times, outcome, error), in the
    order they started; the console draws its timeline from them."""
    await _existing(state, thread_uuid(thread_id), _run_uuid(run_id))
    runs = await run_store(state)
    return await runs.attempts(_run_uuid(run_id))


@router.delete("/threads/{thread_id}/runs/{run_id}", status_code=204)
async def delete_run(thread_id: str, run_id: str, state: State) -> Response:
    run = await _existing(state, thread_uuid(thread_id), _run_uuid(run_id), "delete")
    if run["status"] not in FINAL:
        raise HTTPException(409, f"Run {run_id} is {run['status']}; cancel it before deleting")
    runs = await run_store(state)
    await runs.delete(thread_uuid(thread_id), _run_uuid(run_id))
    return Response(status_code=204)


@router.get("/threads/{thread_id}/runs/{run_id}/join")
async def join(
    thread_id: str, run_id: str, state: State, cancel_on_disconnect: bool = False
) -> StreamingResponse:
    tid, rid = thread_uuid(thread_id), _run_uuid(run_id)
    run = await _existing(state, tid, rid)
    return StreamingResponse(
        _cancel_on_disconnect(wait_body(state, rid, run), state, run, cancel_on_disconnect),
        media_type="application/json",
        headers=_headers(tid, run, "join"),
    )


@router.get(
    "/threads/{thread_id}/runs/{run_id}/stream",
    response_class=EventStream,
    responses=_SSE_RESPONSES,
)
async def join_stream(
    thread_id: str,
    run_id: str,
    request: Request,
    state: State,
    cancel_on_disconnect: bool = False,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    tid, rid = thread_uuid(thread_id), _run_uuid(run_id)
    run = await _existing(state, tid, rid)
    # No stream_mode (the SDK's own reconnect): the modes the run was started with.
    modes = [m for m in request.query_params.getlist("stream_mode") if m] or run["kwargs"].get(
        "stream_mode"
    )
    after = await _rejoin_after(state, rid, last_event_id)
    return _sse_response(
        _cancel_on_disconnect(
            stream_body(state, rid, modes, after, run), state, run, cancel_on_disconnect
        ),
        _headers(tid, run, "stream"),
    )


@thread_router.get(
    "/threads/{thread_id}/stream", response_class=EventStream, responses=_SSE_RESPONSES
)
async def join_thread_stream(
    thread_id: str,
    request: Request,
    state: State,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """The thread's live events across its runs (:mod:`tempograph.api.thread_stream`)."""
    tid = thread_uuid(thread_id)
    await allowed_thread(state, tid)
    modes = thread_modes(request)
    runs = await run_store(state)
    cursor = await Cursor.start(runs, tid, last_event_id)
    return _sse_response(thread_events(runs, state.notifier, tid, modes, cursor), {})


async def _cancel(state: State, thread_id: UUID, run_id: UUID, rollback: bool = False) -> None:
    await cancel_run(state, await _existing(state, thread_id, run_id, "update"), rollback)


@router.post(
    "/threads/{thread_id}/runs/{run_id}/cancel",
    status_code=202,
    response_class=Response,
    responses={
        200: {
            "description": "With wait=true: the run's output once it ends",
            "content": {"application/json": {}},
        }
    },
)
async def cancel(
    thread_id: str,
    run_id: str,
    state: State,
    wait: str = "false",
    action: str = "interrupt",
) -> Response:
    tid, rid = thread_uuid(thread_id), _run_uuid(run_id)
    # An unknown action means interrupt, as in LangGraph Server.
    await _cancel(state, tid, rid, rollback=action == "rollback")
    if wait.lower() not in ("1", "true", "yes"):
        return Response(status_code=202)
    run = await _existing(state, tid, rid)
    return StreamingResponse(
        wait_body(state, rid), media_type="application/json", headers=_headers(tid, run, "join")
    )


# -- stateless runs: a temporary thread ---------------------------------------------------


def _stateless(
    body: AsyncIterator[bytes], state: State, thread_id: UUID, run: dict[str, Any], req: RunCreate
) -> AsyncIterator[bytes]:
    """A stateless run's wait or stream: with ``on_completion="delete"`` its thread is
    erased after it (or, with ``on_disconnect="cancel"``, when the client leaves first:
    erasing stops the run)."""
    cancel = req.on_disconnect == "cancel"
    if req.on_completion != "delete":
        return _cancel_on_disconnect(body, state, run, cancel)

    def drop() -> Coroutine[Any, Any, Any]:
        return drop_thread(state, thread_id)

    return around(body, at_end=drop, on_leave=drop if cancel else None)


@router.post("/runs")
async def create_stateless(
    body: RunCreate, state: State, response: Response, key: IdempotencyKey = None
) -> dict[str, Any]:
    # A background stateless run keeps its thread: nobody is there to see it end.
    _, run = await start_stateless(state, body, key)
    response.headers["Content-Location"] = f"/runs/{run['run_id']}"
    return run


@router.post("/runs/wait")
async def create_stateless_wait(
    body: RunCreate, state: State, key: IdempotencyKey = None
) -> StreamingResponse:
    thread_id, run = await start_stateless(state, body, key)
    out = _stateless(wait_body(state, UUID(run["run_id"])), state, thread_id, run, body)
    return StreamingResponse(
        out, media_type="application/json", headers=_headers(thread_id, run, "join")
    )


@router.post("/runs/stream", response_class=EventStream, responses=_SSE_RESPONSES)
async def create_stateless_stream(
    body: RunCreate, state: State, key: IdempotencyKey = None
) -> StreamingResponse:
    thread_id, run = await start_stateless(state, body, key)
    out = _stateless(
        stream_body(state, UUID(run["run_id"]), body.modes()), state, thread_id, run, body
    )
    return _sse_response(out, _headers(None, run, "stream"))


@router.get("/runs/{run_id}/stream", response_class=EventStream, responses=_SSE_RESPONSES)
async def join_stateless_stream(
    run_id: str,
    request: Request,
    state: State,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    rid = _run_uuid(run_id)
    runs = await run_store(state)
    run = await runs.find(rid)
    if run is None:
        raise HTTPException(404, f"Run {rid} not found")
    try:
        await allowed_thread(state, UUID(run["thread_id"]), "read", {"run_id": rid})
    except HTTPException:
        raise HTTPException(404, f"Run {rid} not found") from None
    # No stream_mode (the SDK's own reconnect): the modes the run was started with.
    modes = [m for m in request.query_params.getlist("stream_mode") if m] or run["kwargs"].get(
        "stream_mode"
    )
    return _sse_response(
        stream_body(state, rid, modes, await _rejoin_after(state, rid, last_event_id)),
        _headers(None, run, "stream"),
    )
