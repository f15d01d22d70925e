"""Graphs at real-world sizes: a chat of three nodes, a chain of twenty, a big document.

``chat``: each node appends one message (``SIZE_CHARS`` characters, default 500) to a
``MessagesState`` conversation. ``chain20``: twenty nodes in a row, each appending a short
message. ``document``: a node that returns a document of ``DOC_BYTES`` (default 10 MB).
``too_big``: a node that returns one value past the store's cap. ``ask_first``: a graph
that stops at ``interrupt()`` in its first node. ``map_docs``: a map-reduce, one
``Send`` per document (``n`` of ``size`` characters each), then a node that sums them.
``echo_big``: one node answering with a message of as many characters as the last
message says, without an id (``add_messages`` gives it one), the same bytes every time.
``react``: LangGraph's prebuilt ReAct agent (it sends each tool call with the whole
state), whose scripted model calls ``add`` eight times a turn, then answers.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import create_react_agent
from langgraph.types import Send, interrupt


def _chars() -> int:
    return int(os.environ.get("SIZE_CHARS", "500"))


def _say(name: str):  # type: ignore[no-untyped-def]
    def node(state: MessagesState) -> dict:
        count = len(state["messages"])
        return {"messages": [AIMessage(f"{name} saw {count} " + "z" * _chars())]}

    node.__name__ = name
    return node


chat_builder = StateGraph(MessagesState)
previous = START
for name in ("listen", "think", "answer"):
    chat_builder.add_node(name, _say(name))
    chat_builder.add_edge(previous, name)
    previous = name
chat = chat_builder.compile()

chain_builder = StateGraph(MessagesState)
previous = START
for index in range(20):
    name = f"n{index:02d}"
    chain_builder.add_node(name, _say(name))
    chain_builder.add_edge(previous, name)
    previous = name
chain20 = chain_builder.compile()


class DocState(TypedDict, total=False):
    messages: Annotated[list, add_messages]
    doc: str
    size: int


def fetch(state: DocState) -> dict:
    size = int(os.environ.get("DOC_BYTES", str(10 * 1024 * 1024)))
    return {"doc": "d" * size}


def measure(state: DocState) -> dict:
    return {"size": len(state["doc"]), "messages": [AIMessage(f"read {len(state['doc'])}")]}


doc_builder = StateGraph(DocState)
doc_builder.add_node("fetch", fetch)
doc_builder.add_node("measure", measure)
doc_builder.add_edge(START, "fetch")
doc_builder.add_edge("fetch", "measure")
document = doc_builder.compile()


def overflow(state: DocState) -> dict:
    """One byte more than a single value may be (tempograph.valuestore.MAX_VALUE_BYTES)."""
    return {"doc": "x" * (256 * 1024 * 1024 + 1)}


too_big_builder = StateGraph(DocState)
too_big_builder.add_node("overflow", overflow)
too_big_builder.add_node("measure", measure)
too_big_builder.add_edge(START, "overflow")
too_big_builder.add_edge("overflow", "measure")
too_big = too_big_builder.compile()


class NotesState(TypedDict, total=False):
    notes: Annotated[list[str], operator.add]
    answer: str


def ask(state: NotesState) -> dict:
    """Stops for an answer first thing, with whatever the input put in ``notes``."""
    return {"answer": interrupt({"notes": len(state.get("notes", []))})}


def note(state: NotesState) -> dict:
    return {"notes": [f"answered {state['answer']}"]}


ask_builder = StateGraph(NotesState)
ask_builder.add_node("ask", ask)
ask_builder.add_node("note", note)
ask_builder.add_edge(START, "ask")
ask_builder.add_edge("ask", "note")
ask_first = ask_builder.compile()


class MapState(TypedDict, total=False):
    n: int
    size: int
    lengths: Annotated[list[int], operator.add]
    total: int


def split(state: MapState) -> list[Send]:
    return [Send("read", {"doc": f"{i:03d}" + "m" * state["size"]}) for i in range(state["n"])]


def read(arg: dict) -> dict:
    return {"lengths": [len(arg["doc"])]}


def reduce_lengths(state: MapState) -> dict:
    return {"total": sum(state["lengths"])}


map_builder = StateGraph(MapState)
map_builder.add_node("read", read)
map_builder.add_node("reduce", reduce_lengths)
map_builder.add_conditional_edges(START, split, ["read"])
map_builder.add_edge("read", "reduce")
map_docs = map_builder.compile()


def echo(state: MessagesState) -> dict:
    return {"messages": [AIMessage("x" * int(state["messages"][-1].content))]}


echo_builder = StateGraph(MessagesState)
echo_builder.add_node("echo", echo)
echo_builder.add_edge(START, "echo")
echo_big = echo_builder.compile()


class _Scripted(GenericFakeChatModel):
    """Calls ``add`` until this turn has eight results, then answers with their sum."""

    messages: Iterator[Any] = iter(())

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        asked = max(i for i, m in enumerate(messages) if isinstance(m, HumanMessage))
        results = [m for m in messages[asked:] if isinstance(m, ToolMessage)]
        step = f"ai-{len(messages)}"
        if len(results) < 8:
            call = {"name": "add", "args": {"a": len(results), "b": 1}, "id": f"c{len(messages)}"}
            reply = AIMessage("", id=step, tool_calls=[call])
        else:
            reply = AIMessage(f"sum {sum(int(m.content) for m in results)}", id=step)
        return ChatResult(generations=[ChatGeneration(message=reply)])


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


react = create_react_agent(_Scripted(), [add])
