"""The chaos harness's graph (bench/chaos.py): four nodes in a chain, each writing a
line to a ledger file when its body starts and when it ends, taking 0.2-0.8 s between.

The ledger is outside everything the harness kills (a file, appended with ``O_APPEND``
and one ``write`` per line), so it shows every time a node's body ran, whatever died.
Each node adds its name to ``steps``: a finished run whose ``steps`` is not exactly
``a b c d`` had a node's update lost or applied twice.
"""

from __future__ import annotations

import asyncio
import operator
import os
import random
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypedDict

from langgraph.graph import START, StateGraph

NODES = ("a", "b", "c", "d")
LEDGER_ENV = "TEMPOGRAPH_CHAOS_LEDGER"


class State(TypedDict):
    job: str
    steps: Annotated[list[str], operator.add]


def record(job: str, node: str, event: str) -> None:
    line = f"{time.time():.6f} {os.getpid()} {job} {node} {event}\n".encode()
    descriptor = os.open(os.environ[LEDGER_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)


def step(name: str) -> Callable[[State], Awaitable[dict[str, Any]]]:
    async def node(state: State) -> dict[str, Any]:
        record(state["job"], name, "start")
        await asyncio.sleep(random.uniform(0.2, 0.8))
        record(state["job"], name, "end")
        return {"steps": [name]}

    node.__name__ = name
    return node


builder = StateGraph(State)
previous = START
for name in NODES:
    builder.add_node(name, step(name))
    builder.add_edge(previous, name)
    previous = name
graph = builder.compile()
