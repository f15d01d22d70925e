"""Log lines: one readable line on a terminal, one JSON object otherwise, with the
coordinates of the node attempt that logged them."""

from __future__ import annotations

import asyncio
import json
import logging

from tempograph.logformat import Coordinates, Json, Readable, bind


def record(message: str, exc: BaseException | None = None) -> logging.LogRecord:
    made = logging.LogRecord("tempograph.nodes", logging.WARNING, __file__, 1, message, (), None)
    if exc is not None:
        made.exc_info = (type(exc), exc, exc.__traceback__)
    Coordinates().filter(made)
    return made


def test_a_node_attempts_lines_carry_its_coordinates_and_no_others() -> None:
    async def attempt() -> tuple[logging.LogRecord, logging.LogRecord]:
        async def inside() -> logging.LogRecord:
            bind(thread_id="t-1", run_id="r-1", node="worker", attempt=2)
            return record("seed_demo.worker attempt 2 failed")

        return await asyncio.create_task(inside()), record("outside any attempt")

    inside, outside = asyncio.run(attempt())
    line = json.loads(Json().format(inside))
    assert line["message"] == "seed_demo.worker attempt 2 failed"
    assert (line["thread_id"], line["run_id"], line["node"], line["attempt"]) == (
        "t-1",
        "r-1",
        "worker",
        2,
    )
    assert line["level"] == "WARNING" and line["logger"] == "tempograph.nodes"
    assert "node" not in json.loads(Json().format(outside))  # another task's context


def test_readable_lines_are_single_lines_with_the_coordinates_at_the_end() -> None:
    async def attempt() -> str:
        bind(run_id="r-9", node="plan", attempt=1)
        return Readable().format(record("plan attempt 1 failed: ValueError: no; retrying in 1 s"))

    line = asyncio.run(attempt())
    assert "\n" not in line
    assert line.endswith(
        "plan attempt 1 failed: ValueError: no; retrying in 1 s  run_id=r-9 node=plan attempt=1"
    )


def test_an_error_keeps_its_traceback_in_the_json_object() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError as err:
        line = json.loads(Json().format(record("failed for good", err)))
    assert "RuntimeError: boom" in line["exception"]
