"""The in-workflow checkpointer: deterministic versions, and records that travel intact."""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

from tempograph.workflows.saver import ThreadCheckpoints, WorkflowSaver


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
    for _ in range(3):
        await compiled.ainvoke({"total": 0} if not saver.storage else {}, CONFIG)
    return compiled


async def test_versions_count_up_and_differ_between_branches() -> None:
    saver = WorkflowSaver("t")
    first = saver.get_next_version(None, None)
    assert first.startswith(f"{1:032}.")
    assert saver.get_next_version(f"{7:032}.5", None).startswith(f"{8:032}.")
    # Two branches writing the same channel at the same count get different versions,
    # so a fork's blobs never overwrite the abandoned branch's.
    assert saver.get_next_version(None, None) != first


async def test_export_and_load_reproduce_the_same_state_and_history() -> None:
    saver = WorkflowSaver("t")
    original = await run_three(saver)
    copy = graph().copy({"checkpointer": WorkflowSaver("t", saver.export())})
    assert (await copy.aget_state(CONFIG)).values == (await original.aget_state(CONFIG)).values
    history = [s.values async for s in copy.aget_state_history(CONFIG)]
    assert history == [s.values async for s in original.aget_state_history(CONFIG)]


async def test_head_alone_continues_the_thread() -> None:
    saver = WorkflowSaver("t")
    await run_three(saver)
    records = saver.export()
    head = records.head()
    assert [c.checkpoint_id for c in head.checkpoints] == [records.head_id()]
    continued = graph().copy({"checkpointer": WorkflowSaver("t", head)})
    assert (await continued.ainvoke({}, CONFIG)) == {"total": 4, "seen": [0, 1, 2, 3]}


async def test_trimmed_keeps_the_newest_checkpoints_and_their_blobs() -> None:
    saver = WorkflowSaver("t")
    await run_three(saver)
    records = saver.export()
    kept = records.trimmed(2)
    assert len(kept.checkpoints) == 2
    assert {c.checkpoint_id for c in kept.checkpoints} == set(
        sorted(c.checkpoint_id for c in records.checkpoints)[-2:]
    )
    restored = graph().copy({"checkpointer": WorkflowSaver("t", kept)})
    assert (await restored.aget_state(CONFIG)).values == {"total": 3, "seen": [0, 1, 2]}
    assert records.trimmed(100) is records
    merged = ThreadCheckpoints().merged(records)
    assert merged.head_id() == records.head_id()
