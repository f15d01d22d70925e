"""Driving runs the way a client does, for engine tests: thread names, submit, wait, resume,
state, over the real HTTP API (an app and a worker of the test's own).

The engine tests were written against run outcomes (status, values, pending interrupts,
the failed node); :class:`Threads` gives them those from the API's runs and threads.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio.client import Client

from tempograph.errors import ErrorCode, InvalidRequestError, TempographError
from tempograph.remote import thread_uuid


@dataclass
class Run:
    """A submission's answer: the API run id (also the workflow id of a first run)."""

    run_id: str
    thread_id: str
    workflow_id: str


@dataclass
class Outcome:
    """Where a run ended: ``success``, ``error`` or ``interrupted`` (waiting for input)."""

    run_id: str
    status: str
    values: Any = None
    interrupts: list[Any] = field(default_factory=list)
    error: dict[str, Any] | None = None


@dataclass
class ThreadView:
    """A thread's state, as ``tempograph state`` prints it."""

    thread_id: str
    status: str
    values: Any
    next: list[str]
    interrupts: list[Any]
    checkpoint_id: str | None
    run_id: str | None = None  # the run in progress, else the latest run
    history: list[dict[str, Any]] = field(default_factory=list)


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    detail = response.json().get("detail", response.text)
    code = {404: ErrorCode.NOT_FOUND, 409: ErrorCode.NOT_WAITING}.get(
        response.status_code, ErrorCode.INVALID_INPUT
    )
    if response.status_code >= 500:
        raise TempographError(str(detail))
    raise InvalidRequestError(str(detail), code=code)


class Threads:
    """Runs on named threads (names map to thread UUIDs as the CLI maps them)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def submit(
        self,
        thread: str,
        graph_id: str,
        input: Any = None,
        *,
        config: dict[str, Any] | None = None,
        **body: Any,
    ) -> Run:
        tid = thread_uuid(thread)
        response = await self.http.post(
            f"/threads/{tid}/runs",
            json={
                "assistant_id": graph_id,
                "input": input,
                "config": config or {},
                "if_not_exists": "create",
                **body,
            },
        )
        _raise_for(response)
        run = response.json()
        return Run(run["run_id"], tid, run["workflow_id"])

    async def resume(self, thread: str, value: Any, update: Any = None) -> Run:
        tid = thread_uuid(thread)
        found = await self.http.get(f"/threads/{tid}")
        _raise_for(found)
        graph_id = found.json()["metadata"].get("graph_id") or "unknown"
        response = await self.http.post(
            f"/threads/{tid}/runs",
            json={"assistant_id": graph_id, "command": {"resume": value, "update": update}},
        )
        _raise_for(response)
        run = response.json()
        return Run(run["run_id"], tid, run["workflow_id"])

    async def wait(self, thread: str, run_id: str) -> Outcome:
        tid = thread_uuid(thread)
        joined = await self.http.get(f"/threads/{tid}/runs/{run_id}/join", timeout=None)
        _raise_for(joined)
        output = joined.json()
        run = (await self.http.get(f"/threads/{tid}/runs/{run_id}")).json()
        thread_row = (await self.http.get(f"/threads/{tid}")).json()
        if run["status"] == "error":
            error = (output or {}).get("__error__") or thread_row.get("error") or {}
            shown = {"type": error.get("error"), "message": error.get("message")}
            if error.get("node"):
                shown["node"] = error["node"]
            return Outcome(run_id, "error", error=shown)
        values = {k: v for k, v in (output or {}).items() if k != "__interrupt__"}
        if isinstance(output, dict) and "__interrupt__" in output:
            return Outcome(run_id, "interrupted", values, list(output["__interrupt__"]))
        if thread_row["status"] == "interrupted":
            interrupts = [i for pending in thread_row["interrupts"].values() for i in pending]
            return Outcome(run_id, "interrupted", values, interrupts)
        return Outcome(run_id, run["status"], output)

    async def state(self, thread: str, history: bool = False) -> ThreadView:
        tid = thread_uuid(thread)
        found = await self.http.get(f"/threads/{tid}")
        _raise_for(found)
        state = (await self.http.get(f"/threads/{tid}/state")).json()
        if state["checkpoint"] is None:
            raise InvalidRequestError(f"thread {thread!r} has no state", code=ErrorCode.NOT_FOUND)
        view = ThreadView(
            thread_id=thread,
            status=found.json()["status"],
            values=state["values"],
            next=state["next"],
            interrupts=state["interrupts"],
            checkpoint_id=state["checkpoint_id"],
        )
        for status in ("running", None):
            query = f"?status={status}&limit=1" if status else "?limit=1"
            runs = (await self.http.get(f"/threads/{tid}/runs{query}")).json()
            if runs:
                view.run_id = runs[0]["run_id"]
                break
        if history:
            past = (await self.http.post(f"/threads/{tid}/history", json={"limit": 1000})).json()
            view.history = [
                {
                    "checkpoint_id": h["checkpoint_id"],
                    "parent_checkpoint_id": h["parent_checkpoint_id"],
                    "step": (h["metadata"] or {}).get("step"),
                    "source": (h["metadata"] or {}).get("source"),
                    "values": h["values"],
                    "next": h["next"],
                    "created_at": h["created_at"],
                }
                for h in past
            ]
        return view


@dataclass
class Stack:
    """A worker and an API for a test's graphs (see ``tests.conftest.running_stack``)."""

    client: Client
    task_queue: str
    http: httpx.AsyncClient

    @property
    def threads(self) -> Threads:
        return Threads(self.http)

    def new_thread(self) -> str:
        return f"t-{uuid.uuid4()}"
