"""The in-workflow checkpointer: deterministic versions, rows that travel, and loading."""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

from tempograph.workflows.saver import WorkflowSaver
from tempograph.workflows.types import CheckpointBatch
from tempograph.workflows.values import PartTable


class State(TypedDict):
    total: int
    seen: Annotated[list[int], operator.add]


def add(state: State) -> dict[str, Any]:
    return {"total": state["total"] + 1, "seen": [state["total"]]}


def graph() -> Any:
    builder = StateGraph(State)
    builder.add_node("add", add)
    builder.add_edge(START, "add")
    return builder.compile()


CONFIG: Any = {"configurable": {"thread_id": "t"}}


async def run_three(saver: WorkflowSaver) -> Any:
    compiled = graph().copy({"checkpointer": saver})
    for first in (True, False, False):
        await compiled.ainvoke({"total": 0} if first else {}, CONFIG)
    return compiled


def everything(saver: WorkflowSaver) -> tuple[CheckpointBatch, PartTable]:
    found = saver.batch()
    assert found is not None
    return found


async def test_versions_count_up_and_differ_between_branches() -> None:
    saver = WorkflowSaver("t")
    first = saver.get_next_version(None, None)
    assert first.startswith(f"{1:032}.")
    assert saver.get_next_version(f"{7:032}.5", None).startswith(f"{8:032}.")
    # Two branches writing the same channel at the same count get different versions,
    # so a fork's blobs never overwrite the abandoned branch's.
    assert saver.get_next_version(None, None) != first


async def test_what_a_run_writes_rebuilds_the_same_state_and_history() -> None:
    saver = WorkflowSaver("t")
    original = await run_three(saver)
    batch, parts = everything(saver)
    copy = graph().copy({"checkpointer": WorkflowSaver("t", batch, parts)})
    assert (await copy.aget_state(CONFIG)).values == (await original.aget_state(CONFIG)).values
    history = [s.values async for s in copy.aget_state_history(CONFIG)]
    assert history == [s.values async for s in original.aget_state_history(CONFIG)]


async def test_rows_are_sent_until_confirmed_and_loaded_rows_never() -> None:
    saver = WorkflowSaver("t")
    await run_three(saver)
    batch, parts = everything(saver)
    assert batch.checkpoints and batch.blobs
    assert everything(saver)[0].checkpoints == batch.checkpoints  # not confirmed yet
    saver.confirm(batch)
    assert saver.batch() is None
    continued = WorkflowSaver("t", batch, parts)
    assert continued.batch() is None  # loaded rows are in Postgres already
    compiled = graph().copy({"checkpointer": continued})
    assert (await compiled.ainvoke({}, CONFIG)) == {"total": 4, "seen": [0, 1, 2, 3]}
    added, _ = everything(continued)
    assert {c.checkpoint_id for c in added.checkpoints}.isdisjoint(
        {c.checkpoint_id for c in batch.checkpoints}
    )


async def test_unchanged_channels_are_not_written_again() -> None:
    saver = WorkflowSaver("t")
    await run_three(saver)
    batch, _ = everything(saver)
    versions = [(b.channel, b.version) for b in batch.blobs]
    assert len(versions) == len(set(versions))
    # Three runs of one node: "total" and "seen" change at every step, "__start__" only
    # when there is input; nothing is written for a channel a step did not change.
    assert len(batch.blobs) < 3 * len(batch.checkpoints)
