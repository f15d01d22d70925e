"""Sandboxed nodes (policy ``sandbox: true``): what they can see, their limits, retries."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


class State(TypedDict, total=False):
    probe_port: int
    seen: dict[str, Any]
    counter_file: str
    attempts: int
    megabytes: int


SECRETS = ("DATABASE_URL", "TEMPOGRAPH_ENCRYPTION_KEYS", "SANDBOX_SECRET", "SANDBOX_ALLOWED")


def peek(state: State) -> dict[str, Any]:
    seen: dict[str, Any] = {name: os.environ.get(name) for name in SECRETS}
    seen.update(cwd=os.getcwd(), home=os.environ.get("HOME"), pid=os.getpid())
    try:
        socket.create_connection(("127.0.0.1", state["probe_port"]), timeout=2).close()
        seen["network"] = "reached"
    except OSError as err:
        seen["network"] = f"{type(err).__name__}: {err}"
    Path("scratch.txt").write_text("mine")  # its own working directory
    return {"seen": seen}


def hog(state: State) -> dict[str, Any]:
    blob = bytearray(state["megabytes"] * 1024 * 1024)
    return {"attempts": len(blob)}


def spin(state: State) -> dict[str, Any]:
    n = 0
    while True:
        n += 1


def flaky(state: State) -> dict[str, Any]:
    counter = Path(state["counter_file"])
    attempts = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempts))
    if attempts == 1:
        raise ConnectionError("the tool's service is away")
    return {"attempts": attempts}


def _one(name: str, func: Any, policy: dict[str, Any]) -> Any:
    builder = StateGraph(State)
    builder.add_node(name, func, metadata={"tempograph": {"sandbox": True, **policy}})
    builder.add_edge(START, name)
    builder.add_edge(name, END)
    return builder.compile()


def ask(state: State) -> dict[str, Any]:
    answer = interrupt({"question": "run the tool?"})
    return {"seen": {"answer": answer, "pid": os.getpid()}}


peek_graph = _one("peek", peek, {})
ask_graph = _one("ask", ask, {})
hog_graph = _one(
    "hog", hog, {"sandbox_memory_mb": 512, "retry": {"non_retryable_error_types": ["MemoryError"]}}
)
spin_graph = _one("spin", spin, {"sandbox_cpu_seconds": 1})
flaky_graph = _one("flaky", flaky, {})


def _plain() -> Any:
    builder = StateGraph(State)
    builder.add_node("look", lambda state: {"seen": {"pid": os.getpid(), **_env()}})
    builder.add_edge(START, "look")
    builder.add_edge("look", END)
    return builder.compile()


def _env() -> dict[str, Any]:
    return {name: os.environ.get(name) for name in SECRETS}


plain_graph = _plain()  # no sandbox policy: sandboxed only by `tempograph worker --sandbox`
