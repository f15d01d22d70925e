"""Bad requests are refused before anything is stored, and leave nothing behind."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import Client

from tempograph.errors import ErrorCode, InvalidRequestError
from tempograph.remote import thread_uuid
from tests.conftest import load_seed_demo


async def test_rejected_first_run_leaves_no_thread(
    stack_for: Any, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEED_DEMO_WORK_SECONDS", "0.01")
    async with stack_for(load_seed_demo()) as stack:
        thread = stack.new_thread()
        with pytest.raises(InvalidRequestError) as err:
            await stack.threads.submit(thread, "seed_demo", {"step": "zero"})
        assert err.value.code == ErrorCode.INVALID_INPUT
        assert "step: 'zero' is not of type 'integer'" in err.value.message
        with pytest.raises(InvalidRequestError, match="not found"):
            await stack.threads.state(thread)
        # Nothing was started in Temporal either.
        listed = [e async for e in client.list_workflows(f'ThreadId = "{thread_uuid(thread)}"')]
        assert listed == []

        # The thread id stays usable: a good run starts a fresh thread.
        ticket = await stack.threads.submit(thread, "seed_demo", {"step": 2})
        assert (await stack.threads.wait(thread, ticket.run_id)).status == "success"


async def test_unknown_graph_is_named_with_the_ones_served(stack_for: Any, client: Client) -> None:
    async with stack_for(load_seed_demo()) as stack:
        with pytest.raises(InvalidRequestError) as err:
            await stack.threads.submit(stack.new_thread(), "nope", {})
        assert err.value.code == ErrorCode.INVALID_INPUT
        assert err.value.message == (
            "Invalid assistant: 'nope'. Must be either a UUID or one of the graph ids ['seed_demo']"
        )
