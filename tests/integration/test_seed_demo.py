"""The mission's demo graph (../shared/acceptance/seed_demo.py), served unchanged."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from tempograph.workflows.policy import NodePolicy, RetrySpec
from tests.conftest import load_seed_demo
from tests.integration.history import attempts_by_node, node_executions

DEMO_INPUT = {"step": 0, "result": ""}


def ledger_counts(path: Path) -> Counter[str]:
    lines = path.read_text().splitlines() if path.exists() else []
    return Counter(line.split()[0] for line in lines)


@pytest.fixture
def demo_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ledger = tmp_path / "ledger.txt"
    monkeypatch.setenv("SEED_DEMO_LEDGER", str(ledger))
    monkeypatch.setenv("SEED_DEMO_WORK_SECONDS", "0.01")
    return ledger


async def test_demo_completes_despite_failures_and_retries_only_the_worker(
    stack_for: Any, client: Client, demo_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo's own rate. At 0.5, ten failures in a row (the policy's attempts) came
    # once in a few hundred runs (0.5^10 a worker call) and failed this test.
    monkeypatch.setenv("SEED_DEMO_FAILURE_RATE", "0.3")
    async with stack_for(load_seed_demo()) as stack:
        thread = "user-session-001-" + stack.task_queue
        ticket = await stack.threads.submit(
            thread, "seed_demo", DEMO_INPUT, config={"recursion_limit": 20}
        )
        outcome = await stack.threads.wait(thread, ticket.run_id)

        assert outcome.status == "success"
        assert outcome.values == {"step": 3, "result": "Processed step 3"}
        executed = ledger_counts(demo_env)
        attempts = attempts_by_node(await node_executions(client, ticket.run_id))
        failures = attempts["seed_demo.worker"] - 3
        assert executed["planner"] == 3
        assert executed["controller"] == 3
        assert executed["worker"] == 3 + failures
        assert attempts["seed_demo.planner"] == 3 and attempts["seed_demo.controller"] == 3


async def test_demo_fails_with_node_error_when_every_attempt_fails(
    stack_for: Any, client: Client, demo_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the default policy a user gets: ten attempts (~16 s of backoff), then the run
    fails with the node's error and nothing that finished runs again."""
    monkeypatch.setenv("SEED_DEMO_FAILURE_RATE", "1")
    policy = NodePolicy()
    assert policy.retry == RetrySpec()
    async with stack_for(load_seed_demo(policy)) as stack:
        thread = stack.new_thread()
        ticket = await stack.threads.submit(thread, "seed_demo", DEMO_INPUT)
        outcome = await stack.threads.wait(thread, ticket.run_id)

        assert outcome.status == "error"
        assert outcome.error == {
            "node": "worker",
            "type": "RuntimeError",
            "message": "Transient failure",
        }
        assert ledger_counts(demo_env) == Counter(
            {"planner": 1, "worker": RetrySpec().maximum_attempts}
        )
        state = await stack.threads.state(thread)
        assert state.status == "error"
        assert state.values == {"step": 1, "result": ""}
        assert state.next == ["worker"]
