"""Nodes marked ``local`` run as local activities: same results, retried, no server hop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tempograph.errors import ConfigError
from tempograph.workflows.jsonable import to_jsonable
from tempograph.workflows.policy import NodePolicy, apply_overrides
from tests.conftest import load_test_graph


async def test_local_nodes_match_in_process_and_retry(
    stack_for: Any, client: Client, tmp_path: Path
) -> None:
    durable = load_test_graph("local_nodes", "local_nodes.py:graph")
    local_ledger, durable_ledger = tmp_path / "local.txt", tmp_path / "durable.txt"
    # In process, the flaky node's first attempt fails too: give it one success ahead.
    local_ledger.write_text("flaky\n")
    expected = await durable.original.ainvoke({"ledger": str(local_ledger), "n": 3})

    async with stack_for({"local_nodes": durable}) as stack:
        thread = stack.new_thread()
        ticket = await stack.threads.submit(
            thread, "local_nodes", {"ledger": str(durable_ledger), "n": 3}
        )
        outcome = await stack.threads.wait(thread, ticket.run_id)

    assert outcome.status == "success", outcome.error
    assert outcome.values == to_jsonable({**expected, "ledger": str(durable_ledger)})
    assert outcome.values["path"] == ["double", "flaky", "n=7"]
    assert durable_ledger.read_text().splitlines() == ["flaky", "flaky"]  # retried once
    history = await client.get_workflow_handle(ticket.run_id).fetch_history()
    kinds = [e.event_type for e in history.events]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in kinds
    markers = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]
    # One per node execution, retries inside, and the run's own end (a local activity).
    assert len(markers) == 4


async def test_local_nodes_read_a_stored_value_on_a_later_run(
    stack_for: Any, tmp_path: Path
) -> None:
    """A value the thread holds already reaches a local node by reference: its worker's
    codec fetches the bytes the workflow leaves out."""
    durable = load_test_graph("local_nodes", "local_nodes.py:graph")
    ledger = tmp_path / "ledger.txt"
    ledger.write_text("flaky\n")  # no failing attempt: this test is about the value
    doc = "d" * 100_000
    async with stack_for({"local_nodes": durable}) as stack:
        thread = stack.new_thread()
        paths = []
        for n, extra in ((1, {"doc": doc}), (2, {})):
            ticket = await stack.threads.submit(
                thread, "local_nodes", {"ledger": str(ledger), "n": n, **extra}
            )
            outcome = await stack.threads.wait(thread, ticket.run_id)
            assert outcome.status == "success", outcome.error
            paths.append(outcome.values["path"][-1])
    assert paths == ["n=3 doc=100000", "n=5 doc=100000"]


@pytest.mark.parametrize("extra", [{"task_queue": "gpu"}, {"heartbeat_timeout": 5}])
def test_local_nodes_take_no_queue_or_heartbeat(extra: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="local node"):
        apply_overrides(NodePolicy(), {"local": True, **extra}, "node n")
