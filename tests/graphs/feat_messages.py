"""Reducers: ``operator.add`` on a list channel and ``add_messages`` on messages."""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    steps: Annotated[list[str], operator.add]
    seen_types: list[str]


def ask_tool(state: State) -> dict:
    call = {"name": "lookup", "args": {"q": state["messages"][-1].content}, "id": "call-1"}
    return {
        "messages": [AIMessage(content="", id="ai-1", tool_calls=[call])],
        "steps": ["ask_tool"],
    }


def tool(state: State) -> dict:
    last = state["messages"][-1]
    assert isinstance(last, AIMessage)
    return {
        "messages": [
            ToolMessage(
                content="42", tool_call_id=last.tool_calls[0]["id"], id="tool-1", name="lookup"
            )
        ],
        "steps": ["tool"],
    }


def answer(state: State) -> dict:
    # Replaces the message with id ai-1 (add_messages merges by id) and appends two.
    return {
        "messages": [
            AIMessage(
                content="looked it up", id="ai-1", tool_calls=state["messages"][1].tool_calls
            ),
            AIMessage(content="the answer is 42", id="ai-2"),
            HumanMessage(content="thanks", id="human-2"),
        ],
        "steps": ["answer"],
    }


def inspect_types(state: State) -> dict:
    return {"seen_types": [type(m).__name__ for m in state["messages"]], "steps": ["inspect"]}


builder = StateGraph(State)
builder.add_node("ask_tool", ask_tool)
builder.add_node("tool", tool)
builder.add_node("answer", answer)
builder.add_node("inspect", inspect_types)
builder.add_edge(START, "ask_tool")
builder.add_edge("ask_tool", "tool")
builder.add_edge("tool", "answer")
builder.add_edge("answer", "inspect")
builder.add_edge("inspect", END)
graph = builder.compile()
