"""The recorded scenarios: which graphs, with which inputs and answers.

Histories are recorded by ``python -m tests.replay.record`` against a real dev server and
committed under ``histories/``; ``test_replay.py`` replays every one of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tests.conftest import FAST_RETRY, load_seed_demo, load_test_graph
from workflows.durable import DurableGraph
from workflows.policy import NodePolicy, RetrySpec

TASK_QUEUE = "replay"


def graphs() -> dict[str, DurableGraph]:
    """Every graph the recorded histories ran, under the ids they ran as."""
    loaded = dict(load_seed_demo())
    loaded["seed_demo_failing"] = load_seed_demo(
        NodePolicy(retry=RetrySpec(initial_interval=0.05, maximum_interval=0.1,
                                   maximum_attempts=2))
    )["seed_demo"]
    loaded["seed_demo_failing"].graph_id = "seed_demo_failing"
    loaded["approval"] = load_test_graph("approval", "approval.py:graph", FAST_RETRY)
    return loaded


@dataclass
class Scenario:
    name: str
    thread_id: str
    graph_id: str
    input: Any
    # Each answer is called with the pending interrupts and returns the resume value.
    answers: list[Callable[[list[Any]], Any]]
    env: dict[str, str]


def _by_id(value: Any) -> Callable[[list[Any]], Any]:
    # Resume keyed by interrupt id: replay fails if ids are not the same on replay.
    return lambda interrupts: {interrupts[0]["id"]: value}


SCENARIOS = [
    Scenario("seed_demo", "replay-seed", "seed_demo", {"step": 0, "result": ""}, [],
             {"SEED_DEMO_FAILURE_RATE": "0.5", "SEED_DEMO_WORK_SECONDS": "0.01"}),
    Scenario("seed_demo_failing", "replay-seed-failing", "seed_demo_failing",
             {"step": 0, "result": ""}, [],
             {"SEED_DEMO_FAILURE_RATE": "1", "SEED_DEMO_WORK_SECONDS": "0.01"}),
    Scenario("approval", "replay-approval", "approval", {"request": "buy"},
             [_by_id({"approved": True}), _by_id("ann"), _by_id("looks good")], {}),
]

Recorder = Callable[[Scenario], Awaitable[None]]
