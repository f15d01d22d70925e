"""Human approval: two interrupts in sequence, and two in one node."""

from __future__ import annotations

import operator
from typing import Annotated

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    request: str
    approved: bool
    note: str
    reviewer: str
    log: Annotated[list[str], operator.add]


def draft(state: State) -> dict:
    print("approval: drafting")  # a node's own output (the CLI tests look for it)
    return {"log": [f"draft {state['request']}"]}


def approve(state: State) -> dict:
    answer = interrupt({"question": "approve?", "request": state["request"]})
    return {"approved": bool(answer.get("approved")), "log": ["approve"]}


def review(state: State) -> dict:
    # Two interrupts in one node: LangGraph matches answers by order on re-execution.
    reviewer = interrupt("who reviews?")
    note = interrupt(f"note from {reviewer}?")
    return {"reviewer": reviewer, "note": note, "log": ["review"]}


def route(state: State) -> str:
    return "review" if state.get("approved") else END


builder = StateGraph(State)
builder.add_node("draft", draft)
builder.add_node("approve", approve)
builder.add_node("review", review)
builder.add_edge(START, "draft")
builder.add_edge("draft", "approve")
builder.add_conditional_edges("approve", route, ["review", END])
builder.add_edge("review", END)
graph = builder.compile()
