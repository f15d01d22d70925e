"""Thread graphs: a counter that accumulates across runs, and a gated two-step run."""

from __future__ import annotations

import operator
import time
from pathlib import Path
from typing import Annotated, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

# Upper bound on the wait for the gate file; not a timing assumption.
GATE_BOUND_SECONDS = 60.0


class GateNeverOpenedError(ValueError):
    """The test never opened the gate."""


class CounterState(TypedDict, total=False):
    count: Annotated[int, operator.add]
    runs: Annotated[list[str], operator.add]
    last_seen: int


def bump(state: CounterState) -> dict:
    # last_seen is what this run found: the previous run's total plus this input.
    return {"count": 1, "last_seen": state.get("count", 0)}


def note(state: CounterState) -> dict:
    return {"runs": [f"count={state['count']}"]}


counter_builder = StateGraph(CounterState)
counter_builder.add_node("bump", bump)
counter_builder.add_node("note", note)
counter_builder.add_edge(START, "bump")
counter_builder.add_edge("bump", "note")
counter_builder.add_edge("note", END)
counter_graph = counter_builder.compile()


class GateState(TypedDict, total=False):
    label: str
    log: Annotated[list[str], operator.add]


def gated(state: GateState, config: RunnableConfig) -> dict:
    """Block until the gate file named in the config exists."""
    gate = Path(config["configurable"]["gate"])
    deadline = time.monotonic() + GATE_BOUND_SECONDS
    while not gate.exists():
        if time.monotonic() > deadline:
            raise GateNeverOpenedError(str(gate))
        time.sleep(0.02)
    return {"log": [f"gated {state['label']}"]}


def finish(state: GateState) -> dict:
    return {"log": [f"finish {state['label']}"]}


gate_builder = StateGraph(GateState)
gate_builder.add_node("gated", gated)
gate_builder.add_node("finish", finish)
gate_builder.add_edge(START, "gated")
gate_builder.add_edge("gated", "finish")
gate_builder.add_edge("finish", END)
gate_graph = gate_builder.compile()
