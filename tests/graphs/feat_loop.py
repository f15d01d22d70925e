"""Long runs: a graph that never stops by itself (ping and pong call each other forever),
one that loops to a target, one that asks a human on the way, and one that loops in a
subgraph."""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


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


# Loops to `target`, asks a human (interrupt), then takes ten more steps: an interrupt in
# a run that has continued as new, and its resume.
class Asked(TypedDict, total=False):
    target: int
    trail: Annotated[list[int], operator.add]
    answer: str


def ask(state: Asked) -> dict:
    return {"answer": str(interrupt("go on?"))}


def after_step(state: Asked) -> str:
    done = len(state["trail"])
    if done == state["target"] and "answer" not in state:
        return "ask"
    return "step" if done < state["target"] + 10 else END


asking = StateGraph(Asked)
asking.add_node("step", step)
asking.add_node("ask", ask)
asking.add_edge(START, "step")
asking.add_conditional_edges("step", after_step, ["step", "ask", END])
asking.add_edge("ask", "step")
asking_graph = asking.compile()


# The loop above as a subgraph node between two nodes of a parent: a run continues as new
# while the subgraph is midway, and the subgraph goes on from its own checkpoint.
class Outer(TypedDict, total=False):
    target: int
    trail: Annotated[list[int], operator.add]
    log: Annotated[list[str], operator.add]


def before(state: Outer) -> dict:
    return {"log": ["before"]}


def after(state: Outer) -> dict:
    return {"log": [f"after {len(state['trail'])}"]}


outer = StateGraph(Outer)
outer.add_node("before", before)
outer.add_node("loop", until_graph)
outer.add_node("after", after)
outer.add_edge(START, "before")
outer.add_edge("before", "loop")
outer.add_edge("loop", "after")
outer.add_edge("after", END)
outer_graph = outer.compile()
