"""A thread's state, history, state updates and copies.

Checkpoints live with the thread's workflow (Temporal's history makes them durable), so
these read it with queries and change it with updates; the thread row in Postgres keeps
the summary (status, values, interrupts) that search and ``GET /threads/{id}`` show.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Body, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from tempograph.api.deps import State
from tempograph.api.routes.threads import thread_uuid
from tempograph.api.storage.runs import RunStore
from tempograph.api.storage.threads import ThreadStore
from tempograph.workflows.types import HistoryQuery, StateUpdate

router = APIRouter(prefix="/threads", tags=["threads"])

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


class StateCheckpointBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    checkpoint: dict[str, Any] = Field(default_factory=dict)
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


async def _thread(state: State, thread_id: str) -> tuple[UUID, dict[str, Any]]:
    tid = thread_uuid(thread_id)
    found = await ThreadStore(await state.database.pool()).get(tid)
    if found is None:
        raise HTTPException(404, f"Thread {tid} not found")
    return tid, found


def _checkpoint_id(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("checkpoint_id")
        if value is None:
            return None
    text = str(value)
    try:
        UUID(text)
    except ValueError:
        raise HTTPException(422, f"Invalid checkpoint ID {text!r}: must be a UUID") from None
    return text


async def _state(state: State, thread_id: str, checkpoint_id: str | None) -> dict[str, Any]:
    tid, _ = await _thread(state, thread_id)
    found = await state.threads.api_state(str(tid), checkpoint_id)
    if found is None:
        if checkpoint_id is not None:
            raise HTTPException(404, f"Thread {tid} has no checkpoint {checkpoint_id}")
        return dict(_EMPTY_STATE)
    return found


@router.get("/{thread_id}/state")
async def get_state(thread_id: str, state: State, subgraphs: bool = False) -> dict[str, Any]:
    return await _state(state, thread_id, None)


@router.get("/{thread_id}/state/{checkpoint_id}")
async def get_state_at(
    thread_id: str, checkpoint_id: str, state: State, subgraphs: bool = False
) -> dict[str, Any]:
    return await _state(state, thread_id, _checkpoint_id(checkpoint_id))


@router.post("/{thread_id}/state/checkpoint")
async def get_state_at_checkpoint(
    thread_id: str, body: StateCheckpointBody, state: State
) -> dict[str, Any]:
    return await _state(state, thread_id, _checkpoint_id(body.checkpoint))


@router.post("/{thread_id}/state")
async def update_state(thread_id: str, body: StateUpdateBody, state: State) -> dict[str, Any]:
    tid, thread = await _thread(state, thread_id)
    pool = await state.database.pool()
    in_flight = await RunStore(pool).in_flight(tid)
    if in_flight:
        raise HTTPException(409, f"Thread {tid} has in-flight runs: {in_flight}")
    graph_id = thread["metadata"].get("graph_id")
    if graph_id not in state.catalog.graphs:
        raise HTTPException(
            400,
            f"Thread {tid} has no assigned graph ID; run it once or create it with "
            "metadata.graph_id",
        )
    checkpoint_id = _checkpoint_id(body.checkpoint_id) or _checkpoint_id(body.checkpoint)
    new = await state.threads.update_state(
        str(tid),
        StateUpdate(
            values=body.values,
            as_node=body.as_node,
            checkpoint_id=checkpoint_id,
            graph_id=graph_id,
        ),
    )
    interrupts: dict[str, Any] = {
        task["id"]: task["interrupts"] for task in new["tasks"] if task["interrupts"]
    }
    await ThreadStore(pool).set_state(
        tid, "interrupted" if new["next"] else "idle", new["values"], interrupts, None
    )
    checkpoint = new["checkpoint"]
    return {
        "checkpoint": checkpoint,
        "configurable": checkpoint,
        "checkpoint_id": checkpoint["checkpoint_id"],
    }


async def _history(state: State, thread_id: str, query: HistoryQuery) -> list[dict[str, Any]]:
    tid, _ = await _thread(state, thread_id)
    return await state.threads.api_history(str(tid), query)


@router.post("/{thread_id}/history")
async def history(
    thread_id: str,
    state: State,
    body: Annotated[HistoryBody, Body(default_factory=HistoryBody)],
) -> list[dict[str, Any]]:
    if body.checkpoint and body.checkpoint.get("checkpoint_ns"):
        raise HTTPException(422, "history of a subgraph namespace is not supported yet")
    return await _history(
        state,
        thread_id,
        HistoryQuery(
            limit=body.limit, before=_checkpoint_id(body.before), metadata=body.metadata or None
        ),
    )


@router.get("/{thread_id}/history")
async def history_get(
    thread_id: str,
    state: State,
    limit: int = Query(10, ge=1, le=1000),
    before: str | None = None,
) -> list[dict[str, Any]]:
    return await _history(
        state, thread_id, HistoryQuery(limit=limit, before=_checkpoint_id(before))
    )


@router.post("/{thread_id}/copy")
async def copy(thread_id: str, state: State) -> dict[str, Any]:
    tid, source = await _thread(state, thread_id)
    pool = await state.database.pool()
    if await RunStore(pool).in_flight(tid):
        raise HTTPException(409, f"Thread {tid} has runs in flight; copy it when they end")
    store = ThreadStore(pool)
    new_id = uuid4()
    await store.create(new_id, dict(source["metadata"]), "raise")
    await state.threads.copy(str(tid), str(new_id))
    status = source["status"] if source["status"] in ("interrupted", "error") else "idle"
    copied = await store.set_state(
        new_id, status, source["values"], source["interrupts"], source["error"]
    )
    assert copied is not None
    return copied
