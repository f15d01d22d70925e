"""A compiled subgraph added as a node of a parent graph."""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    text: str
    trail: Annotated[list[str], operator.add]


def inner_a(state: State) -> dict:
    return {"text": state["text"] + " a", "trail": ["sub.inner_a"]}


def inner_b(state: State) -> dict:
    return {"text": state["text"].upper(), "trail": ["sub.inner_b"]}


sub_builder = StateGraph(State)
sub_builder.add_node("inner_a", inner_a)
sub_builder.add_node("inner_b", inner_b)
sub_builder.add_edge(START, "inner_a")
sub_builder.add_edge("inner_a", "inner_b")
sub_builder.add_edge("inner_b", END)
subgraph = sub_builder.compile()


def prep(state: State) -> dict:
    return {"text": f"<{state['text']}>", "trail": ["prep"]}


def post(state: State) -> dict:
    return {"text": state["text"] + "!", "trail": ["post"]}


builder = StateGraph(State)
builder.add_node("prep", prep)
builder.add_node("sub", subgraph)
builder.add_node("post", post)
builder.add_edge(START, "prep")
builder.add_edge("prep", "sub")
builder.add_edge("sub", "post")
builder.add_edge("post", END)
graph = builder.compile()
