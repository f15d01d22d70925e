"""A graph whose node calls an HTTP dependency (its URL is in the state): the breaker
tests' dependency fails, then recovers."""

from __future__ import annotations

from typing import TypedDict

import httpx
from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    url: str
    answer: str


def call_api(state: State) -> State:
    reply = httpx.get(state["url"], timeout=10)
    reply.raise_for_status()  # a 503 is the dependency failing: HTTPStatusError
    return {"answer": reply.text}


builder = StateGraph(State)
builder.add_node("call_api", call_api)
builder.add_edge(START, "call_api")
builder.add_edge("call_api", END)
graph = builder.compile()
