"""A thread's state as LangGraph reports it, computed from the thread's checkpoints."""

from __future__ import annotations

from typing import Any

from workflows.graphs import durable_graph
from workflows.jsonable import to_jsonable
from workflows.saver import ThreadCheckpoints, WorkflowSaver
from workflows.types import ThreadState


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
    saver = WorkflowSaver(thread_id, checkpoints)
    graph = durable_graph(graph_id).workflow_graph.copy({"checkpointer": saver})
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
