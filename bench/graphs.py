"""Trivial chains for the benchmark: all overhead, no work."""

from __future__ import annotations

import operator
from typing import Annotated

from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from typing_extensions import TypedDict


class State(TypedDict):
    count: int
    path: Annotated[list[str], operator.add]


def _step(name: str):  # type: ignore[no-untyped-def]
    def step(state: State) -> dict:
        return {"count": state["count"] + 1, "path": [name]}

    step.__name__ = name
    return step


def chain(length: int, local: bool = False) -> CompiledStateGraph:  # type: ignore[type-arg]
    builder = StateGraph(State)
    previous = START
    metadata = {"tempograph": {"local": True}} if local else None
    for i in range(length):
        name = f"n{i}"
        builder.add_node(name, _step(name), metadata=metadata)
        builder.add_edge(previous, name)
        previous = name
    return builder.compile()


chain3 = chain(3)
chain20 = chain(20)
chain3_local = chain(3, local=True)
chain20_local = chain(20, local=True)
