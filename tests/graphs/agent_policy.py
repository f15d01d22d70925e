"""Graphs for per-node activity policy: timeouts, retries, non-retryable errors, queues.

Nodes that count their attempts append their name to the ledger file named in the
state's ``ledger`` key, one line per attempt.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy
from temporalio.exceptions import ApplicationError
from typing_extensions import TypedDict

# A queue of its own per test process; the worker for it is built from the node policy.
SPECIAL_QUEUE = f"special-{uuid.uuid4()}"

TIMEOUT_POLICY = {"start_to_close_timeout": 1, "retry": {"maximum_attempts": 2}}


class State(TypedDict, total=False):
    ledger: str
    log: list[str]
    result: str


def record(state: State, name: str) -> int:
    """Append ``name`` to the ledger; the number of attempts of ``name`` so far."""
    path = Path(state["ledger"])
    with path.open("a", encoding="utf-8") as ledger:
        ledger.write(f"{name}\n")
    return path.read_text(encoding="utf-8").splitlines().count(name)


def start(state: State) -> dict:
    return {"log": [*state.get("log", []), "start"]}


def _single(name: str, node: object, **options: object) -> object:
    builder = StateGraph(State)
    builder.add_node("start", start)
    builder.add_node(name, node, **options)  # type: ignore[call-overload]
    builder.add_edge(START, "start")
    builder.add_edge("start", name)
    builder.add_edge(name, END)
    return builder.compile()


# -- start-to-close timeout from node metadata ----------------------------------------


async def slow(state: State) -> dict:
    record(state, "slow")
    await asyncio.sleep(3)
    return {"result": "slow done"}


timeout_graph = _single("slow", slow, metadata={"tempograph": TIMEOUT_POLICY})


# -- LangGraph RetryPolicy mapped to Temporal -----------------------------------------


def flaky(state: State) -> dict:
    attempt = record(state, "flaky")
    if attempt < 3:
        raise ConnectionError(f"flaky attempt {attempt} lost the connection")
    return {"result": f"flaky ok after {attempt} attempts"}


def picky(state: State) -> dict:
    attempt = record(state, "picky")
    raise RuntimeError(f"picky attempt {attempt}: not a connection problem")


LANGGRAPH_RETRY = RetryPolicy(
    max_attempts=3, initial_interval=0.05, max_interval=0.2, retry_on=ConnectionError
)

retry_graph = _single("flaky", flaky, retry_policy=LANGGRAPH_RETRY)
retry_mismatch_graph = _single("picky", picky, retry_policy=LANGGRAPH_RETRY)


# -- errors a retry cannot fix --------------------------------------------------------


def bad_input(state: State) -> dict:
    record(state, "bad_input")
    raise ValueError(f"cannot process {state['log'][-1]!r}")


def declined(state: State) -> dict:
    record(state, "declined")
    raise ApplicationError("card 4242 declined", type="PaymentDeclined", non_retryable=True)


value_error_graph = _single("bad_input", bad_input)
non_retryable_graph = _single("declined", declined)


# -- a node on a task queue of its own ------------------------------------------------


def special(state: State) -> dict:
    return {"result": "special done", "log": [*state["log"], "special"]}


queue_graph = _single("special", special, metadata={"tempograph": {"task_queue": SPECIAL_QUEUE}})


# -- graph defaults and per-node overrides --------------------------------------------


def unstable(state: State) -> dict:
    attempt = record(state, "unstable")
    raise ConnectionError(f"unstable attempt {attempt} failed")


override_graph = _single("unstable", unstable)


# -- a policy typo in node metadata ---------------------------------------------------


def typo(state: State) -> dict:
    return {"result": "never runs durably"}


bad_metadata_graph = _single("typo", typo, metadata={"tempograph": {"start_to_close": 5}})
