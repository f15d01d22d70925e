"""A chat graph whose state outgrows Temporal's payload limit: three nodes each append one
message of ``BIG_MESSAGE_CHARS`` characters to a conversation of ``BIG_HISTORY`` messages
(``BIG_*`` environment variables; about 700 KB of state by default)."""

from __future__ import annotations

import os

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph


def _size() -> tuple[int, int]:
    return int(os.environ.get("BIG_HISTORY", "1200")), int(
        os.environ.get("BIG_MESSAGE_CHARS", "500")
    )


def seed(state: MessagesState) -> dict:
    history, chars = _size()
    if state["messages"]:
        return {
            "messages": [
                HumanMessage(f"again ({len(state['messages'])})", id=f"h-{len(state['messages'])}")
            ]
        }
    return {
        "messages": [
            (HumanMessage if i % 2 == 0 else AIMessage)(f"{i:05d} " + "x" * chars, id=f"m-{i}")
            for i in range(history)
        ]
    }


def reply(state: MessagesState) -> dict:
    _, chars = _size()
    count = len(state["messages"])
    return {"messages": [AIMessage(f"reply to {count} messages " + "y" * chars, id=f"r-{count}")]}


def summarize(state: MessagesState) -> dict:
    total = sum(len(str(m.content)) for m in state["messages"])
    return {
        "messages": [
            AIMessage(
                f"{len(state['messages'])} messages, {total} characters",
                id=f"s-{len(state['messages'])}",
            )
        ]
    }


builder = StateGraph(MessagesState)
builder.add_node("seed", seed)
builder.add_node("reply", reply)
builder.add_node("summarize", summarize)
builder.add_edge(START, "seed")
builder.add_edge("seed", "reply")
builder.add_edge("reply", "summarize")
graph = builder.compile()
