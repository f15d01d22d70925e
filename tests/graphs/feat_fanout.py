"""``Send`` fan-out: three branches that can only finish if they run at the same time."""

from __future__ import annotations

import asyncio
import operator
from pathlib import Path
from typing import Annotated, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

BRANCHES = 3
# Upper bound on the wait for the other branches; not a timing assumption.
BARRIER_BOUND_SECONDS = 60.0


class BarrierBrokenError(ValueError):
    """A branch waited in vain for the others: branches did not run concurrently."""


class State(TypedDict, total=False):
    topic: str
    results: Annotated[list[str], operator.add]
    done: str


class BranchInput(TypedDict):
    topic: str
    i: int


def plan(state: State) -> dict:
    return {"topic": state["topic"].strip()}


def fan_out(state: State) -> list[Send]:
    return [Send("branch", {"topic": state["topic"], "i": i}) for i in range(BRANCHES)]


def _arrived(barrier: Path) -> int:
    return len(list(barrier.glob("arrived-*")))


async def branch(state: BranchInput, config: RunnableConfig) -> dict:
    """Arrive at a barrier and leave only once every branch has arrived."""
    barrier = Path(config["configurable"]["barrier_dir"])
    await asyncio.to_thread((barrier / f"arrived-{state['i']}").touch)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BARRIER_BOUND_SECONDS
    while await asyncio.to_thread(_arrived, barrier) < BRANCHES:
        if loop.time() > deadline:
            raise BarrierBrokenError(f"branch {state['i']} waited alone")
        await asyncio.sleep(0.02)
    return {"results": [f"{state['topic']}#{state['i']}"]}


def join(state: State) -> dict:
    return {"done": ",".join(sorted(state["results"]))}


builder = StateGraph(State)
builder.add_node("plan", plan)
builder.add_node("branch", branch)
builder.add_node("join", join)
builder.add_edge(START, "plan")
builder.add_conditional_edges("plan", fan_out, ["branch"])
builder.add_edge("branch", "join")
builder.add_edge("join", END)
graph = builder.compile()
