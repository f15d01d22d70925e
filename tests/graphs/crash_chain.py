"""A five-node chain for crash tests; each node writes a start and a finish line to a ledger.

``CRASH_LEDGER`` names the ledger file (no ledger when unset). Node ``n3`` sleeps until
``CRASH_SLOW_SECONDS`` (default 2) have passed, re-reading the variable as it sleeps, so a
test can crash things while it runs and, in process, cut the sleep short afterwards.
"""

from __future__ import annotations

import operator
import os
import time
from collections.abc import Callable
from typing import Annotated

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

NODES = ["n1", "n2", "n3", "n4", "n5"]


class State(TypedDict, total=False):
    value: int
    trail: Annotated[list[str], operator.add]


def _record(event: str, node: str) -> None:
    path = os.environ.get("CRASH_LEDGER")
    if path:
        with open(path, "a", encoding="utf-8") as ledger:
            ledger.write(f"{event} {node} {os.getpid()}\n")


def _node(name: str, factor: int) -> Callable[[State], dict]:
    def body(state: State) -> dict:
        _record("start", name)
        if name == "n3":
            began = time.monotonic()
            while time.monotonic() - began < float(os.environ.get("CRASH_SLOW_SECONDS", "2")):
                time.sleep(0.05)
        result = {"value": state["value"] * factor + 1, "trail": [name]}
        _record("finish", name)
        return result

    body.__name__ = name
    return body


builder = StateGraph(State)
previous = START
for index, node in enumerate(NODES, start=2):
    builder.add_node(node, _node(node, index))
    builder.add_edge(previous, node)
    previous = node
builder.add_edge(previous, END)
graph = builder.compile()
