"""Node policy resolution and its errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from langgraph.types import RetryPolicy, TimeoutPolicy

from tempograph.errors import ConfigError
from tempograph.workflows.policy import (
    NodePolicy,
    apply_overrides,
    from_langgraph_retry,
    from_langgraph_timeout,
)


def test_overrides_layer_on_defaults() -> None:
    policy = apply_overrides(
        NodePolicy(),
        {
            "start_to_close_timeout": 30,
            "task_queue": "gpu",
            "retry": {"maximum_attempts": 4, "non_retryable_error_types": ["KeyError"]},
        },
        "node x",
    )
    options = policy.activity_options("default")
    assert options["start_to_close_timeout"] == timedelta(seconds=30)
    assert options["task_queue"] == "gpu"
    assert options["retry_policy"].maximum_attempts == 4
    assert options["retry_policy"].non_retryable_error_types == ["KeyError"]
    assert NodePolicy().activity_options("default")["task_queue"] == "default"
    sandboxed = apply_overrides(NodePolicy(), {"sandbox": True, "sandbox_memory_mb": 256}, "n")
    assert (sandboxed.sandbox, sandboxed.sandbox_memory_mb) == (True, 256)
    assert sandboxed.sandbox_cpu_seconds == NodePolicy().sandbox_cpu_seconds
    gated = apply_overrides(
        NodePolicy(), {"approval_timeout": 3600, "approval_default": {"approved": False}}, "n"
    )
    assert (gated.approval_timeout, gated.approval_default) == (3600.0, {"approved": False})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"start_to_close": 3}, "unknown policy keys ['start_to_close']"),
        ({"start_to_close_timeout": -1}, "must be a positive number"),
        ({"retry": {"maximum_attempts": 1.5}}, "integer >= 0"),
        ({"retry": {"max_attempts": 2}}, "unknown retry keys ['max_attempts']"),
        ({"task_queue": ""}, "non-empty string"),
        ([1], "must be an object"),
        ({"sandbox": "yes"}, "sandbox must be true or false"),
        ({"sandbox_memory_mb": 10}, "integer >= 64"),
        ({"sandbox_cpu_seconds": 0}, "must be a positive number"),
        ({"sandbox": True, "local": True}, "no sandbox"),
        ({"approval_timeout": 60}, "approval_timeout needs approval_default"),
        ({"approval_default": "no"}, "approval_default needs approval_timeout"),
        ({"approval_timeout": 0, "approval_default": "no"}, "must be a positive number"),
    ],
)
def test_bad_policies_say_what_is_wrong(spec: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        apply_overrides(NodePolicy(), spec, "node x")  # type: ignore[arg-type]


def test_langgraph_retry_and_timeout_map_to_temporal() -> None:
    policy = from_langgraph_retry(
        NodePolicy(),
        [RetryPolicy(initial_interval=1.5, backoff_factor=3, max_interval=20, max_attempts=7)],
    )
    retry = policy.retry.to_temporal()
    assert retry.initial_interval == timedelta(seconds=1.5)
    assert retry.backoff_coefficient == 3
    assert retry.maximum_interval == timedelta(seconds=20)
    assert retry.maximum_attempts == 7
    assert from_langgraph_timeout(NodePolicy(), 12).start_to_close_timeout == 12
    mapped = from_langgraph_timeout(
        NodePolicy(), TimeoutPolicy(run_timeout=timedelta(seconds=40), idle_timeout=5)
    )
    assert (mapped.start_to_close_timeout, mapped.heartbeat_timeout) == (40, 5)
