"""The graphs bench/api.py drives on both servers; plain LangGraph, no Tempograph imports.

``chain3``: three trivial nodes in a row, so a run is all server overhead.
``approval``: a node that waits at ``interrupt("ok?")``, then one more node.
"""

from __future__ import annotations

import operator
from typing import Annotated, NotRequired

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict


# TypedDict from typing_extensions: pydantic (input schemas) refuses typing's before 3.12.
class State(TypedDict):
    path: Annotated[list[str], operator.add]
    answer: NotRequired[str]


def a(state: State) -> dict[str, list[str]]:
    return {"path": ["a"]}


def b(state: State) -> dict[str, list[str]]:
    return {"path": ["b"]}


def c(state: State) -> dict[str, list[str]]:
    return {"path": ["c"]}


def ask(state: State) -> dict[str, object]:
    answer = interrupt("ok?")
    return {"path": ["ask"], "answer": str(answer)}


def done(state: State) -> dict[str, list[str]]:
    return {"path": ["done"]}


chain3 = (
    StateGraph(State)
    .add_node("a", a)
    .add_node("b", b)
    .add_node("c", c)
    .add_edge(START, "a")
    .add_edge("a", "b")
    .add_edge("b", "c")
    .add_edge("c", END)
    .compile()
)

approval = (
    StateGraph(State)
    .add_node("ask", ask)
    .add_node("done", done)
    .add_edge(START, "ask")
    .add_edge("ask", "done")
    .add_edge("done", END)
    .compile()
)
