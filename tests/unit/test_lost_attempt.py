"""The record a retry makes of the attempt Temporal gave up on (its worker was lost)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from tempograph.activities.watch import lost_attempt

RETRY_SCHEDULED = datetime(2026, 12, 3, 12, 0, 30, tzinfo=UTC)


def _info(attempt: int, details: list[Any]) -> Any:
    return SimpleNamespace(
        attempt=attempt,
        current_attempt_scheduled_time=RETRY_SCHEDULED,
        heartbeat_timeout=timedelta(seconds=6),
        heartbeat_details=details,
    )


def test_a_first_attempt_lost_nothing() -> None:
    assert lost_attempt(_info(1, []), "t", "n3") is None


def test_the_lost_attempt_starts_when_its_heartbeats_said() -> None:
    started = RETRY_SCHEDULED - timedelta(seconds=20)
    lost = lost_attempt(_info(3, [started.isoformat()]), "t", "n3")
    assert lost is not None
    assert (lost.attempt, lost.node, lost.outcome) == (2, "n3", "lost")
    assert (lost.started_at, lost.ended_at) == (started, RETRY_SCHEDULED)
    assert lost.error is not None and lost.error["error"] == "AttemptLost"


def test_without_a_heartbeat_it_started_about_a_heartbeat_timeout_before() -> None:
    for details in ([], [{"user": "detail"}], ["not a time"]):
        lost = lost_attempt(_info(2, details), "t", "n3")
        assert lost is not None
        assert lost.started_at == RETRY_SCHEDULED - timedelta(seconds=6)
