"""A retried node attempt logs one line, not a traceback.

The SDK logs every failed activity attempt at WARNING with its traceback; a transient
fault that Temporal retries would fill an operator's console with them. This filter on
the SDK's activity logger turns an attempt that will be retried into one line,
``seed_demo.worker attempt 1 failed: RuntimeError: Transient failure; retrying in 0.5 s``,
and leaves the traceback to the attempt that fails for good (and to DEBUG).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import temporalio.activity
from temporalio.exceptions import ApplicationError, CancelledError

logger = logging.getLogger("tempograph.nodes")


class RetriedAttemptsOnOneLine(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "__temporal_error_identifier", None) != "ActivityFailure":
            return True
        info = getattr(record, "activity_info", None)
        error = record.exc_info[1] if record.exc_info else None
        if info is None or error is None:
            return True
        if isinstance(error, (asyncio.CancelledError, CancelledError)):
            # Cancelled (its run was, or the worker stops): no failure, nothing retried.
            record.msg = f"{info.activity_type} attempt {info.attempt} cancelled"
            record.args, record.exc_info, record.exc_text = (), None, None
            return True
        delay = retry_delay(info, error)
        if delay is None:
            return True  # its last attempt: the traceback stays
        kind = (error.type if isinstance(error, ApplicationError) else None) or type(error).__name__
        message = error.message if isinstance(error, ApplicationError) else str(error)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s attempt %d failed", info.activity_type, info.attempt, exc_info=True)
        when = f"retrying in {delay:g} s" if delay >= 0 else "retrying"
        record.msg = (
            f"{info.activity_type} attempt {info.attempt} failed: {kind}: {message}; {when}"
        )
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        return True


def retry_delay(info: Any, error: BaseException) -> float | None:
    """Seconds until Temporal retries this attempt (-1: it will, when is not known), or
    None when it will not."""
    if isinstance(error, ApplicationError) and error.non_retryable:
        return None
    # An eagerly dispatched first attempt does not carry its policy: the node's own.
    policy = info.retry_policy or NODE_RETRY.get(info.activity_type)
    if policy is None:
        return -1.0
    if policy.maximum_attempts and info.attempt >= policy.maximum_attempts:
        return None
    if isinstance(error, ApplicationError) and error.type in (
        policy.non_retryable_error_types or ()
    ):
        return None
    delay = policy.initial_interval.total_seconds() * policy.backoff_coefficient ** (
        info.attempt - 1
    )
    if policy.maximum_interval is not None:
        delay = min(delay, policy.maximum_interval.total_seconds())
    return round(float(delay), 3)


_installed = RetriedAttemptsOnOneLine()

# Each node activity type's retry policy, as its worker schedules it (build_workers).
NODE_RETRY: dict[str, Any] = {}


def install() -> None:
    """Once per process: the filter on the SDK's activity logger, with the attempt's
    info on each record."""
    temporalio.activity.logger.full_activity_info_on_extra = True
    base = temporalio.activity.logger.base_logger
    if _installed not in base.filters:
        base.addFilter(_installed)
