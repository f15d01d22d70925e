"""LangGraph features run durably: each result must equal plain in-process LangGraph's.

Every test runs a graph from ``tests/graphs/feat_*.py`` on the real Temporal dev server
and in-process (the oracle), compares the two through ``to_jsonable``, and checks the
feature's own behaviour from what the client received and from Temporal history.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import GraphRecursionError
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client
from temporalio.service import RPCError

from tempograph.workflows.durable import DurableGraph
from tempograph.workflows.jsonable import to_jsonable
from tests.conftest import load_test_graph
from tests.engine import Outcome, Stack
from tests.integration.history import NodeExecution, node_executions

T = TypeVar("T")

# Upper bound for waiting on a condition; generous because the machine is shared.
WAIT_BOUND_SECONDS = 120.0


async def wait_until(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Poll ``probe`` until it returns a value; fail after ``WAIT_BOUND_SECONDS``."""
    deadline = asyncio.get_running_loop().time() + WAIT_BOUND_SECONDS
    while True:
        value = await probe()
        if value is not None:
            return value
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def run_durably(
    stack: Stack,
    graph_id: str,
    payload: Any,
    config: dict[str, Any] | None = None,
    thread: str | None = None,
) -> tuple[str, Outcome]:
    """Submit one run and wait for its outcome; returns (run id, outcome)."""
    thread = thread or stack.new_thread()
    ticket = await stack.threads.submit(thread, graph_id, payload, config=config or {})
    return ticket.run_id, await stack.threads.wait(thread, ticket.run_id)


def activity_types(executions: list[NodeExecution]) -> list[str]:
    return [e.activity_type for e in executions]


def with_saver(durable: DurableGraph) -> Any:
    """The user's graph, compiled with an in-memory checkpointer (the thread oracle)."""
    return durable.original.copy(update={"checkpointer": InMemorySaver()})


# -- 1. typed states ---------------------------------------------------------------------

TYPED_CASES = {
    "typeddict": ("dict_graph", {"name": "ada lovelace", "tags": ["start"]}, ["dict", "dict"]),
    "pydantic": (
        "model_graph",
        {"name": "grace hopper", "profile": {"city": "arlington", "visits": 2}},
        ["ModelState", "Profile", "ModelState"],
    ),
    "dataclass": ("data_graph", {"name": "alan turing"}, ["DataState", "DataState"]),
}


@pytest.mark.parametrize("kind", sorted(TYPED_CASES))
async def test_typed_state_matches_in_process(stack_for: Any, client: Client, kind: str) -> None:
    """TypedDict, pydantic and dataclass states: nodes receive the declared type and the
    durable final values equal in-process ones."""
    attr, payload, seen = TYPED_CASES[kind]
    graph_id = f"feat_typed_{kind}"
    durable = load_test_graph(graph_id, f"feat_typed.py:{attr}")
    expected = to_jsonable(await durable.original.ainvoke(payload))

    async with stack_for({graph_id: durable}) as stack:
        run_id, outcome = await run_durably(stack, graph_id, payload)

        assert outcome.status == "success", outcome.error
        assert outcome.values == expected
        assert outcome.values["seen"] == seen
        assert outcome.values["tags"][-2:] == ["greeted", "scored"]
        assert activity_types(await node_executions(client, run_id)) == [
            f"{graph_id}.greet",
            f"{graph_id}.score",
        ]


# -- 2. reducers ---------------------------------------------------------------------------


async def test_add_messages_and_list_reducers_match_in_process(
    stack_for: Any, client: Client
) -> None:
    """add_messages appends and replaces by id, operator.add appends, and every node
    receives real message objects (their class names are recorded by a node)."""
    durable = load_test_graph("feat_messages", "feat_messages.py:graph")
    payload = {
        "messages": [{"role": "user", "content": "six times seven?", "id": "human-1"}],
        "steps": ["input"],
    }
    expected = to_jsonable(await durable.original.ainvoke(payload))

    async with stack_for({"feat_messages": durable}) as stack:
        _, outcome = await run_durably(stack, "feat_messages", payload)

    assert outcome.status == "success", outcome.error
    assert outcome.values == expected
    messages = outcome.values["messages"]
    assert [m["id"] for m in messages] == ["human-1", "ai-1", "tool-1", "ai-2", "human-2"]
    assert [m["type"] for m in messages] == ["human", "ai", "tool", "ai", "human"]
    assert messages[1]["content"] == "looked it up"  # replaced in place by id
    assert messages[1]["tool_calls"][0]["id"] == "call-1"
    assert outcome.values["seen_types"] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
        "HumanMessage",
    ]
    assert outcome.values["steps"] == ["input", "ask_tool", "tool", "answer", "inspect"]


# -- 3. routing ----------------------------------------------------------------------------


@pytest.mark.parametrize("router", ["sync", "async"])
async def test_conditional_edges_match_in_process(
    stack_for: Any, client: Client, router: str
) -> None:
    """A sync and an async router pick the same branch durably as in-process."""
    graph_id = f"feat_route_{router}"
    durable = load_test_graph(graph_id, f"feat_routing.py:{router}_graph")
    async with stack_for({graph_id: durable}) as stack:
        for n, branch in ((3, "small"), (12, "big")):
            expected = to_jsonable(await durable.original.ainvoke({"n": n}))
            run_id, outcome = await run_durably(stack, graph_id, {"n": n})

            assert outcome.status == "success", outcome.error
            assert outcome.values == expected
            assert outcome.values["path"] == ["classify", branch]
            assert activity_types(await node_executions(client, run_id)) == [
                f"{graph_id}.classify",
                f"{graph_id}.{branch}",
            ]


async def test_command_goto_and_update_match_in_process(stack_for: Any, client: Client) -> None:
    """A node returning Command(goto=..., update=...) with no static edge out of it
    applies the update and continues at the node it names."""
    durable = load_test_graph("feat_command", "feat_routing.py:command_graph")
    async with stack_for({"feat_command": durable}) as stack:
        for n, branch, final in ((3, "small", 104), (12, "big", 224)):
            expected = to_jsonable(await durable.original.ainvoke({"n": n}))
            run_id, outcome = await run_durably(stack, "feat_command", {"n": n})

            assert outcome.status == "success", outcome.error
            assert outcome.values == expected
            assert outcome.values == {"n": final, "path": [f"decide->{branch}", branch]}
            assert activity_types(await node_executions(client, run_id)) == [
                "feat_command.decide",
                f"feat_command.{branch}",
            ]


# -- 4. Send fan-out -----------------------------------------------------------------------


async def test_send_fan_out_runs_branches_as_concurrent_activities(
    stack_for: Any, client: Client, tmp_path: Path
) -> None:
    """Three Send branches run as overlapping activities (each waits at a barrier for the
    others) and their results reduce into the list as in-process."""
    durable = load_test_graph("feat_fanout", "feat_fanout.py:graph")
    local_barrier, durable_barrier = tmp_path / "local", tmp_path / "durable"
    local_barrier.mkdir()
    durable_barrier.mkdir()
    payload = {"topic": " tides "}
    expected = to_jsonable(
        await durable.original.ainvoke(
            payload, {"configurable": {"barrier_dir": str(local_barrier)}}
        )
    )

    async with stack_for({"feat_fanout": durable}) as stack:
        run_id, outcome = await run_durably(
            stack,
            "feat_fanout",
            payload,
            config={"configurable": {"barrier_dir": str(durable_barrier)}},
        )
        executions = await node_executions(client, run_id)

    assert outcome.status == "success", outcome.error
    assert outcome.values == expected
    assert sorted(outcome.values["results"]) == ["tides#0", "tides#1", "tides#2"]
    branches = [e for e in executions if e.activity_type == "feat_fanout.branch"]
    assert len(branches) == 3
    assert all(e.outcome == "completed" and e.attempt == 1 for e in branches)
    started = [e.started_at for e in branches]
    closed = [e.closed_at for e in branches]
    assert None not in started and None not in closed
    # Every branch had started before any branch closed: all three ran at once.
    assert max(s for s in started if s is not None) < min(c for c in closed if c is not None)


# -- 5. subgraph as a node -----------------------------------------------------------------


async def test_compiled_subgraph_node_runs_its_nodes_as_activities(
    stack_for: Any, client: Client
) -> None:
    """A compiled subgraph added as a node: its own nodes are activities
    ``<graph>.sub.<inner>`` and the result equals in-process."""
    durable = load_test_graph("feat_subgraph", "feat_subgraph.py:graph")
    payload = {"text": "hello"}
    expected = to_jsonable(await durable.original.ainvoke(payload))

    async with stack_for({"feat_subgraph": durable}) as stack:
        run_id, outcome = await run_durably(stack, "feat_subgraph", payload)
        executions = await node_executions(client, run_id)

    assert outcome.status == "success", outcome.error
    assert outcome.values == expected
    assert outcome.values["text"] == "<HELLO> A!"
    assert activity_types(executions) == [
        "feat_subgraph.prep",
        "feat_subgraph.sub.inner_a",
        "feat_subgraph.sub.inner_b",
        "feat_subgraph.post",
    ]
    assert all(e.outcome == "completed" and e.attempt == 1 for e in executions)


# -- 6. recursion limit --------------------------------------------------------------------


async def test_recursion_limit_fails_run_like_langgraph(stack_for: Any, client: Client) -> None:
    """An endless loop with recursion_limit=5 fails with LangGraph's GraphRecursionError:
    same error type and message, same state left behind, one activity per node step."""
    durable = load_test_graph("feat_loop", "feat_loop.py:graph")
    local = with_saver(durable)
    local_config: Any = {"recursion_limit": 5, "configurable": {"thread_id": "loop"}}
    with pytest.raises(GraphRecursionError) as raised:
        await local.ainvoke({"hops": 0}, local_config)
    local_values = to_jsonable((await local.aget_state(local_config)).values)

    async with stack_for({"feat_loop": durable}) as stack:
        thread = stack.new_thread()
        run_id, outcome = await run_durably(
            stack, "feat_loop", {"hops": 0}, config={"recursion_limit": 5}, thread=thread
        )
        state = await stack.threads.state(thread)
        executions = await node_executions(client, run_id)

    assert outcome.status == "error"
    assert outcome.error == {"type": type(raised.value).__name__, "message": str(raised.value)}
    assert outcome.error["type"] == "GraphRecursionError"
    assert state.status == "error"
    assert state.values == local_values
    assert len(executions) == local_values["hops"]


# -- 7. threads ----------------------------------------------------------------------------


async def test_thread_runs_continue_from_previous_state_and_history_matches(
    stack_for: Any,
    client: Client,
) -> None:
    """Two runs with config {"thread_id": ..., "recursion_limit": 20}: the second starts
    from the state the first left, as on an InMemorySaver thread; the checkpoint history
    has the same entries as LangGraph's aget_state_history."""
    durable = load_test_graph("feat_counter", "feat_threads.py:counter_graph")
    thread = f"user_42-{uuid.uuid4().hex[:8]}"
    config = {"thread_id": thread, "recursion_limit": 20}
    local = with_saver(durable)
    inputs = [{"count": 1}, {"count": 10}]
    expected = [to_jsonable(await local.ainvoke(payload, config)) for payload in inputs]
    local_history = [s async for s in local.aget_state_history(config)]

    async with stack_for({"feat_counter": durable}) as stack:
        outcomes = [
            (await run_durably(stack, "feat_counter", payload, config=config, thread=thread))[1]
            for payload in inputs
        ]
        state = await stack.threads.state(thread, history=True)

    assert [o.status for o in outcomes] == ["success", "success"]
    assert [o.values for o in outcomes] == expected
    assert outcomes[1].values == {"count": 13, "last_seen": 12, "runs": ["count=2", "count=13"]}
    assert state.values == expected[-1]
    assert len(state.history) == len(local_history)
    assert [h["values"] for h in state.history] == [to_jsonable(s.values) for s in local_history]
    assert [h["next"] for h in state.history] == [list(s.next) for s in local_history]
    assert [(h["step"], h["source"]) for h in state.history] == [
        (s.metadata["step"], s.metadata["source"]) for s in local_history
    ]


async def test_runs_on_one_thread_never_overlap(
    stack_for: Any, client: Client, tmp_path: Path
) -> None:
    """A run submitted while another runs on the same thread starts its first activity
    only after the first run's last activity closed; both complete, state has both."""
    durable = load_test_graph("feat_gate", "feat_threads.py:gate_graph")
    local_gate = tmp_path / "local-gate"
    local_gate.touch()
    local = with_saver(durable)
    local_config: Any = {"configurable": {"thread_id": "gate", "gate": str(local_gate)}}
    expected = [
        to_jsonable(await local.ainvoke({"label": label}, local_config)) for label in ("one", "two")
    ]
    gate = tmp_path / "gate"
    config = {"configurable": {"gate": str(gate)}}

    async with stack_for({"feat_gate": durable}) as stack:
        thread = stack.new_thread()
        first = await stack.threads.submit(thread, "feat_gate", {"label": "one"}, config=config)

        async def first_activity_started() -> bool | None:
            # History records an activity's start only when it closes: ask Temporal
            # for the run's pending activities instead.
            try:
                described = await client.get_workflow_handle(first.run_id).describe()
            except RPCError:  # the run's workflow does not exist yet
                return None
            pending = described.raw_description.pending_activities
            return (
                True
                if any(
                    a.activity_type.name == "feat_gate.gated"
                    and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                    for a in pending
                )
                else None
            )

        await wait_until(first_activity_started, "the first run's gated node to start")
        second = await stack.threads.submit(thread, "feat_gate", {"label": "two"}, config=config)
        busy = await stack.threads.state(thread)
        assert busy.status == "busy" and busy.run_id == first.run_id
        gate.touch()
        outcomes = [
            await stack.threads.wait(thread, first.run_id),
            await stack.threads.wait(thread, second.run_id),
        ]
        state = await stack.threads.state(thread)
        one = await node_executions(client, first.run_id)
        two = await node_executions(client, second.run_id)

    assert [o.status for o in outcomes] == ["success", "success"]
    assert [o.values for o in outcomes] == expected
    assert state.values == expected[-1]
    assert state.values["log"] == ["gated one", "finish one", "gated two", "finish two"]
    assert activity_types(one) == activity_types(two) == ["feat_gate.gated", "feat_gate.finish"]
    last_closed = max(e.closed_at or float("inf") for e in one)
    first_started = min(e.started_at or float("-inf") for e in two)
    assert first_started > last_closed


async def test_a_long_thread_keeps_its_whole_history(stack_for: Any, client: Client) -> None:
    """Forty runs on one thread (160 checkpoints): every checkpoint stays readable, the
    history equals in-process LangGraph's, and each run started from the one before."""
    durable = load_test_graph("feat_counter", "feat_threads.py:counter_graph")
    thread = f"long-{uuid.uuid4().hex}"
    runs = 40
    async with stack_for({"feat_counter": durable}) as stack:
        for _ in range(runs):
            ticket = await stack.threads.submit(thread, "feat_counter", {"count": 1})
            outcome = await stack.threads.wait(thread, ticket.run_id)
            assert outcome.status == "success", outcome.error
        state = await stack.threads.state(thread, history=True)

    local = durable.original.copy({"checkpointer": InMemorySaver()})
    config: Any = {"configurable": {"thread_id": thread}}
    for _ in range(runs):
        await local.ainvoke({"count": 1}, config)
    expected = [to_jsonable(s.values) async for s in local.aget_state_history(config)]
    assert len(expected) > 100
    assert state.values == to_jsonable((await local.aget_state(config)).values)
    assert [h["values"] for h in state.history] == expected
