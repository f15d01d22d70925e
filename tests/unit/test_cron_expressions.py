"""Cron expressions as LangGraph (croniter) reads them, handed to Temporal's Schedules.

Each pair was checked once against both: croniter's next times and the next action times
Temporal's dev server computed for the translation."""

from __future__ import annotations

import pytest

from tempograph.api.services.crons import temporal_expressions


@pytest.mark.parametrize(
    ("langgraph", "temporal"),
    [
        ("*/5 * * * *", ["0 */5 * * * * *"]),
        ("0  9 * *   mon-fri", ["0 0 9 * * mon-fri *"]),
        # croniter's sixth field is seconds, its seventh the year; Temporal's order is
        # second, minute, hour, day, month, day of week, year.
        ("*/10 * * * * 15", ["15 */10 * * * * *"]),
        ("0 0 1 1 * 30 2027", ["30 0 0 1 1 * 2027"]),
        # A day of the month and a day of the week: either, for croniter; both, for
        # Temporal. Two expressions make it either.
        ("0 9 1 * 1", ["0 0 9 1 * * *", "0 0 9 * * 1 *"]),
        ("0 9 * * 1", ["0 0 9 * * 1 *"]),
        ("@hourly", ["@hourly"]),  # the shorthands both know pass through
    ],
)
def test_expressions_keep_their_meaning(langgraph: str, temporal: list[str]) -> None:
    assert temporal_expressions(langgraph) == temporal
