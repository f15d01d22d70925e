"""Agents (prebuilt ToolNode), the Functional API and per-node Temporal policy, end to end.

Every graph behaviour is checked against plain in-process LangGraph on the same graph
and input; executions and attempts are read from the run's Temporal history.
"""

from __future__ import annotations

import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.pregel import Pregel
from langgraph.types import Command
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from tempograph.activities.events import Recorder
from tempograph.errors import GraphLoadError
from tempograph.temporal.devserver import DevServer
from tempograph.temporal.worker import build_workers
from tempograph.workflows.durable import DurableGraph
from tempograph.workflows.jsonable import to_jsonable
from tempograph.workflows.policy import NodePolicy, RetrySpec
from tests.conftest import load_test_graph
from tests.engine import Outcome, Threads
from tests.integration.api_server import serving
from tests.integration.history import NodeExecution, attempts_by_node, node_executions

AGENT_INPUT = {"messages": [{"role": "user", "content": "what is 6 times 7?", "id": "h-1"}]}


def module(name: str) -> Any:
    """A test graph module, as the loader imported it (by file stem)."""
    return sys.modules[name]


def ledger_counts(path: Path) -> Counter[str]:
    return Counter(path.read_text(encoding="utf-8").splitlines() if path.exists() else [])


def executions_by_type(executions: list[NodeExecution]) -> Counter[str]:
    """How many times each activity type was scheduled (retries not counted)."""
    return Counter(e.activity_type for e in executions)


async def scheduled_queues(client: Client, run_id: str) -> dict[str, set[str]]:
    """Task queue(s) each activity type of a run was scheduled on."""
    history = await client.get_workflow_handle(run_id).fetch_history()
    queues: dict[str, set[str]] = {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            queues.setdefault(attrs.activity_type.name, set()).add(attrs.task_queue.name)
    return queues


async def in_process_error(graph: Pregel, payload: Any) -> BaseException:
    """The exception plain LangGraph raises for ``payload``."""
    with pytest.raises(Exception) as info:
        await graph.ainvoke(payload)
    return info.value


async def run_once(
    stack_for: Any,
    graphs: dict[str, DurableGraph],
    client: Client,
    graph_id: str,
    payload: Any,
) -> tuple[str, Outcome]:
    """Submit one run on a fresh thread and wait for its end; (run id, outcome)."""
    async with stack_for(graphs) as stack:
        thread = stack.new_thread()
        ticket = await stack.threads.submit(thread, graph_id, payload)
        outcome = await stack.threads.wait(thread, ticket.run_id)
    return ticket.run_id, outcome


# -- 1. a tool-calling agent ----------------------------------------------------------


async def test_tool_calling_agent_gets_messages_and_matches_in_process(
    stack_for: Any, client: Client
) -> None:
    """Model node and ToolNode see LangChain messages (never dicts), the ToolMessage comes
    back through tools_condition, and the final state equals in-process LangGraph."""
    graphs = {"agent_tools": load_test_graph("agent_tools", "agent_tools.py:graph")}
    expected = await module("agent_tools").graph.ainvoke(AGENT_INPUT)

    run_id, outcome = await run_once(stack_for, graphs, client, "agent_tools", AGENT_INPUT)

    assert outcome.status == "success", outcome.error
    assert outcome.values == to_jsonable(expected)
    # The model node recorded the class of every message it received.
    assert outcome.values["seen"] == [
        ["HumanMessage"],
        ["HumanMessage", "AIMessage", "ToolMessage"],
    ]
    messages = outcome.values["messages"]
    assert [m["type"] for m in messages] == ["human", "ai", "tool", "ai"]
    assert messages[1]["tool_calls"][0]["name"] == "multiply"
    tool_message = messages[2]
    assert tool_message["tool_call_id"] == "call-1"
    assert tool_message["content"] == "42"
    # The tool read the state ToolNode injected: real messages there too.
    assert tool_message["artifact"] == {"seen": "HumanMessage,AIMessage"}
    assert messages[3]["content"] == "The answer is 42."

    executions = await node_executions(client, run_id)
    assert executions_by_type(executions) == Counter(
        {"agent_tools.agent": 2, "agent_tools.tools": 1}
    )
    assert all(e.outcome == "completed" and e.attempt == 1 for e in executions)


# -- 2. the Functional API ------------------------------------------------------------


async def test_functional_tasks_are_activities_and_match_in_process(
    stack_for: Any, client: Client
) -> None:
    """Each @task call (sync, async, and two concurrent calls) is one activity
    ``<graph>.<task>``; the entrypoint's result equals in-process LangGraph."""
    graphs = {"agent_fn": load_test_graph("agent_fn", "agent_functional.py:pipeline")}
    payload = {"n": 3}
    expected = await module("agent_functional").pipeline.ainvoke(payload)

    run_id, outcome = await run_once(stack_for, graphs, client, "agent_fn", payload)

    assert outcome.status == "success", outcome.error
    assert outcome.values == to_jsonable(expected)
    assert outcome.values == {"doubled": 6, "squares": [36, 49], "text": "total=85"}
    executions = await node_executions(client, run_id)
    assert executions_by_type(executions) == Counter(
        {"agent_fn.double": 1, "agent_fn.square": 2, "agent_fn.describe": 1}
    )
    assert all(e.outcome == "completed" for e in executions)


def test_sync_entrypoint_is_rejected_at_load_by_name() -> None:
    """A sync entrypoint cannot run in the workflow: the load error names it and says why."""
    with pytest.raises(GraphLoadError) as info:
        load_test_graph("agent_fn_sync", "agent_functional.py:sync_pipeline")
    assert info.value.graph_id == "agent_fn_sync"
    assert str(info.value) == (
        "graph 'agent_fn_sync': entrypoint 'sync_pipeline' is a sync function; a durable "
        "entrypoint runs in the workflow and must be 'async def' (its @task calls become "
        "activities)"
    )


# -- 3. interrupt() in the Functional API ---------------------------------------------


@pytest.mark.parametrize(
    ("attr", "payload", "answer", "tasks"),
    [
        # The task after the interrupt runs once, after the resume.
        ("ask_in_entrypoint", {"topic": "cat"}, "Ada", {"double": 1}),
        # The asking task runs again on resume; the finished one is not repeated.
        ("ask_via_task", {"n": 2}, "blue", {"double": 1, "ask_in_task": 2}),
    ],
)
async def test_functional_interrupt_and_resume_match_in_process(
    stack_for: Any,
    client: Client,
    attr: str,
    payload: dict[str, Any],
    answer: str,
    tasks: dict[str, int],
) -> None:
    """interrupt() in an entrypoint or in a task pauses the run with the same interrupt
    value as in-process LangGraph; resuming finishes with the same result, and every
    task call was an activity."""
    graph_id = f"agent_{attr}"
    graphs = {graph_id: load_test_graph(graph_id, f"agent_functional.py:{attr}")}
    local = getattr(module("agent_functional"), attr).copy({"checkpointer": InMemorySaver()})
    config = {"configurable": {"thread_id": "oracle"}}
    await local.ainvoke(payload, config)
    paused = await local.aget_state(config)
    expected_interrupts = [i.value for i in paused.interrupts]
    expected = await local.ainvoke(Command(resume=answer), config)
    assert expected_interrupts and "__interrupt__" not in expected

    async with stack_for(graphs) as stack:
        thread = stack.new_thread()
        ticket = await stack.threads.submit(thread, graph_id, payload)
        outcome = await stack.threads.wait(thread, ticket.run_id)
        assert outcome.status == "interrupted", outcome.error
        assert [i["value"] for i in outcome.interrupts] == to_jsonable(expected_interrupts)

        resumed = await stack.threads.resume(thread, answer)
        final = await stack.threads.wait(thread, resumed.run_id)

    assert final.status == "success", final.error
    assert final.values == to_jsonable(expected)
    executions = await node_executions(client, ticket.run_id)
    assert executions_by_type(executions) == Counter(
        {f"{graph_id}.{name}": count for name, count in tasks.items()}
    )


# -- 4. per-node policy ---------------------------------------------------------------


async def test_metadata_timeout_fails_node_after_configured_attempts(
    stack_for: Any, client: Client, tmp_path: Path
) -> None:
    """start_to_close_timeout and retry.maximum_attempts from node metadata: a node that
    outlives its timeout is attempted twice, then the run fails with a timeout."""
    graphs = {"agent_timeout": load_test_graph("agent_timeout", "agent_policy.py:timeout_graph")}
    ledger = tmp_path / "ledger.txt"

    run_id, outcome = await run_once(
        stack_for, graphs, client, "agent_timeout", {"ledger": str(ledger), "log": []}
    )

    assert outcome.status == "error"
    assert outcome.error is not None
    assert outcome.error["node"] == "slow"
    assert outcome.error["type"] == "TimeoutError"
    assert "StartToClose" in outcome.error["message"]
    executions = await node_executions(client, run_id)
    slow = [e for e in executions if e.activity_type == "agent_timeout.slow"]
    assert [(e.attempt, e.outcome) for e in slow] == [(2, "timed_out")]
    assert ledger_counts(ledger)["slow"] == 2


async def test_langgraph_retry_policy_retries_matching_errors(
    stack_for: Any, client: Client, tmp_path: Path
) -> None:
    """RetryPolicy(max_attempts=3, retry_on=ConnectionError): a node failing twice with a
    ConnectionError succeeds on attempt 3, as in-process, with 3 attempts in history."""
    graphs = {"agent_retry": load_test_graph("agent_retry", "agent_policy.py:retry_graph")}
    local_ledger, ledger = tmp_path / "local.txt", tmp_path / "durable.txt"
    expected = await module("agent_policy").retry_graph.ainvoke(
        {"ledger": str(local_ledger), "log": []}
    )

    run_id, outcome = await run_once(
        stack_for, graphs, client, "agent_retry", {"ledger": str(ledger), "log": []}
    )

    assert outcome.status == "success", outcome.error
    assert outcome.values == to_jsonable({**expected, "ledger": str(ledger)})
    assert outcome.values["result"] == "flaky ok after 3 attempts"
    assert ledger_counts(local_ledger)["flaky"] == 3
    assert ledger_counts(ledger)["flaky"] == 3
    attempts = attempts_by_node(await node_executions(client, run_id))
    assert attempts["agent_retry.flaky"] == 3
    assert attempts["agent_retry.start"] == 1


async def test_langgraph_retry_policy_does_not_retry_other_errors(
    stack_for: Any, client: Client, tmp_path: Path
) -> None:
    """An error that does not match retry_on fails the node after one attempt, with the
    same error type and message as in-process LangGraph."""
    graphs = {
        "agent_mismatch": load_test_graph("agent_mismatch", "agent_policy.py:retry_mismatch_graph")
    }
    local_ledger, ledger = tmp_path / "local.txt", tmp_path / "durable.txt"
    error = await in_process_error(
        module("agent_policy").retry_mismatch_graph, {"ledger": str(local_ledger), "log": []}
    )

    run_id, outcome = await run_once(
        stack_for, graphs, client, "agent_mismatch", {"ledger": str(ledger), "log": []}
    )

    assert outcome.status == "error"
    assert outcome.error == {"node": "picky", "type": type(error).__name__, "message": str(error)}
    assert outcome.error["type"] == "RuntimeError"
    assert ledger_counts(local_ledger)["picky"] == ledger_counts(ledger)["picky"] == 1
    attempts = attempts_by_node(await node_executions(client, run_id))
    assert attempts["agent_mismatch.picky"] == 1


@pytest.mark.parametrize(
    ("attr", "node", "error"),
    [
        (
            "value_error_graph",
            "bad_input",
            {"type": "ValueError", "message": "cannot process 'start'"},
        ),
        (
            "non_retryable_graph",
            "declined",
            {"type": "PaymentDeclined", "message": "card 4242 declined"},
        ),
    ],
)
async def test_non_retryable_errors_fail_after_one_attempt(
    stack_for: Any, client: Client, tmp_path: Path, attr: str, node: str, error: dict[str, str]
) -> None:
    """ValueError and ApplicationError(non_retryable=True) are not retried although the
    graph allows 10 attempts; the outcome names the node, the error type and message."""
    graph_id = f"agent_{node}"
    graphs = {graph_id: load_test_graph(graph_id, f"agent_policy.py:{attr}")}
    assert graphs[graph_id].targets[f"{graph_id}.{node}"].policy.retry.maximum_attempts == 10
    ledger = tmp_path / "ledger.txt"

    run_id, outcome = await run_once(
        stack_for, graphs, client, graph_id, {"ledger": str(ledger), "log": []}
    )

    assert outcome.status == "error"
    assert outcome.error == {"node": node, **error}
    assert ledger_counts(ledger)[node] == 1
    executions = await node_executions(client, run_id)
    assert [
        (e.attempt, e.outcome) for e in executions if e.activity_type == f"{graph_id}.{node}"
    ] == [(1, "failed")]


async def test_node_metadata_task_queue_runs_node_on_that_queue(
    stack_for: Any, client: Client
) -> None:
    """A node with metadata task_queue is scheduled on that queue (a worker for it is
    started from the policy) while other nodes use the run's queue; same result as
    in-process."""
    graphs = {"agent_queue": load_test_graph("agent_queue", "agent_policy.py:queue_graph")}
    special_queue: str = module("agent_policy").SPECIAL_QUEUE
    assert graphs["agent_queue"].task_queues == {special_queue}
    payload = {"ledger": "unused", "log": []}
    expected = await module("agent_policy").queue_graph.ainvoke(payload)

    async with stack_for(graphs) as stack:
        thread = stack.new_thread()
        ticket = await stack.threads.submit(thread, "agent_queue", payload)
        outcome = await stack.threads.wait(thread, ticket.run_id)
        main_queue = stack.task_queue

    assert outcome.status == "success", outcome.error
    assert outcome.values == to_jsonable(expected)
    assert await scheduled_queues(client, ticket.run_id) == {
        "agent_queue.start": {main_queue},
        "agent_queue.special": {special_queue},
    }


async def test_graph_defaults_and_node_overrides_set_attempts(
    stack_for: Any, client: Client, tmp_path: Path
) -> None:
    """The graph default maximum_attempts applies to a node, and a per-node override
    given at load replaces it; both visible as attempt counts in history."""
    defaults = NodePolicy(
        retry=RetrySpec(initial_interval=0.05, maximum_interval=0.1, maximum_attempts=2)
    )
    graphs = {
        "agent_defaults": load_test_graph(
            "agent_defaults", "agent_policy.py:override_graph", defaults
        ),
        "agent_override": load_test_graph(
            "agent_override",
            "agent_policy.py:override_graph",
            defaults,
            nodes={"unstable": {"retry": {"maximum_attempts": 4}}},
        ),
    }
    ledgers = {graph_id: tmp_path / f"{graph_id}.txt" for graph_id in graphs}

    async with stack_for(graphs) as stack:
        outcomes: dict[str, tuple[str, Outcome]] = {}
        for graph_id, ledger in ledgers.items():
            thread = stack.new_thread()
            ticket = await stack.threads.submit(
                thread, graph_id, {"ledger": str(ledger), "log": []}
            )
            outcomes[graph_id] = (ticket.run_id, await stack.threads.wait(thread, ticket.run_id))

    for graph_id, attempts_expected in (("agent_defaults", 2), ("agent_override", 4)):
        run_id, outcome = outcomes[graph_id]
        assert outcome.status == "error"
        assert outcome.error == {
            "node": "unstable",
            "type": "ConnectionError",
            "message": f"unstable attempt {attempts_expected} failed",
        }
        attempts = attempts_by_node(await node_executions(client, run_id))
        assert attempts[f"{graph_id}.unstable"] == attempts_expected
        assert attempts[f"{graph_id}.start"] == 1
        assert ledger_counts(ledgers[graph_id])["unstable"] == attempts_expected


KNOWN_POLICY_KEYS = (
    "known: ['approval_default', 'approval_timeout', 'breaker', 'heartbeat_timeout', 'local', "
    "'retry', 'sandbox', 'sandbox_cpu_seconds', 'sandbox_memory_mb', "
    "'schedule_to_close_timeout', 'start_to_close_timeout', 'task_queue']"
)


@pytest.mark.parametrize(
    ("attr", "nodes", "fragments"),
    [
        (
            "override_graph",
            {"unstable": {"start_to_close": 5}},
            ["node 'unstable'", "unknown policy keys ['start_to_close']", KNOWN_POLICY_KEYS],
        ),
        (
            "override_graph",
            {"unstable": {"retry": {"max_attempts": 3}}},
            [
                "node 'unstable'",
                "unknown retry keys ['max_attempts']",
                "known: ['backoff_coefficient', 'initial_interval', 'maximum_attempts', "
                "'maximum_interval', 'non_retryable_error_types']",
            ],
        ),
        (
            "override_graph",
            {"no_such_node": {"start_to_close_timeout": 5}},
            ["policies given for unknown nodes ['no_such_node']"],
        ),
        (
            "bad_metadata_graph",
            None,
            ["node 'typo'", "unknown policy keys ['start_to_close']", KNOWN_POLICY_KEYS],
        ),
    ],
)
def test_unknown_policy_keys_are_rejected_at_load(
    attr: str, nodes: dict[str, Any] | None, fragments: list[str]
) -> None:
    """A policy typo (override or node metadata) or an unknown node is a load error that
    names the graph, the node and the bad key, never a silently ignored setting."""
    with pytest.raises(GraphLoadError) as info:
        load_test_graph("agent_bad_policy", f"agent_policy.py:{attr}", nodes=nodes)
    assert info.value.graph_id == "agent_bad_policy"
    message = str(info.value)
    assert message.startswith("graph 'agent_bad_policy': ")
    for fragment in fragments:
        assert fragment in message


# -- 5. a node that fails for good ----------------------------------------------------


async def test_failed_node_fails_run_like_in_process(
    stack_for: Any, client: Client, tmp_path: Path
) -> None:
    """A node that raises fails the run: the outcome carries node, type and message of
    the in-process exception, and the RunWorkflow execution is FAILED naming the node."""
    graphs = {"agent_fail": load_test_graph("agent_fail", "agent_policy.py:value_error_graph")}
    error = await in_process_error(
        module("agent_policy").value_error_graph, {"ledger": str(tmp_path / "local.txt"), "log": []}
    )

    async with stack_for(graphs) as stack:
        thread = stack.new_thread()
        ticket = await stack.threads.submit(
            thread, "agent_fail", {"ledger": str(tmp_path / "durable.txt"), "log": []}
        )
        outcome = await stack.threads.wait(thread, ticket.run_id)
        handle = client.get_workflow_handle(ticket.run_id)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        description = await handle.describe()

    assert outcome.status == "error"
    assert outcome.error == {
        "node": "bad_input",
        "type": type(error).__name__,
        "message": str(error),
    }
    assert description.status == WorkflowExecutionStatus.FAILED
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.message == "node 'bad_input' failed: ValueError: cannot process 'start'"
    assert cause.non_retryable


async def test_a_node_pool_worker_alone_serves_its_queue(
    client: Client, dev_server: DevServer, postgres_url: str
) -> None:
    """A main worker that serves no node queues plus a dedicated pool for the node's
    queue: the node runs on the pool (its identity in the history), the rest on main."""
    graphs = {"agent_queue": load_test_graph("agent_queue", "agent_policy.py:queue_graph")}
    special_queue: str = module("agent_policy").SPECIAL_QUEUE
    main_queue = f"test-{uuid.uuid4()}"
    recorder = Recorder(postgres_url)
    main = build_workers(client, main_queue, graphs, recorder, node_queues="none", identity="main")
    pool = build_workers(
        client, main_queue, graphs, recorder, node_queues=[special_queue], identity="pool"
    )
    assert [w.task_queue for w in main] == [main_queue]
    assert [w.task_queue for w in pool] == [special_queue]
    async with main[0], pool[0], serving(dev_server, postgres_url, graphs, main_queue) as http:
        threads = Threads(http)
        thread = f"pool-{uuid.uuid4()}"
        ticket = await threads.submit(thread, "agent_queue", {"ledger": "unused", "log": []})
        outcome = await threads.wait(thread, ticket.run_id)
    await recorder.close()
    assert outcome.status == "success", outcome.error
    history = await client.get_workflow_handle(ticket.run_id).fetch_history()
    names = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    ran_by = {
        names[
            e.activity_task_started_event_attributes.scheduled_event_id
        ]: e.activity_task_started_event_attributes.identity
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    }
    assert ran_by == {"agent_queue.start": "main", "agent_queue.special": "pool"}
