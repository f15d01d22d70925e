"""Short nodes run as local activities; one fails once and is retried."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

LOCAL = {"tempograph": {"local": True, "retry": {"initial_interval": 0.05}}}


class State(TypedDict, total=False):
    ledger: str
    n: int
    doc: str
    path: Annotated[list[str], operator.add]


def double(state: State) -> dict[str, Any]:
    return {"n": state["n"] * 2, "path": ["double"]}


def flaky(state: State) -> dict[str, Any]:
    ledger = Path(state["ledger"])
    attempts = len(ledger.read_text().splitlines()) if ledger.exists() else 0
    with ledger.open("a") as f:
        f.write("flaky\n")
    if attempts == 0:
        raise ConnectionError("first attempt fails")
    return {"n": state["n"] + 1, "path": ["flaky"]}


async def finish(state: State) -> dict[str, Any]:
    doc = f" doc={len(state['doc'])}" if "doc" in state else ""
    return {"path": [f"n={state['n']}{doc}"]}


builder = StateGraph(State)
builder.add_node("double", double, metadata=LOCAL)
builder.add_node("flaky", flaky, metadata=LOCAL)
builder.add_node("finish", finish, metadata=LOCAL)
builder.add_edge(START, "double")
builder.add_edge("double", "flaky")
builder.add_edge("flaky", "finish")
builder.add_edge("finish", END)
graph = builder.compile()
