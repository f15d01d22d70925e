"""How a long-running command stops when nodes outlive its grace period (a sync node's
thread cannot be stopped): it exits as in a crash, after stopping what it started."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable

from tempograph.console import EXIT_FAILED, _err

PAST_GRACE = 60.0
# `up` waits this long past the grace for its worker, whose nodes are cancelled at the grace.
UP_MARGIN = 5.0


def exit_after(
    grace: float,
    then: str = "Temporal retries them on another worker after their heartbeat timeout",
    before: Callable[[], None] | None = None,
) -> None:
    """A stopping worker's nodes still running when ``grace`` is over die with the process,
    as in a crash: Temporal retries them on another worker after their heartbeat timeout.
    Cancelling them instead (the SDK's way) has Temporal retry at once, while a sync node,
    whose thread nothing can stop, runs on here: two copies of the node at once.
    ``before`` stops what the process started (``up``'s dev server and Postgres)."""

    def abandon() -> None:
        if before is not None:
            before()
        _err(
            f"nodes still running {grace:g} s after the stop signal"
            f" (TEMPOGRAPH_GRACEFUL_SHUTDOWN_SECONDS): exiting; {then}"
        )
        sys.stderr.flush()
        os._exit(EXIT_FAILED)

    timer = threading.Timer(grace, abandon)
    timer.daemon = True
    timer.start()


def once(stop: Callable[[], None]) -> Callable[[], None]:
    """``stop``, run by whichever caller comes first (the others wait for it)."""
    lock = threading.Lock()
    done = False

    def run() -> None:
        nonlocal done
        with lock:
            if not done:
                done = True
                stop()

    return run
