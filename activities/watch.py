"""What an operator sees of one node attempt: its span, its log coordinates, its metrics,
its model usage and cost, and its row in the run's timeline (``node_attempts``).

:class:`AttemptWatch` wraps the attempt in :mod:`tempograph.activities.nodes`; what it
records is for people, so it never changes the attempt's outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from tempograph.activities.events import NodeAttempt, Recorder
from tempograph.logformat import bind
from tempograph.metrics import NODE_ATTEMPTS, NODE_RETRIES, NODE_SECONDS, record_usage
from tempograph.telemetry import current_span, trace_id, tracer, tracing_on
from tempograph.temporal.logs import retry_delay
from tempograph.usage import Prices, UsageHandler


class AttemptWatch:
    """One node attempt, watched: ``usage`` is the LangChain handler to put on its config."""

    def __init__(self, task_id: str, configurable: dict[str, Any], prices: Prices) -> None:
        self._info = activity.info()
        self._task_id = task_id
        self._graph, _, self._node = self._info.activity_type.partition(".")
        self._thread_id = str(configurable.get("thread_id") or "")
        self._run_id = str(configurable.get("run_id") or "")
        self.usage = UsageHandler(prices, tracer() if tracing_on() else None)
        self.outcome = "failed"  # until the attempt says otherwise
        self.started_at = datetime.now(UTC)

    @contextlib.asynccontextmanager
    async def watching(self, recorder: Recorder | None) -> AsyncIterator[None]:
        info = self._info
        bind(
            trace_id=trace_id(),  # the attempt's trace, for what the SDK logs after it
            thread_id=self._thread_id,
            run_id=self._run_id,
            node=self._node,
            attempt=info.attempt,
        )
        failure: dict[str, str] | None = None
        started, started_at = time.perf_counter(), self.started_at
        # The attempt's span is Temporal's (its interceptor's RunActivity span, one per
        # attempt), named for the node and given its coordinates: one span, not two.
        span = current_span()
        if span.is_recording():
            span.update_name(f"node {info.activity_type}")
            span.set_attributes(
                {
                    "graph": self._graph,
                    "node": self._node,
                    "thread_id": self._thread_id,
                    "run_id": self._run_id,
                    "attempt": info.attempt,
                }
            )
        try:
            yield
        except BaseException as error:
            kind = (error.type if isinstance(error, ApplicationError) else None) or type(
                error
            ).__name__
            message = error.message if isinstance(error, ApplicationError) else str(error)
            failure = {"error": kind, "message": message}
            if isinstance(error, Exception) and retry_delay(info, error) is not None:
                self.outcome = "retrying"
                NODE_RETRIES.labels(self._graph, self._node, kind).inc()
            elif isinstance(error, asyncio.CancelledError):
                self.outcome = "cancelled"
            raise
        finally:
            self.usage.close()
            span.set_attribute("outcome", self.outcome)
            labels = (self._graph, self._node, self.outcome)
            NODE_ATTEMPTS.labels(*labels).inc()
            NODE_SECONDS.labels(*labels).observe(time.perf_counter() - started)
            record_usage(self.usage.by_model)
            if recorder is not None and self._run_id:
                lost = lost_attempt(info, self._task_id, self._node)
                if lost is not None:  # its own record never came (kept if it did)
                    await recorder.record_attempt(self._run_id, lost, {})
                attempt = NodeAttempt(
                    self._task_id,
                    info.attempt,
                    self._node,
                    started_at,
                    datetime.now(UTC),
                    self.outcome,
                    failure,
                )
                await recorder.record_attempt(self._run_id, attempt, self.usage.by_model)


def lost_attempt(info: activity.Info, task_id: str, node: str) -> NodeAttempt | None:
    """The attempt before ``info``'s as Temporal gave up on it (its worker died, or it
    timed out): it started when its heartbeats said, or, killed before its first one,
    about a heartbeat timeout before this retry was scheduled, when it ended. None on a
    first attempt."""
    if info.attempt <= 1:
        return None
    given_up = info.current_attempt_scheduled_time
    started = given_up - (info.heartbeat_timeout or timedelta())
    details = list(info.heartbeat_details)
    if details and isinstance(details[0], str):
        with contextlib.suppress(ValueError):
            started = min(datetime.fromisoformat(details[0]), given_up)
    message = (
        "no result reached Temporal (its worker stopped, or the attempt timed out);"
        " Temporal retried the node"
    )
    return NodeAttempt(
        task_id,
        info.attempt - 1,
        node,
        started,
        given_up,
        "lost",
        {"error": "AttemptLost", "message": message},
    )
