"""The answer given without an interrupt id, as a node's activity is handed it: on
LangGraph's own scratchpads (a task's, and one nested under it as a subgraph's is)."""

from __future__ import annotations

from typing import Any

from langgraph._internal._constants import NULL_TASK_ID, RESUME
from langgraph.pregel._algo import _scratchpad

from tempograph.workflows.activity_calls import unconsumed_null_resume


def scratchpads(answer: Any) -> tuple[Any, Any, list[Any]]:
    writes: list[Any] = [(NULL_TASK_ID, RESUME, answer)]
    parent = _scratchpad(None, writes, "task-1", "sub:task-1", None, 1, 10)
    child = _scratchpad(parent, [], "task-2", "sub:task-1|ask:task-2", None, 1, 10)
    return parent, child, writes


def test_the_answer_is_there_until_a_node_takes_it() -> None:
    parent, child, writes = scratchpads("yes")
    assert unconsumed_null_resume(child) == "yes"
    assert unconsumed_null_resume(parent) == "yes"
    assert child.get_null_resume(True) == "yes"  # the first interrupt() takes it
    assert writes == []
    # LangGraph's own peek still says "yes"; the next interrupt() would get nothing.
    assert child.get_null_resume(False) == "yes"
    assert unconsumed_null_resume(child) is None
    assert unconsumed_null_resume(parent) is None


def test_no_answer_and_no_scratchpad() -> None:
    _, child, _ = scratchpads(None)
    assert unconsumed_null_resume(child) is None
    assert unconsumed_null_resume(None) is None
