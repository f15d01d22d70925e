"""approval.py with one node added: a deploy of this must not silently replay old runs."""

from __future__ import annotations

from approval import State, approve, draft, review, route
from langgraph.graph import END, START, StateGraph


def audit(state: State) -> dict:
    return {"log": ["audit"]}


builder = StateGraph(State)
builder.add_node("draft", draft)
builder.add_node("audit", audit)
builder.add_node("approve", approve)
builder.add_node("review", review)
builder.add_edge(START, "draft")
builder.add_edge("draft", "audit")
builder.add_edge("audit", "approve")
builder.add_conditional_edges("approve", route, ["review", END])
builder.add_edge("review", END)
graph = builder.compile()
