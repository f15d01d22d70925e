"""A graph that never stops by itself: ping and pong call each other forever."""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    hops: Annotated[int, operator.add]


def ping(state: State) -> dict:
    return {"hops": 1}


def pong(state: State) -> dict:
    return {"hops": 1}


def again(state: State) -> str:
    return "ping"


builder = StateGraph(State)
builder.add_node("ping", ping)
builder.add_node("pong", pong)
builder.add_edge(START, "ping")
builder.add_edge("ping", "pong")
builder.add_conditional_edges("pong", again, ["ping"])
graph = builder.compile()


class Trail(TypedDict, total=False):
    target: int
    trail: Annotated[list[int], operator.add]


def step(state: Trail) -> dict:
    return {"trail": [len(state.get("trail") or [])]}


def more(state: Trail) -> str:
    return "step" if len(state["trail"]) < state["target"] else END


# Loops until its trail holds `target` entries (one per step): a long run that ends.
until = StateGraph(Trail)
until.add_node("step", step)
until.add_edge(START, "step")
until.add_conditional_edges("step", more, ["step", END])
until_graph = until.compile()
