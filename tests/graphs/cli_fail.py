"""A graph whose only node fails for good (a non-retryable error)."""

from __future__ import annotations

from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict


class State(TypedDict):
    amount: int


def charge(state: State) -> dict:
    raise ValueError(f"card declined for {state['amount']}")


builder = StateGraph(State)
builder.add_node("charge", charge)
builder.add_edge(START, "charge")
graph = builder.compile()
