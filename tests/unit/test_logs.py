"""A retried node attempt's log record becomes one line; the last attempt keeps its
traceback."""

from __future__ import annotations

import logging
import sys
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, CancelledError

from tempograph.temporal.logs import NODE_RETRY, RetriedAttemptsOnOneLine


def _record(
    error: BaseException,
    attempt: int,
    policy: RetryPolicy | None,
    activity_type: str = "seed_demo.worker",
) -> logging.LogRecord:
    try:
        raise error
    except BaseException:  # noqa: BLE001 - any error the SDK reports
        exc_info: Any = sys.exc_info()
    record = logging.LogRecord(
        "temporalio.activity",
        logging.WARNING,
        __file__,
        1,
        "Completing activity as failed",
        (),
        exc_info,
    )
    record.__dict__["__temporal_error_identifier"] = "ActivityFailure"
    record.__dict__["activity_info"] = SimpleNamespace(
        activity_type=activity_type, attempt=attempt, retry_policy=policy
    )
    return record


POLICY = RetryPolicy(
    initial_interval=timedelta(seconds=0.5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=3,
)


def test_a_retried_attempt_is_one_line() -> None:
    error = ApplicationError("Transient failure", type="RuntimeError")
    record = _record(error, 1, POLICY)
    assert RetriedAttemptsOnOneLine().filter(record)
    assert record.getMessage() == (
        "seed_demo.worker attempt 1 failed: RuntimeError: Transient failure; retrying in 0.5 s"
    )
    assert record.exc_info is None
    second = _record(error, 2, POLICY)
    RetriedAttemptsOnOneLine().filter(second)
    assert second.getMessage().endswith("retrying in 1 s")
    # A first attempt dispatched eagerly carries no policy; one no worker here registered:
    eager = _record(error, 1, None, "unregistered.node")
    RetriedAttemptsOnOneLine().filter(eager)
    assert eager.getMessage().endswith("Transient failure; retrying")
    before = NODE_RETRY.get("seed_demo.worker")
    NODE_RETRY["seed_demo.worker"] = POLICY  # the worker knows the node's own
    try:
        known = _record(error, 1, None)
        RetriedAttemptsOnOneLine().filter(known)
        assert known.getMessage().endswith("Transient failure; retrying in 0.5 s")
    finally:
        NODE_RETRY.pop("seed_demo.worker")
        if before is not None:
            NODE_RETRY["seed_demo.worker"] = before


def test_the_last_attempt_keeps_its_traceback() -> None:
    for record in (
        _record(ApplicationError("boom", type="RuntimeError"), 3, POLICY),  # out of attempts
        _record(ApplicationError("bad", type="ValueError", non_retryable=True), 1, POLICY),
        _record(
            ApplicationError("no", type="KeyError"),
            1,
            RetryPolicy(non_retryable_error_types=["KeyError"]),
        ),
    ):
        assert RetriedAttemptsOnOneLine().filter(record)
        assert record.exc_info is not None
        assert record.getMessage() == "Completing activity as failed"


def test_a_cancelled_attempt_says_so_and_not_that_it_retries() -> None:
    record = _record(CancelledError("Activity cancelled"), 1, POLICY)
    assert RetriedAttemptsOnOneLine().filter(record)
    assert record.getMessage() == "seed_demo.worker attempt 1 cancelled"
    assert record.exc_info is None
