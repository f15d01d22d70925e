"""An agent step the operator watches: a chat model call (a fake model that reports token
usage, as providers do), a tool call, a node that fails once before it succeeds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypedDict

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import interrupt


class State(MessagesState, total=False):
    flaky_file: str
    weather: str


def model() -> GenericFakeChatModel:
    reply = AIMessage(
        "It is sunny.",
        usage_metadata={"input_tokens": 1200, "output_tokens": 300, "total_tokens": 1500},
        response_metadata={"model_name": "fake-gpt"},
    )
    return GenericFakeChatModel(messages=iter([reply]))


@tool
def forecast(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def ask(state: State) -> dict[str, Any]:
    answer = model().invoke(state["messages"])
    return {"messages": [answer], "weather": forecast.invoke({"city": "Lisbon"})}


def flaky(state: State) -> dict[str, Any]:
    """Fails its first attempt on this thread (a file remembers), as a transient fault."""
    marker = Path(state["flaky_file"]) if state.get("flaky_file") else None
    if marker is not None and not marker.exists():
        marker.write_text("failed once")
        raise RuntimeError("Transient failure")
    print(f"flaky ran in pid {os.getpid()}")
    return {}


builder = StateGraph(State)
builder.add_node("ask", ask)
builder.add_node("flaky", flaky)
builder.add_edge(START, "ask")
builder.add_edge("ask", "flaky")
builder.add_edge("flaky", END)
graph = builder.compile()


class Refund(TypedDict, total=False):
    amount: int
    decision: Any


def review(state: Refund) -> dict[str, Any]:
    answer = interrupt({"question": f"Send the refund of ${state['amount']}?"})
    return {"decision": answer}


refund = StateGraph(Refund)
refund.add_node("review", review)
refund.add_edge(START, "review")
refund.add_edge("review", END)
refund_graph = refund.compile()
