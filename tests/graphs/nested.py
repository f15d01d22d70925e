"""Subgraphs with human-in-the-loop inside (two questions in a row): one added as a node
(its state nests in the parent's), one invoked from inside a node function (it needs the
node's checkpointer)."""

from __future__ import annotations

import operator
import tempfile
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


class State(TypedDict, total=False):
    text: str
    trail: Annotated[list[str], operator.add]
    answer: str


def inner_a(state: State) -> dict[str, Any]:
    return {"text": state["text"] + " a", "trail": ["inner_a"]}


def ask(state: State) -> dict[str, Any]:
    answer = interrupt({"question": f"approve {state['text']}?"})
    return {"answer": str(answer), "trail": ["ask"]}


def confirm(state: State) -> dict[str, Any]:
    sure = interrupt({"question": f"sure about {state['answer']}?"})
    return {"answer": f"{state['answer']}, {sure}", "trail": ["confirm"]}


def inner_b(state: State) -> dict[str, Any]:
    return {"text": state["text"].upper(), "trail": ["inner_b"]}


def _inner() -> Any:
    builder = StateGraph(State)
    builder.add_node("inner_a", inner_a)
    builder.add_node("ask", ask)
    builder.add_node("confirm", confirm)
    builder.add_node("inner_b", inner_b)
    builder.add_edge(START, "inner_a")
    builder.add_edge("inner_a", "ask")
    builder.add_edge("ask", "confirm")
    builder.add_edge("confirm", "inner_b")
    builder.add_edge("inner_b", END)
    return builder.compile()


inner = _inner()


def prep(state: State) -> dict[str, Any]:
    return {"text": f"<{state['text']}>", "trail": ["prep"]}


def post(state: State) -> dict[str, Any]:
    return {"text": state["text"] + "!", "trail": ["post"]}


def _parent(sub: Any) -> Any:
    builder = StateGraph(State)
    builder.add_node("prep", prep)
    builder.add_node("sub", sub)
    builder.add_node("post", post)
    builder.add_edge(START, "prep")
    builder.add_edge("prep", "sub")
    builder.add_edge("sub", "post")
    builder.add_edge("post", END)
    return builder.compile()


# The subgraph as a node: LangGraph runs it as part of the parent (its nodes are
# activities here) and keeps its checkpoints under the namespace "sub:<task id>".
as_node = _parent(inner)


async def call_inner(state: State) -> dict[str, Any]:
    """The subgraph invoked from inside a node's own code."""
    out = await inner.ainvoke({"text": state["text"], "trail": []})
    return {
        "text": out["text"],
        "answer": out["answer"],
        "trail": [f"sub({','.join(out['trail'])})"],
    }


# The subgraph called inside a node function: the node is one activity, and the inner
# graph's interrupt must resume inside it.
in_node = _parent(call_inner)


def call_inner_sync(state: State) -> dict[str, Any]:
    """The same from a sync node (it runs on a worker thread): ``invoke``."""
    out = inner.invoke({"text": state["text"], "trail": []})
    trail = f"sub({','.join(out['trail'])})"
    return {"text": out["text"], "answer": out["answer"], "trail": [trail]}


in_sync_node = _parent(call_inner_sync)


# -- a node retried after the graph it invoked had finished --------------------------------


def _ledger(text: str) -> Path:
    """Where this test graph notes each run of a node (the test reads it): the worker may
    import this file under another module name than the test does."""
    return Path(tempfile.gettempdir()) / f"tempograph-nested-{text}"


def counted(state: State) -> dict[str, Any]:
    with _ledger(state["text"]).open("a") as ledger:
        ledger.write("counted\n")
    return {"trail": ["counted"]}


def _counting() -> Any:
    builder = StateGraph(State)
    builder.add_node("counted", counted)
    builder.add_edge(START, "counted")
    builder.add_edge("counted", END)
    return builder.compile()


counting = _counting()


async def call_then_fail_once(state: State) -> dict[str, Any]:
    """Invokes a graph, then fails its first attempt: the retry must not run the graph's
    finished nodes again."""
    out = await counting.ainvoke({"text": state["text"], "trail": []})
    with _ledger(state["text"]).open("a") as ledger:
        ledger.write("attempt\n")
    if _ledger(state["text"]).read_text().count("attempt") == 1:
        raise RuntimeError("flaky, after the graph it invoked had finished")
    return {"trail": out["trail"]}


def _retried() -> Any:
    builder = StateGraph(State)
    builder.add_node("call", call_then_fail_once)
    builder.add_edge(START, "call")
    builder.add_edge("call", END)
    return builder.compile()


retried = _retried()
