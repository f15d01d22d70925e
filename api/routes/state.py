"""A thread's state, history, state updates and copies.

Checkpoints live in Postgres (:mod:`tempograph.checkpoints`), so these read and write
them with LangGraph's own ``aget_state``, ``aget_state_history`` and ``aupdate_state`` on
the thread's graph: every checkpoint of the thread, not only recent ones. A state update
takes the thread as a run would (it waits behind nothing, and runs that arrive meanwhile
queue behind it); the thread row keeps the summary (status, values, interrupts) that
search and ``GET /threads/{id}`` show.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Body, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from tempograph.api.audit import note
from tempograph.api.auth import authorize, tenant
from tempograph.api.deps import State
from tempograph.api.routes.threads import thread_uuid
from tempograph.api.services.checks import allowed_thread
from tempograph.api.services.closed import thread_graph
from tempograph.api.services.runs import signal_cancel
from tempograph.api.snapshots import json_response, jsonable, snapshot_json
from tempograph.api.state import AppState
from tempograph.api.storage.threads import ThreadStore, values_columns
from tempograph.api.strict_json import StrictJSONRoute
from tempograph.crypto import seal_json_text
from tempograph.run_ends import hand_off
from tempograph.runs import IN_FLIGHT, settle
from tempograph.starter import RunStarter
from tempograph.temporal.determinism import checkpoint_floor
from tempograph.workflows.jsonable import dumps
from tempograph.workflows.types import CancelReason

router = APIRouter(route_class=StrictJSONRoute, prefix="/threads", tags=["threads"])

_EMPTY_STATE: dict[str, Any] = {
    "values": {},
    "next": [],
    "tasks": [],
    "checkpoint": None,
    "parent_checkpoint": None,
    "metadata": None,
    "created_at": None,
    "interrupts": [],
}
# How long a state update waits for a run waiting at an interrupt to give the thread up.
_RELEASE_WAIT = 30.0


class StateCheckpointBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checkpoint: dict[str, Any]
    subgraphs: bool = False


class StateUpdateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    values: dict[str, Any] | list[Any] | None = None
    as_node: str | None = None
    checkpoint: dict[str, Any] | None = None
    checkpoint_id: str | None = None


class HistoryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(10, ge=1, le=1000)
    before: str | dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None
    select: list[str] | None = None


async def _thread(
    state: AppState, thread_id: str, action: str = "read"
) -> tuple[UUID, dict[str, Any]]:
    tid = thread_uuid(thread_id)
    return tid, await allowed_thread(state, tid, action)


def _checkpoint_id(value: Any, field: str = "") -> str | None:
    """A checkpoint id given as itself, as a checkpoint (``{"checkpoint_id": ...}``) or
    as a config (``{"configurable": {"checkpoint_id": ...}}``). ``field``: a dict without
    an id is refused, naming the field (a checkpoint may otherwise name only a namespace)."""
    if value is None:
        return None
    if isinstance(value, dict):
        if isinstance(value.get("configurable"), dict):
            value = value["configurable"]
        value = value.get("checkpoint_id")
        if value is None:
            if field:
                raise HTTPException(
                    422, f"{field} must be a checkpoint id or a checkpoint with a checkpoint_id"
                )
            return None
    text = str(value)
    try:
        UUID(text)
    except ValueError:
        raise HTTPException(422, f"Invalid checkpoint ID {text!r}: must be a UUID") from None
    return text


def _config(thread_id: UUID, checkpoint_id: str | None, namespace: str = "") -> Any:
    conf: dict[str, Any] = {"thread_id": str(thread_id), "checkpoint_ns": namespace}
    if checkpoint_id is not None:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


_CHECKPOINT_KEYS = {"thread_id", "checkpoint_ns", "checkpoint_id", "checkpoint_map"}


def _namespace(checkpoint: dict[str, Any] | None) -> str:
    """A subgraph's ``checkpoint_ns`` in a request's ``checkpoint`` ("" for the graph's);
    a ``checkpoint`` with other keys is refused (it would silently mean the head)."""
    unknown = sorted(set(checkpoint or {}) - _CHECKPOINT_KEYS)
    if unknown:
        raise HTTPException(
            422,
            f"checkpoint has unknown keys {unknown}: it takes {sorted(_CHECKPOINT_KEYS)}",
        )
    namespace = (checkpoint or {}).get("checkpoint_ns") or ""
    if not isinstance(namespace, str):
        raise HTTPException(422, "checkpoint.checkpoint_ns must be a string")
    return namespace


def _found(snapshot: Any) -> bool:
    """Whether ``aget_state`` found a checkpoint: for one it does not find, LangGraph
    returns an empty snapshot that echoes the config it was asked for."""
    return snapshot.created_at is not None


async def _state(
    state: AppState,
    thread_id: str,
    checkpoint_id: str | None,
    subgraphs: bool = False,
    namespace: str = "",
) -> Response:
    tid, thread = await _thread(state, thread_id)
    graph = await thread_graph(state, thread)
    if graph is None:  # no run yet: no checkpoint either
        if checkpoint_id is not None:
            raise HTTPException(404, f"Thread {tid} has no checkpoint {checkpoint_id}")
        return json_response(dict(_EMPTY_STATE))
    # A subgraph's namespace: LangGraph finds the subgraph and reads its checkpoints (an
    # unknown one reads as empty, as in LangGraph).
    snapshot = await graph.aget_state(_config(tid, checkpoint_id, namespace), subgraphs=subgraphs)
    if not _found(snapshot):
        if checkpoint_id is not None:
            raise HTTPException(404, f"Thread {tid} has no checkpoint {checkpoint_id}")
        return json_response(dict(_EMPTY_STATE))
    return json_response(snapshot_json(str(tid), snapshot))


@router.get("/{thread_id}/state")
async def get_state(thread_id: str, state: State, subgraphs: bool = False) -> Response:
    return await _state(state, thread_id, None, subgraphs)


@router.get("/{thread_id}/state/{checkpoint_id}")
async def get_state_at(
    thread_id: str, checkpoint_id: str, state: State, subgraphs: bool = False
) -> Response:
    return await _state(state, thread_id, _checkpoint_id(checkpoint_id), subgraphs)


@router.post("/{thread_id}/state/checkpoint")
async def get_state_at_checkpoint(
    thread_id: str, body: StateCheckpointBody, state: State
) -> Response:
    return await _state(
        state,
        thread_id,
        _checkpoint_id(body.checkpoint),
        body.subgraphs,
        _namespace(body.checkpoint),
    )


async def _take_thread(state: AppState, tid: UUID) -> str:
    """Hold the thread for a state update: refused while a run is in flight; a run
    waiting at an interrupt is asked to give the thread up first."""
    token = f"update:{uuid4()}"
    pool = await state.database.pool()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _RELEASE_WAIT
    asked = False
    while True:
        async with pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT run_workflow_id FROM threads WHERE thread_id = $1 FOR UPDATE", tid
            )
            if row is None:
                raise HTTPException(404, f"Thread {tid} not found")
            busy = await conn.fetch(
                "SELECT run_id FROM runs WHERE thread_id = $1 AND status = ANY($2::text[])",
                tid,
                IN_FLIGHT,
            )
            if busy:
                raise HTTPException(
                    409, f"Thread {tid} has in-flight runs: {[str(r['run_id']) for r in busy]}"
                )
            holder = row["run_workflow_id"]
            if holder is None:
                await conn.execute(
                    "UPDATE threads SET run_workflow_id = $2, updated_at = now()"
                    " WHERE thread_id = $1",
                    tid,
                    token,
                )
                return token
        if holder.startswith("update:") or loop.time() > deadline:
            raise HTTPException(409, f"Thread {tid} is being changed; try again")
        if not asked:
            # A run waiting at an interrupt: it ends, its checkpoints stay.
            await signal_cancel(state, holder, CancelReason.SUPERSEDE)
            asked = True
        await asyncio.sleep(0.05)


async def _give_back(state: AppState, tid: UUID, token: str, snapshot: Any) -> None:
    """Release the thread after an update, recording its new state; a run that queued
    meanwhile starts now."""
    pool = await state.database.pool()
    next_run = None
    async with pool.acquire() as conn, conn.transaction():
        holder = await conn.fetchval(
            "SELECT run_workflow_id FROM threads WHERE thread_id = $1 FOR UPDATE", tid
        )
        if snapshot is not None:
            interrupts = {
                task.id: jsonable(list(task.interrupts))
                for task in snapshot.tasks
                if task.interrupts
            }
            text, stored = await values_columns(snapshot.values, state.values)
            await conn.execute(
                'UPDATE threads SET "values" = $2::jsonb, values_value = $5,'
                " interrupts = $3::jsonb, waiting = $4, error = NULL, state_updated_at = now()"
                " WHERE thread_id = $1",
                tid,
                text,
                seal_json_text(dumps(interrupts)),
                bool(snapshot.next),
                stored,
            )
        if holder == token:
            next_run = await hand_off(conn, tid)
        await settle(conn, tid)
    if next_run is not None:
        await RunStarter(state.temporal, pool, state.task_queue).start(next_run)


@router.post("/{thread_id}/state")
async def update_state(thread_id: str, body: StateUpdateBody, state: State) -> dict[str, Any]:
    tid, thread = await _thread(state, thread_id, "update")
    graph = await thread_graph(state, thread)
    if graph is None:
        raise HTTPException(
            400,
            f"Thread {tid} has no assigned graph ID; run it once or create it with "
            "metadata.graph_id",
        )
    # As LangGraph Server reads them: the checkpoint's id first, then checkpoint_id.
    checkpoint_id = _checkpoint_id(body.checkpoint) or _checkpoint_id(body.checkpoint_id)
    namespace = _namespace(body.checkpoint)  # a subgraph's: LangGraph updates the subgraph
    config = _config(tid, checkpoint_id, namespace)
    # Checkpoints never change: one that is not there is refused before the thread is
    # taken (and touched).
    if checkpoint_id is not None and not _found(await graph.aget_state(config)):
        raise HTTPException(404, f"Thread {tid} has no checkpoint {checkpoint_id}")
    token = await _take_thread(state, tid)
    snapshot = None
    try:
        latest = await graph.aget_state(_config(tid, None, namespace))
        head = latest.config["configurable"].get("checkpoint_id")
        if namespace and head is None:
            raise HTTPException(404, f"Thread {tid} has no checkpoint in {namespace!r}")
        try:
            with checkpoint_floor(head):
                new_config = await graph.aupdate_state(config, body.values, as_node=body.as_node)
        except Exception as err:  # noqa: BLE001 - a bad update is the caller's error
            raise HTTPException(422, f"{type(err).__name__}: {err}") from None
        snapshot = await graph.aget_state(_config(tid, None))
    finally:
        await _give_back(state, tid, token, snapshot)
    checkpoint = {
        "thread_id": str(tid),
        "checkpoint_ns": new_config["configurable"].get("checkpoint_ns", ""),
        "checkpoint_id": new_config["configurable"]["checkpoint_id"],
    }
    return {
        "checkpoint": checkpoint,
        "configurable": checkpoint,
        "checkpoint_id": checkpoint["checkpoint_id"],
    }


async def _history(
    state: AppState,
    thread_id: str,
    limit: int,
    before: str | None,
    metadata: dict[str, Any] | None = None,
    namespace: str = "",
    checkpoint_id: str | None = None,
) -> Response:
    tid, thread = await _thread(state, thread_id)
    graph = await thread_graph(state, thread)
    if graph is None:
        return json_response([])
    history = [
        snapshot_json(str(tid), snapshot)
        async for snapshot in graph.aget_state_history(
            _config(tid, checkpoint_id, namespace),
            filter=metadata or None,
            before=_config(tid, before, namespace) if before else None,
            limit=limit,
        )
    ]
    return json_response(history)


@router.post("/{thread_id}/history")
async def history(
    thread_id: str,
    state: State,
    body: Annotated[HistoryBody, Body(default_factory=HistoryBody)],
) -> Response:
    # As LangGraph Server reads it: the checkpoint's namespace (a subgraph's history),
    # and its id (that checkpoint only).
    return await _history(
        state,
        thread_id,
        body.limit,
        _checkpoint_id(body.before, "before"),
        body.metadata,
        _namespace(body.checkpoint),
        _checkpoint_id(body.checkpoint),
    )


@router.get("/{thread_id}/history")
async def history_get(
    thread_id: str,
    state: State,
    limit: int = Query(10, ge=1, le=1000),
    before: str | None = None,
) -> Response:
    return await _history(state, thread_id, limit, _checkpoint_id(before))


@router.post("/{thread_id}/copy")
async def copy(thread_id: str, state: State) -> dict[str, Any]:
    tid, source = await _thread(state, thread_id)
    pool = await state.database.pool()
    store = ThreadStore(pool, state.values)
    async with pool.acquire() as conn:
        busy = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM runs WHERE thread_id = $1 AND status = ANY($2::text[]))",
            tid,
            IN_FLIGHT,
        )
    if busy:
        raise HTTPException(409, f"Thread {tid} has runs in flight; copy it when they end")
    new_id = uuid4()
    asked: dict[str, Any] = {
        "thread_id": new_id,
        "metadata": dict(source["metadata"]),
        "if_exists": "raise",
    }
    await authorize("threads", "create", asked)
    await store.create(new_id, asked["metadata"], "raise", tenant())
    note(resource_id=str(new_id), source=str(tid))
    await (await state.checkpoints()).acopy_thread(str(tid), str(new_id))
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            'UPDATE threads t SET "values" = s."values", values_value = s.values_value,'
            " interrupts = s.interrupts, error = s.error, waiting = s.waiting,"
            " state_updated_at = now()"
            " FROM threads s WHERE t.thread_id = $1 AND s.thread_id = $2",
            new_id,
            tid,
        )
        await settle(conn, new_id)
    copied = await store.get(new_id)
    assert copied is not None
    return copied
