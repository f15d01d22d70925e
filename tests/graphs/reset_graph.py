"""A three-node chain whose middle node reads a file (``mark`` in the state): a test
changes the file before resetting a finished run to that node, so the re-executed
branch is told apart from the first one by its values. The middle node fails while the
file says ``fail`` (a broken tool, fixed before the operator's reset)."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Annotated, TypedDict

from langgraph.graph import START, StateGraph


class State(TypedDict, total=False):
    mark: str
    steps: Annotated[list[str], operator.add]


def first(state: State) -> dict:
    return {"steps": ["first"]}


def middle(state: State) -> dict:
    text = Path(state["mark"]).read_text()
    if text == "fail":
        raise RuntimeError("the tool is broken")
    return {"steps": [f"middle read {text}"]}


def last(state: State) -> dict:
    return {"steps": ["last"]}


builder = StateGraph(State)
builder.add_node("first", first)
builder.add_node("middle", middle)
builder.add_node("last", last)
builder.add_edge(START, "first")
builder.add_edge("first", "middle")
builder.add_edge("middle", "last")
graph = builder.compile()
