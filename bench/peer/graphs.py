"""The graphs bench/api.py drives on both servers; plain LangGraph, no Tempograph imports.

``chain3``: three trivial nodes in a row, so a run is all server overhead.
``approval``: a node that waits at ``interrupt("ok?")``, then one more node.
``chat`` and ``slow``: see below.
"""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, NotRequired

from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict


# TypedDict from typing_extensions: pydantic (input schemas) refuses typing's before 3.12.
class State(TypedDict):
    path: Annotated[list[str], operator.add]
    answer: NotRequired[str]


def a(state: State) -> dict[str, list[str]]:
    return {"path": ["a"]}


def b(state: State) -> dict[str, list[str]]:
    return {"path": ["b"]}


def c(state: State) -> dict[str, list[str]]:
    return {"path": ["c"]}


def ask(state: State) -> dict[str, object]:
    answer = interrupt("ok?")
    return {"path": ["ask"], "answer": str(answer)}


def done(state: State) -> dict[str, list[str]]:
    return {"path": ["done"]}


chain3 = (
    StateGraph(State)
    .add_node("a", a)
    .add_node("b", b)
    .add_node("c", c)
    .add_edge(START, "a")
    .add_edge("a", "b")
    .add_edge("b", "c")
    .add_edge("c", END)
    .compile()
)

approval = (
    StateGraph(State)
    .add_node("ask", ask)
    .add_node("done", done)
    .add_edge(START, "ask")
    .add_edge("ask", "done")
    .add_edge("done", END)
    .compile()
)


# ``chat``: MessagesState, three nodes each appending one ~500-character reply, as a chat
# agent's turn does; the size benchmark runs it on short and long threads.
REPLY = ("The quick brown fox jumps over the lazy dog. " * 12)[:480]


def _reply(name: str):  # type: ignore[no-untyped-def]
    def reply(state: MessagesState) -> dict[str, list[AIMessage]]:
        return {"messages": [AIMessage(f"{name}: {REPLY}")]}

    reply.__name__ = name
    return reply


chat = (
    StateGraph(MessagesState)
    .add_node("plan", _reply("plan"))
    .add_node("act", _reply("act"))
    .add_node("answer", _reply("answer"))
    .add_edge(START, "plan")
    .add_edge("plan", "act")
    .add_edge("act", "answer")
    .add_edge("answer", END)
    .compile()
)


# ``slow``: one node that sleeps ``seconds``: a run that is busy long enough for an
# operator to end it from Temporal (the benchmark's terminate and cancel timings).
class SlowState(TypedDict):
    seconds: float


async def nap(state: SlowState) -> dict[str, float]:
    await asyncio.sleep(state["seconds"])
    return {"seconds": 0.0}


slow = StateGraph(SlowState).add_node("nap", nap).add_edge(START, "nap").compile()
