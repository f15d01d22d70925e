"""Functional API: an async entrypoint calling sync and async tasks, and a sync entrypoint."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.func import entrypoint, task
from langgraph.types import interrupt


@task
def double(x: int) -> int:
    """A sync task."""
    return 2 * x


@task
async def describe(label: str, value: int) -> str:
    """An async task."""
    await asyncio.sleep(0)
    return f"{label}={value}"


@task
def square(x: int) -> int:
    """A sync task the entrypoint calls twice at once."""
    return x * x


@entrypoint()
async def pipeline(inputs: dict[str, Any]) -> dict[str, Any]:
    doubled = await double(inputs["n"])
    # Both calls are scheduled before either is awaited: they run concurrently.
    first, second = square(doubled), square(doubled + 1)
    squares = [await first, await second]
    text = await describe("total", sum(squares))
    return {"doubled": doubled, "squares": squares, "text": text}


@entrypoint()
def sync_pipeline(inputs: dict[str, Any]) -> dict[str, Any]:
    return {"doubled": double(inputs["n"]).result()}


@task
def ask_in_task(question: str) -> str:
    """A task that asks a human."""
    answer = interrupt({"question": question})
    return f"task got {answer}"


@entrypoint()
async def ask_in_entrypoint(inputs: dict[str, Any]) -> dict[str, Any]:
    """interrupt() in the entrypoint body itself, then a task using the answer."""
    name = interrupt({"question": f"name for {inputs['topic']}?"})
    length = await double(len(name))
    return {"name": name, "length2": length}


@entrypoint()
async def ask_via_task(inputs: dict[str, Any]) -> dict[str, Any]:
    """interrupt() inside a task."""
    before = await double(inputs["n"])
    answer = await ask_in_task(f"colour for {before}?")
    return {"before": before, "answer": answer}
