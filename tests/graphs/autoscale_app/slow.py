"""One node that takes a second: enough of them at once make a backlog for the
autoscaler test (tests/integration/test_autoscale.py)."""

from __future__ import annotations

import asyncio
from typing import TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    n: int
    done: bool


async def work(state: State) -> State:
    await asyncio.sleep(1)
    return {"done": True}


builder = StateGraph(State)
builder.add_node("work", work)
builder.add_edge(START, "work")
builder.add_edge("work", END)
graph = builder.compile()
