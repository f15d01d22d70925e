"""Conditional edges (sync and async routers) and ``Command(goto=..., update=...)``."""

from __future__ import annotations

import operator
from typing import Annotated, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command


class State(TypedDict, total=False):
    n: int
    path: Annotated[list[str], operator.add]


def classify(state: State) -> dict:
    return {"path": ["classify"]}


def small(state: State) -> dict:
    return {"n": state["n"] + 1, "path": ["small"]}


def big(state: State) -> dict:
    return {"n": state["n"] * 2, "path": ["big"]}


def route_sync(state: State) -> str:
    return "big" if state["n"] >= 10 else "small"


async def route_async(state: State) -> str:
    return "big" if state["n"] >= 10 else "small"


def _router_graph(router: object) -> object:
    builder = StateGraph(State)
    builder.add_node("classify", classify)
    builder.add_node("small", small)
    builder.add_node("big", big)
    builder.add_edge(START, "classify")
    builder.add_conditional_edges("classify", router, ["small", "big"])  # type: ignore[arg-type]
    builder.add_edge("small", END)
    builder.add_edge("big", END)
    return builder.compile()


sync_graph = _router_graph(route_sync)
async_graph = _router_graph(route_async)


def decide(state: State) -> Command[Literal["small", "big"]]:
    # No static edge leaves this node: the Command picks the next node.
    goto = "big" if state["n"] >= 10 else "small"
    return Command(goto=goto, update={"n": state["n"] + 100, "path": [f"decide->{goto}"]})


command_builder = StateGraph(State)
command_builder.add_node("decide", decide)
command_builder.add_node("small", small)
command_builder.add_node("big", big)
command_builder.add_edge(START, "decide")
command_builder.add_edge("small", END)
command_builder.add_edge("big", END)
command_graph = command_builder.compile()
