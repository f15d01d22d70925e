"""The in-workflow checkpointer: deterministic versions, rows that travel, and loading."""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

from tempograph.checkpoint_rows import rows_to_params
from tempograph.crypto import unsealed
from tempograph.workflows.saver import WorkflowSaver, next_version
from tempograph.workflows.types import BlobRow, CheckpointBatch, WriteRow
from tempograph.workflows.values import PartTable, encode, pack


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
    assert first.startswith("0000000001.") and len(first) == 19
    assert saver.get_next_version("0000000007.0000abcd", None).startswith("0000000008.")
    # String order is the counter's order, past a power of ten too.
    assert saver.get_next_version("0000000009.ffffffff", None) > "0000000009.ffffffff"
    assert next_version(None, 0.999999) < next_version("0000000001.00000000", 0.0)
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


def test_rows_keep_one_per_key_as_inserts_one_after_another_would() -> None:
    # One statement cannot insert a key twice: the rows are reduced first, keeping what
    # the inserts would leave (a task's write stays the first; a special write, negative
    # index, is overwritten by the last).
    table = PartTable()
    first, second = encode("first", table), encode("second", table)
    rows = [
        WriteRow("", "cp", "task", index, "channel", value)
        for index in (0, -3)
        for value in (first, second)
    ]
    blobs = [BlobRow("", "channel", "0000000001.00000000", v) for v in (first, second)]
    _, blob_params, write_params = rows_to_params(CheckpointBatch("t", blobs=blobs, writes=rows))
    # (values are sealed at rest: the test session has a key)
    assert [(w[4], unsealed(w[6])) for w in write_params] == [
        (0, pack(first)),
        (-3, pack(second)),
    ]
    assert [unsealed(b[4]) for b in blob_params] == [pack(first)]
