"""Graphs for the edge cases a review found: breakpoints, heartbeats, caches, parallel
interrupts, node error handlers, a router raising a huge error, a slow router."""

from __future__ import annotations

import operator
import time
from typing import Annotated, Any

from langgraph.cache.memory import InMemoryCache
from langgraph.func import entrypoint
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import CachePolicy, Send, interrupt
from langsmith.utils import tracing_is_enabled
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    n: int
    log: Annotated[list[str], operator.add]


def first(state: State) -> dict[str, Any]:
    return {"n": state.get("n", 0) + 1, "log": ["first"]}


def second(state: State) -> dict[str, Any]:
    return {"n": state["n"] * 10, "log": ["second"]}


def _chain(**compile_args: Any) -> Any:
    builder = StateGraph(State)
    builder.add_node("first", first)
    builder.add_node("second", second)
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", END)
    return builder.compile(**compile_args)


# A static breakpoint: the run stops before "second" until it is continued.
breakpoint_graph = _chain(interrupt_before=["second"])


def beating(state: State, runtime: Runtime[Any]) -> dict[str, Any]:
    """A sync node that reports progress (runs in an executor thread)."""
    for _ in range(3):
        runtime.heartbeat()
    return {"log": ["beat"]}


_beat = StateGraph(State)
_beat.add_node("beating", beating, metadata={"tempograph": {"heartbeat_timeout": 30}})
_beat.add_edge(START, "beating")
heartbeat_graph = _beat.compile()


_cached = StateGraph(State)
_cached.add_node("first", first, cache_policy=CachePolicy())
_cached.add_edge(START, "first")
cached_graph = _cached.compile(cache=InMemoryCache())


class AskState(TypedDict, total=False):
    answers: Annotated[list[str], operator.add]


def ask(arg: dict[str, Any]) -> dict[str, Any]:
    who = arg["who"]
    answer = interrupt(f"question for {who}")
    return {"answers": [f"{who}: {answer}"]}


def fan(state: AskState) -> list[Send]:
    return [Send("ask", {"who": "ann"}), Send("ask", {"who": "bob"})]


_ask = StateGraph(AskState)
_ask.add_node("ask", ask)
_ask.add_conditional_edges(START, fan, ["ask"])
parallel_interrupts_graph = _ask.compile()


def fallback(state: State) -> dict[str, Any]:
    return {"log": ["handled"]}


def failing(state: State) -> dict[str, Any]:
    raise RuntimeError("boom")


_handled = StateGraph(State)
_handled.add_node("failing", failing, error_handler=fallback)
_handled.add_edge(START, "failing")
error_handler_graph = _handled.compile()


def _routed(route: Any) -> Any:
    """first, then ``route`` (in workflow code) to second."""
    builder = StateGraph(State)
    builder.add_node("first", first)
    builder.add_node("second", second)
    builder.add_edge(START, "first")
    builder.add_conditional_edges("first", route, ["second"])
    return builder.compile()


def loud_route(state: State) -> str:
    raise ValueError("W" * 300_000)


def slow_route(state: State) -> str:
    time.sleep(3)  # a router doing slow work in workflow code (it should not; users do)
    return "second"


loud_router_graph = _routed(loud_route)
slow_router_graph = _routed(slow_route)


@entrypoint()
async def tracing_probe(inputs: dict[str, Any]) -> dict[str, Any]:
    """Runs in the workflow: reports whether LangSmith tracing is on there."""
    return {"tracing": bool(tracing_is_enabled())}
