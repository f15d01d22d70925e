"""The recorded scenarios: which graphs, with which inputs and answers.

Histories are recorded by ``python -m tests.replay.record`` against a real dev server and
committed under ``histories/``; ``test_replay.py`` replays every one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tempograph.workflows.durable import DurableGraph
from tempograph.workflows.policy import NodePolicy, RetrySpec
from tests.conftest import FAST_RETRY, load_seed_demo, load_test_graph
from tests.replay.api_scenarios import API_GRAPHS

TASK_QUEUE = "replay"


def graphs() -> dict[str, DurableGraph]:
    """Every graph the recorded histories ran, under the ids they ran as."""
    loaded = dict(load_seed_demo())
    loaded["seed_demo_failing"] = load_seed_demo(
        NodePolicy(retry=RetrySpec(initial_interval=0.05, maximum_interval=0.1, maximum_attempts=2))
    )["seed_demo"]
    loaded["seed_demo_failing"].graph_id = "seed_demo_failing"
    for graph_id, ref in {
        "approval": "approval.py:graph",
        "feat_fanout": "feat_fanout.py:graph",
        "feat_subgraph": "feat_subgraph.py:graph",
        "feat_loop": "feat_loop.py:graph",
        "feat_until": "feat_loop.py:until_graph",
        "feat_command": "feat_routing.py:command_graph",
        "agent_tools": "agent_tools.py:graph",
        "agent_fn": "agent_functional.py:pipeline",
        "agent_ask_via_task": "agent_functional.py:ask_via_task",
        "cli_fail": "cli_fail.py:graph",
        "feat_counter": "feat_threads.py:counter_graph",
        "edge_bp": "edge_cases.py:breakpoint_graph",
        "edge_ask": "edge_cases.py:parallel_interrupts_graph",
        "local_nodes": "local_nodes.py:graph",
        "feat_big": "feat_big.py:graph",
        "map_docs": "size_graphs.py:map_docs",
        **API_GRAPHS,
    }.items():
        loaded[graph_id] = load_test_graph(graph_id, ref, FAST_RETRY)
    loaded["refund_deadline"] = load_test_graph(
        "refund_deadline",
        "observed_app/observed.py:refund_graph",
        FAST_RETRY,
        nodes={"review": {"approval_timeout": 1, "approval_default": {"approved": False}}},
    )
    return loaded


@dataclass
class Scenario:
    name: str
    thread_id: str
    graph_id: str
    input: Any
    # Each answer is called with the pending interrupts and returns the resume value.
    answers: list[Callable[[list[Any]], Any]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    runs: int = 1
    # Sent with each answer, as Command(resume=..., update=...).
    resume_update: Any = None


def _by_id(value: Any) -> Callable[[list[Any]], Any]:
    # Resume keyed by interrupt id: replay fails if ids are not the same on replay.
    return lambda interrupts: {interrupts[0]["id"]: value}


SCENARIOS = [
    Scenario(
        "seed_demo",
        "replay-seed",
        "seed_demo",
        {"step": 0, "result": ""},
        [],
        {"SEED_DEMO_FAILURE_RATE": "0.5", "SEED_DEMO_WORK_SECONDS": "0.01"},
    ),
    Scenario(
        "seed_demo_failing",
        "replay-seed-failing",
        "seed_demo_failing",
        {"step": 0, "result": ""},
        [],
        {"SEED_DEMO_FAILURE_RATE": "1", "SEED_DEMO_WORK_SECONDS": "0.01"},
    ),
    Scenario(
        "approval",
        "replay-approval",
        "approval",
        {"request": "buy"},
        [_by_id({"approved": True}), _by_id("ann"), _by_id("looks good")],
    ),
    Scenario(
        "approval_amended",
        "replay-approval-amended",
        "approval",
        {"request": "fix"},
        [_by_id({"approved": False})],
        resume_update={"log": ["amended"]},
    ),
    Scenario(
        "fanout",
        "replay-fanout",
        "feat_fanout",
        {"topic": " tides "},
        config={"configurable": {"barrier_dir": "{tmp}"}},
    ),
    Scenario("subgraph", "replay-subgraph", "feat_subgraph", {"text": "hello"}),
    Scenario(
        "recursion_limit", "replay-loop", "feat_loop", {"hops": 0}, config={"recursion_limit": 5}
    ),
    Scenario("command", "replay-command", "feat_command", {"n": 4}),
    Scenario(
        "tool_agent",
        "replay-agent",
        "agent_tools",
        {"messages": [{"role": "user", "content": "what is 6 times 7?", "id": "h-1"}]},
    ),
    Scenario("functional", "replay-functional", "agent_fn", {"n": 3}),
    Scenario(
        "functional_interrupt",
        "replay-functional-ask",
        "agent_ask_via_task",
        {"n": 2},
        [lambda interrupts: "blue"],
    ),
    Scenario("node_failure", "replay-failure", "cli_fail", {"amount": 5}),
    Scenario("local_nodes", "replay-local", "local_nodes", {"ledger": "{tmp}/ledger.txt", "n": 3}),
    Scenario("breakpoint", "replay-breakpoint", "edge_bp", {"n": 1}, [lambda interrupts: None]),
    Scenario(
        "parallel_interrupts",
        "replay-parallel",
        "edge_ask",
        {},
        [lambda interrupts: {i["id"]: f"ok {i['value']}" for i in interrupts}],
    ),
    # Three runs on one thread: each starts from the checkpoints the one before wrote.
    Scenario("thread_runs", "replay-thread-runs", "feat_counter", {"count": 1}, runs=3),
    # A state far past Temporal's payload limit travels as parts in Postgres.
    Scenario("large_state", "replay-large", "feat_big", {"messages": []}),
    # A fan-out whose branches' inputs are parts of their own: each goes out once.
    Scenario("map_docs", "replay-map", "map_docs", {"n": 8, "size": 20_000}),
    # A run past the history length at which Temporal suggests a new execution (lowered
    # for the recording: see SUGGEST_CONTINUE_AT): it continues as new, twice.
    Scenario("continued", "replay-continued", "feat_until", {"target": 45}),
]
