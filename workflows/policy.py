"""Per-node activity policy: timeouts, retries, task queue and circuit breaker.

Resolved once, when the worker registers a graph, from (strongest first) the node's
``metadata["tempograph"]``, LangGraph's own ``RetryPolicy`` / ``TimeoutPolicy`` on the
node, the graph's defaults in ``langgraph.json`` and the built-in defaults below.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy as TemporalRetryPolicy

from tempograph.errors import ConfigError

# Unknown keys are an error, not silently ignored: a typo must not disable a timeout.
_POLICY_KEYS = {
    "local",
    "sandbox",
    "sandbox_cpu_seconds",
    "sandbox_memory_mb",
    "start_to_close_timeout",
    "schedule_to_close_timeout",
    "heartbeat_timeout",
    "task_queue",
    "retry",
    "approval_timeout",
    "approval_default",
    "breaker",
}
_RETRY_KEYS = {
    "initial_interval",
    "backoff_coefficient",
    "maximum_interval",
    "maximum_attempts",
    "non_retryable_error_types",
}


@dataclass(frozen=True)
class RetrySpec:
    """Temporal retry settings; ``maximum_attempts=0`` means unlimited.

    The defaults absorb a flaky call (10 attempts, 0.5 s doubling up to 2 s: ~16 s of
    backoff) and let a node that fails every time fail its run within about 20 s. A long
    outage is a circuit breaker's job (it spaces attempts by its cool-down) or a policy's
    that raises these.
    """

    initial_interval: float = 0.5
    backoff_coefficient: float = 2.0
    maximum_interval: float = 2.0
    maximum_attempts: int = 10
    non_retryable_error_types: tuple[str, ...] = ()

    def to_temporal(self) -> TemporalRetryPolicy:
        return TemporalRetryPolicy(
            initial_interval=timedelta(seconds=self.initial_interval),
            backoff_coefficient=self.backoff_coefficient,
            maximum_interval=timedelta(seconds=self.maximum_interval),
            maximum_attempts=self.maximum_attempts,
            non_retryable_error_types=list(self.non_retryable_error_types) or None,
        )


@dataclass(frozen=True)
class NodePolicy:
    """How one node's activity is scheduled. Seconds are floats; ``None`` is unset."""

    start_to_close_timeout: float = 300.0
    schedule_to_close_timeout: float | None = None
    # Node activities heartbeat every 2 s while they run (the SDK sends at most one per
    # 0.8 x this), so a worker that dies mid-node is noticed within this many seconds
    # and the node is retried on another worker; without it, only after start-to-close.
    heartbeat_timeout: float | None = 10.0
    task_queue: str | None = None
    retry: RetrySpec = field(default_factory=RetrySpec)
    # A local activity runs in the worker that holds the workflow task: no server round
    # trip per node, for short nodes. No task queue or heartbeat of its own.
    local: bool = False
    # Each attempt in a child process: scrubbed environment, CPU and memory limits, a
    # temporary working directory, no network (tempograph.activities.sandbox).
    sandbox: bool = False
    sandbox_cpu_seconds: float = 60.0
    sandbox_memory_mb: int = 2048
    # An interrupt() in this node waits at most this long for a human; then the workflow
    # (a durable timer) answers it with approval_default, as command.resume would.
    approval_timeout: float | None = None
    approval_default: Any = None
    # The dependency this node calls, whose circuit breaker guards its attempts
    # (tempograph.breakers); None: its task queue's breaker, if that names one.
    breaker: str | None = None

    def activity_options(self, default_task_queue: str) -> dict[str, Any]:
        """Keyword arguments for ``workflow.execute_activity`` (or the local variant)."""
        if self.local:
            return {
                "start_to_close_timeout": timedelta(seconds=self.start_to_close_timeout),
                "schedule_to_close_timeout": _seconds(self.schedule_to_close_timeout),
                "retry_policy": self.retry.to_temporal(),
            }
        return {
            "start_to_close_timeout": timedelta(seconds=self.start_to_close_timeout),
            "schedule_to_close_timeout": _seconds(self.schedule_to_close_timeout),
            "heartbeat_timeout": _seconds(self.heartbeat_timeout),
            "task_queue": self.task_queue or default_task_queue,
            "retry_policy": self.retry.to_temporal(),
        }


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def _positive(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where}: {key} must be a positive number of seconds, got {value!r}")
    return float(value)


def apply_overrides(base: NodePolicy, spec: Mapping[str, Any], where: str) -> NodePolicy:
    """Layer a ``{"start_to_close_timeout": 30, "retry": {...}, ...}`` mapping on ``base``."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: policy must be an object, got {type(spec).__name__}")
    unknown = set(spec) - _POLICY_KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown policy keys {sorted(unknown)}; known: {sorted(_POLICY_KEYS)}"
        )
    changes: dict[str, Any] = {}
    for key in ("start_to_close_timeout", "schedule_to_close_timeout", "heartbeat_timeout"):
        if key in spec:
            changes[key] = None if spec[key] is None else _positive(where, key, spec[key])
    for key in ("local", "sandbox"):
        if key in spec:
            if not isinstance(spec[key], bool):
                raise ConfigError(f"{where}: {key} must be true or false")
            changes[key] = spec[key]
    if "sandbox_cpu_seconds" in spec:
        changes["sandbox_cpu_seconds"] = _positive(
            where, "sandbox_cpu_seconds", spec["sandbox_cpu_seconds"]
        )
    if "sandbox_memory_mb" in spec:
        memory = spec["sandbox_memory_mb"]
        if isinstance(memory, bool) or not isinstance(memory, int) or memory < 64:
            raise ConfigError(f"{where}: sandbox_memory_mb must be an integer >= 64")
        changes["sandbox_memory_mb"] = memory
    if "task_queue" in spec:
        queue = spec["task_queue"]
        if not isinstance(queue, str) or not queue:
            raise ConfigError(f"{where}: task_queue must be a non-empty string")
        changes["task_queue"] = queue
    if "retry" in spec:
        changes["retry"] = _retry_overrides(base.retry, spec["retry"], where)
    if "breaker" in spec:
        breaker = spec["breaker"]
        if not isinstance(breaker, str) or not breaker:
            raise ConfigError(f'{where}: breaker must name the dependency, e.g. "openai"')
        changes["breaker"] = breaker
    if "approval_timeout" in spec:
        if "approval_default" not in spec:
            raise ConfigError(
                f"{where}: approval_timeout needs approval_default, the answer given when "
                "nobody answers in time"
            )
        changes["approval_timeout"] = _positive(where, "approval_timeout", spec["approval_timeout"])
        changes["approval_default"] = spec["approval_default"]
    elif "approval_default" in spec:
        raise ConfigError(f"{where}: approval_default needs approval_timeout (seconds)")
    policy = replace(base, **changes)
    if policy.local and policy.sandbox:
        raise ConfigError(f"{where}: a local node runs in the workflow's worker: no sandbox")
    if policy.local and (policy.task_queue or spec.get("heartbeat_timeout")):
        raise ConfigError(
            f"{where}: a local node runs in the workflow's worker; it takes "
            "no task_queue or heartbeat_timeout"
        )
    return policy


def _retry_overrides(base: RetrySpec, spec: Any, where: str) -> RetrySpec:
    if isinstance(spec, TemporalRetryPolicy):
        return RetrySpec(
            initial_interval=spec.initial_interval.total_seconds(),
            backoff_coefficient=spec.backoff_coefficient,
            maximum_interval=(spec.maximum_interval or spec.initial_interval * 100).total_seconds(),
            maximum_attempts=spec.maximum_attempts,
            non_retryable_error_types=tuple(spec.non_retryable_error_types or ()),
        )
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: retry must be an object or a temporalio RetryPolicy")
    unknown = set(spec) - _RETRY_KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown retry keys {sorted(unknown)}; known: {sorted(_RETRY_KEYS)}"
        )
    changes: dict[str, Any] = {}
    for key in ("initial_interval", "maximum_interval", "backoff_coefficient"):
        if key in spec:
            changes[key] = _positive(where, f"retry.{key}", spec[key])
    if "maximum_attempts" in spec:
        attempts = spec["maximum_attempts"]
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
            raise ConfigError(
                f"{where}: retry.maximum_attempts must be an integer >= 0 (0 is unlimited)"
            )
        changes["maximum_attempts"] = attempts
    if "non_retryable_error_types" in spec:
        names = spec["non_retryable_error_types"]
        if (
            not isinstance(names, Sequence)
            or isinstance(names, str)
            or not all(isinstance(n, str) for n in names)
        ):
            raise ConfigError(
                f"{where}: retry.non_retryable_error_types must be a list of exception class names"
            )
        changes["non_retryable_error_types"] = tuple(names)
    return replace(base, **changes)


def from_langgraph_retry(base: NodePolicy, policies: Sequence[Any]) -> NodePolicy:
    """Map LangGraph ``RetryPolicy`` objects onto Temporal's retry settings.

    Intervals and attempts come from the first policy (LangGraph applies the first one
    whose ``retry_on`` matches; Temporal has one schedule per activity). ``retry_on`` is
    evaluated by the node activity itself, which marks a non-matching error
    non-retryable. LangGraph's ``jitter`` has no Temporal equivalent and is dropped.
    """
    if not policies:
        return base
    first = policies[0]
    return replace(
        base,
        retry=replace(
            base.retry,
            initial_interval=float(first.initial_interval),
            backoff_coefficient=float(first.backoff_factor),
            maximum_interval=float(first.max_interval),
            maximum_attempts=int(first.max_attempts),
        ),
    )


def from_langgraph_timeout(base: NodePolicy, timeout: Any) -> NodePolicy:
    """Map a LangGraph node timeout (seconds or ``TimeoutPolicy``) onto the activity."""
    if timeout is None:
        return base
    if isinstance(timeout, int | float | timedelta):
        return replace(base, start_to_close_timeout=_as_seconds(timeout))
    run_timeout = _as_seconds(getattr(timeout, "run_timeout", None))
    idle_timeout = _as_seconds(getattr(timeout, "idle_timeout", None))
    changes: dict[str, Any] = {}
    if run_timeout:
        changes["start_to_close_timeout"] = run_timeout
    if idle_timeout and not math.isinf(idle_timeout):
        changes["heartbeat_timeout"] = idle_timeout
    return replace(base, **changes)


def _as_seconds(value: Any) -> Any:
    return value.total_seconds() if isinstance(value, timedelta) else value
