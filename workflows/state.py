"""A thread's state as LangGraph reports it, computed from the thread's checkpoints."""

from __future__ import annotations

from typing import Any

from tempograph.workflows import ids
from tempograph.workflows.graphs import durable_graph
from tempograph.workflows.jsonable import to_jsonable
from tempograph.workflows.saver import ThreadCheckpoints, WorkflowSaver
from tempograph.workflows.types import HistoryQuery, StateUpdate, ThreadState
from temporalio.exceptions import ApplicationError


def describe(
    thread_id: str,
    status: str,
    graph_id: str | None,
    checkpoints: ThreadCheckpoints,
    run_id: str | None,
    history: bool,
) -> ThreadState:
    """Values, next nodes and pending interrupts of the thread's newest checkpoint."""
    if graph_id is None or not checkpoints.checkpoints:
        return ThreadState(thread_id, status, {}, [], [], None, run_id)
    graph = _graph(thread_id, graph_id, checkpoints)
    config: Any = {"configurable": {"thread_id": thread_id}}
    snapshot = graph.get_state(config)
    past: list[dict[str, Any]] = []
    if history:
        for item in graph.get_state_history(config):
            past.append(
                {
                    "checkpoint_id": item.config["configurable"]["checkpoint_id"],
                    "parent_checkpoint_id": (item.parent_config or {})
                    .get("configurable", {})
                    .get("checkpoint_id"),
                    "step": (item.metadata or {}).get("step"),
                    "source": (item.metadata or {}).get("source"),
                    "values": to_jsonable(item.values),
                    "next": list(item.next),
                    "created_at": item.created_at,
                }
            )
    return ThreadState(
        thread_id=thread_id,
        status=status,
        values=to_jsonable(snapshot.values),
        next=list(snapshot.next),
        interrupts=to_jsonable(list(snapshot.interrupts)),
        checkpoint_id=snapshot.config["configurable"].get("checkpoint_id"),
        run_id=run_id,
        history=past,
    )


def _graph(thread_id: str, graph_id: str, checkpoints: ThreadCheckpoints) -> Any:
    saver = WorkflowSaver(thread_id, checkpoints)
    return durable_graph(graph_id).workflow_graph.copy({"checkpointer": saver})


def _checkpoint(thread_id: str, config: Any) -> dict[str, Any] | None:
    if not config:
        return None
    conf = config.get("configurable", {})
    out = {
        "thread_id": thread_id,
        "checkpoint_ns": conf.get("checkpoint_ns", ""),
        "checkpoint_id": conf.get("checkpoint_id"),
    }
    if conf.get("checkpoint_map"):
        out["checkpoint_map"] = conf["checkpoint_map"]
    return out


def snapshot_json(thread_id: str, snapshot: Any) -> dict[str, Any]:
    """A LangGraph ``StateSnapshot`` as LangGraph Server's ThreadState."""
    checkpoint = _checkpoint(thread_id, snapshot.config)
    parent = _checkpoint(thread_id, snapshot.parent_config)
    tasks = [
        {
            "id": task.id,
            "name": task.name,
            "path": to_jsonable(list(task.path)),
            "error": repr(task.error) if task.error is not None else None,
            "interrupts": to_jsonable(list(task.interrupts)),
            "checkpoint": _checkpoint(thread_id, task.state)
            if isinstance(task.state, dict)
            else None,
            "state": None,
            "result": to_jsonable(task.result),
        }
        for task in snapshot.tasks
    ]
    metadata = to_jsonable(dict(snapshot.metadata or {}))
    if metadata.get("checkpoint_ns") == "":
        del metadata["checkpoint_ns"]
    return {
        "values": to_jsonable(snapshot.values),
        "next": list(snapshot.next),
        "tasks": tasks,
        "checkpoint": checkpoint,
        "parent_checkpoint": parent,
        "metadata": metadata,
        "created_at": snapshot.created_at,
        "interrupts": to_jsonable(list(snapshot.interrupts)),
        "checkpoint_id": checkpoint["checkpoint_id"] if checkpoint else None,
        "parent_checkpoint_id": parent["checkpoint_id"] if parent else None,
    }


def api_state(
    thread_id: str, graph_id: str, checkpoints: ThreadCheckpoints, checkpoint_id: str | None
) -> dict[str, Any] | None:
    """The thread's state (or the one at ``checkpoint_id``); None if there is no such one."""
    if not checkpoints.checkpoints:
        return None
    conf: dict[str, Any] = {"thread_id": thread_id}
    if checkpoint_id is not None:
        conf["checkpoint_id"] = checkpoint_id
    snapshot = _graph(thread_id, graph_id, checkpoints).get_state({"configurable": conf})
    if (
        checkpoint_id is not None
        and snapshot.config.get("configurable", {}).get("checkpoint_id") != checkpoint_id
    ):
        return None
    return snapshot_json(thread_id, snapshot)


def api_history(
    thread_id: str, graph_id: str, checkpoints: ThreadCheckpoints, query: HistoryQuery
) -> list[dict[str, Any]]:
    """Checkpoints newest first, as LangGraph's ``get_state_history`` lists them."""
    if not checkpoints.checkpoints:
        return []
    graph = _graph(thread_id, graph_id, checkpoints)
    before = (
        {"configurable": {"thread_id": thread_id, "checkpoint_id": query.before}}
        if query.before
        else None
    )
    history = graph.get_state_history(
        {"configurable": {"thread_id": thread_id}},
        filter=query.metadata or None,
        before=before,
        limit=query.limit,
    )
    return [snapshot_json(thread_id, s) for s in history]


async def update(
    thread_id: str, graph_id: str, checkpoints: ThreadCheckpoints, request: StateUpdate
) -> ThreadCheckpoints:
    """Apply ``request`` with LangGraph's ``aupdate_state``; the new records (workflow only)."""
    saver = WorkflowSaver(thread_id, checkpoints)
    ids.set_floor(checkpoints.head_id())
    graph = durable_graph(graph_id).workflow_graph.copy({"checkpointer": saver})
    conf: dict[str, Any] = {"thread_id": thread_id}
    if request.checkpoint_id is not None:
        conf["checkpoint_id"] = request.checkpoint_id
    try:
        await graph.aupdate_state({"configurable": conf}, request.values, as_node=request.as_node)
    except Exception as err:  # noqa: BLE001 - a bad update is the caller's error
        raise ApplicationError(f"{type(err).__name__}: {err}", type="InvalidRequest") from None
    return saver.export_new()
