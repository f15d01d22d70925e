"""Cron expressions as LangGraph reads them, handed to Temporal's Schedules."""

from __future__ import annotations

import pytest

from tempograph.api.services.crons import temporal_expression


@pytest.mark.parametrize(
    ("langgraph", "temporal"),
    [
        ("*/5 * * * *", "*/5 * * * *"),  # five fields: the same on both sides
        ("0  9 * *   1-5", "0 9 * * 1-5"),
        ("* * * * * */2", "*/2 * * * * * *"),  # croniter's sixth field is seconds
        ("30 6 1 1 * 15", "15 30 6 1 1 * *"),
        ("@hourly", "@hourly"),  # Temporal's shorthands pass through
        ("0 0 1 1 * 0 2030", "0 0 1 1 * 0 2030"),  # seven: Temporal's own form
    ],
)
def test_expressions_keep_their_meaning(langgraph: str, temporal: str) -> None:
    assert temporal_expression(langgraph) == temporal
