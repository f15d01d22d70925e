"""Graphs for the LangGraph Server compatibility tests: one that waits at a gate.

The gate is a file: the node waits until it exists, so a test decides when a run may
finish (to cancel it, queue behind it or drop its stream while it runs) without racing
a timer.
"""

from __future__ import annotations

import asyncio
import operator
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

_GATE_POLL_SECONDS = 0.05
_GATE_LIMIT_SECONDS = 60.0


class GateState(TypedDict, total=False):
    gate: str
    steps: Annotated[list[str], operator.add]


async def hold(state: GateState) -> dict[str, Any]:
    """Wait until the file named by ``gate`` exists (bounded), then record a step."""
    gate = Path(state["gate"])
    waited = 0.0
    while not await asyncio.to_thread(gate.exists):
        if waited >= _GATE_LIMIT_SECONDS:
            raise TimeoutError(f"gate {gate} was never opened")
        await asyncio.sleep(_GATE_POLL_SECONDS)
        waited += _GATE_POLL_SECONDS
    return {"steps": ["held"]}


def release(state: GateState) -> dict[str, Any]:
    return {"steps": ["released"]}


gate_builder = StateGraph(GateState)
gate_builder.add_node("hold", hold)
gate_builder.add_node("release", release)
gate_builder.add_edge(START, "hold")
gate_builder.add_edge("hold", "release")
gate_builder.add_edge("release", END)
gate_graph = gate_builder.compile()


# The gate graph as a later deployment changed it (a node runs before "hold"): a run
# recorded on gate_graph no longer replays on it.
changed_builder = StateGraph(GateState)
changed_builder.add_node("release", release)
changed_builder.add_node("hold", hold)
changed_builder.add_edge(START, "release")
changed_builder.add_edge("release", "hold")
changed_builder.add_edge("hold", END)
gate_changed_graph = changed_builder.compile()


def ask(state: GateState) -> dict[str, Any]:
    """Ask which gate to wait at: the answer to the interrupt is the gate."""
    return {"gate": interrupt("which gate?"), "steps": ["asked"]}


# Asks for its gate, then waits at it: a resumed run that a test holds in "hold".
ask_builder = StateGraph(GateState)
ask_builder.add_node("ask", ask)
ask_builder.add_node("hold", hold)
ask_builder.add_node("release", release)
ask_builder.add_edge(START, "ask")
ask_builder.add_edge("ask", "hold")
ask_builder.add_edge("hold", "release")
ask_builder.add_edge("release", END)
ask_gate_graph = ask_builder.compile()
