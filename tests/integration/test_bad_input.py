"""Bad requests are refused before anything is stored, and leave nothing behind."""

from __future__ import annotations

import asyncio

import pytest
from tempograph.workflows.types import RunRequest
from temporalio.client import Client, WorkflowExecutionStatus

from tempograph.errors import ErrorCode, InvalidRequestError
from tests.conftest import load_seed_demo, running_worker


async def test_rejected_first_run_leaves_no_thread(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEED_DEMO_WORK_SECONDS", "0.01")
    async with running_worker(client, load_seed_demo()) as stack:
        thread = stack.new_thread()
        with pytest.raises(InvalidRequestError) as err:
            await stack.threads.submit(thread, RunRequest("seed_demo", {"step": "zero"}))
        assert err.value.code == ErrorCode.INVALID_INPUT
        assert "step: 'zero' is not of type 'integer'" in err.value.message
        with pytest.raises(InvalidRequestError, match="does not exist"):
            await stack.threads.state(thread)

        # The execution the submission started ends by itself instead of idling.
        handle = client.get_workflow_handle(f"thread-{thread}")
        for _ in range(300):
            if (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED:
                break
            await asyncio.sleep(0.1)
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED

        # The thread id stays usable: a good run starts a fresh thread.
        ticket = await stack.threads.submit(thread, RunRequest("seed_demo", {"step": 2}))
        assert (await stack.threads.wait(thread, ticket.run_id)).status == "success"


async def test_unknown_graph_is_named_with_the_ones_served(client: Client) -> None:
    async with running_worker(client, load_seed_demo()) as stack:
        with pytest.raises(InvalidRequestError) as err:
            await stack.threads.submit(stack.new_thread(), RunRequest("nope", {}))
        assert err.value.code == ErrorCode.UNKNOWN_GRAPH
        assert err.value.message == "unknown graph 'nope'; this worker serves ['seed_demo']"
