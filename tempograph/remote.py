"""The CLI's side of ``run``, ``resume`` and ``state``: the HTTP API, as any client uses it.

Runs, threads and their order live behind the API (Postgres and Temporal together), so
the CLI asks the API, like the SDK does. Node progress comes from the run's Temporal
history, which shows retries too; it is optional (printed when Temporal answers).

The CLI names threads freely (``--thread user-session-001``); the API wants UUIDs, so a
name that is not one maps to a fixed UUID (:func:`thread_uuid`), the same every time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from tempograph.errors import ErrorCode, TempographError

_NAMES = uuid.UUID("2f0b6c2e-5d3f-4e0a-9a51-3c6e2f4b8d10")


def thread_uuid(name: str, tenant: str | None = None) -> str:
    """The API thread id of a CLI thread name (a UUID stays itself). With tenants, a name
    is the tenant's: two tenants' ``user-session-001`` are two threads."""
    try:
        return str(uuid.UUID(name))
    except ValueError:
        return str(uuid.uuid5(_NAMES, name if tenant is None else f"{tenant}/{name}"))


def credentials() -> dict[str, str]:
    """Headers for the API's auth, from the environment: ``LANGGRAPH_API_KEY`` as
    ``x-api-key`` (as the official SDK sends it), ``TEMPOGRAPH_TOKEN`` as a bearer token."""
    headers: dict[str, str] = {}
    if key := os.environ.get("LANGGRAPH_API_KEY"):
        headers["x-api-key"] = key
    if token := os.environ.get("TEMPOGRAPH_TOKEN"):
        headers["Authorization"] = f"Bearer {token}"
    return headers


class Api:
    """A few calls to the HTTP API, with its errors as :class:`TempographError`."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.url, timeout=httpx.Timeout(30, read=None), headers=credentials()
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = await self._http.request(method, path, json=body)
        except httpx.TransportError as err:
            raise TempographError(
                f"cannot reach the Tempograph API at {self.url}: {err}",
                code=ErrorCode.SERVER_UNAVAILABLE,
            ) from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except (ValueError, AttributeError):
                detail = response.text
            if response.status_code in (401, 403):
                raise TempographError(
                    f"the API refused the request ({response.status_code}: {detail}); "
                    "credentials are read from LANGGRAPH_API_KEY (sent as x-api-key) or "
                    "TEMPOGRAPH_TOKEN (sent as a bearer token)",
                    code=ErrorCode.UNAUTHORIZED,
                )
            code = ErrorCode.SERVER_UNAVAILABLE if response.status_code >= 500 else None
            if response.status_code == 409:
                code = ErrorCode.NOT_WAITING
            raise TempographError(str(detail), code=code or ErrorCode.INVALID_INPUT)
        return response.json() if response.content.strip() else None


_DRAIN_SECONDS = 2.0


async def progress(
    temporal_address: str,
    namespace: str,
    workflow_id: str,
    say: Callable[[str], None],
    since: float | None = None,
    connect: dict[str, Any] | None = None,
) -> None:
    """Print node starts, ends and failed attempts of a run from its Temporal history (as
    they happen from now on), and attempts waiting to be retried, until cancelled."""
    from temporalio.client import Client

    from tempograph.crypto import KeyRing
    from tempograph.temporal.codec import data_converter

    since = time.time() - 0.5 if since is None else since
    converter = data_converter(None, KeyRing.load())  # to read encrypted failures
    try:
        client = await Client.connect(
            temporal_address, namespace=namespace, data_converter=converter, **(connect or {})
        )
    except RuntimeError:
        return  # progress is optional
    handle = client.get_workflow_handle(workflow_id)
    names: dict[int, str] = {}
    ids: dict[int, str] = {}
    told: set[tuple[str, int]] = set()  # (activity id, failed attempt) already shown
    retries = asyncio.create_task(_retries(client, workflow_id, converter, say, told))
    try:
        await _history(handle, converter, say, since, names, ids, told)
    finally:
        retries.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await retries


async def _retries(
    client: Any,
    workflow_id: str,
    converter: Any,
    say: Callable[[str], None],
    told: set[tuple[str, int]],
) -> None:
    """Failed attempts Temporal will retry, as they happen: the history records a
    retried attempt only when a later one ends, so ask for the pending activities."""
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.enums.v1 import PendingActivityState
    from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

    # The raw call: the SDK's describe() would decode the memo and search attributes.
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
    )

    while True:
        try:
            described = await client.workflow_service.describe_workflow_execution(request)
        except Exception:  # noqa: BLE001 - not started yet, or gone: keep asking
            await asyncio.sleep(0.2)
            continue
        for pending in described.pending_activities:
            failed = pending.attempt - 1
            if (
                failed < 1
                or pending.state != PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
                or not pending.HasField("last_failure")
                or (pending.activity_id, failed) in told
            ):
                continue
            told.add((pending.activity_id, failed))
            why = await _why(converter, pending.last_failure)
            when = ""
            if pending.HasField("next_attempt_schedule_time"):
                delay = pending.next_attempt_schedule_time.ToDatetime().timestamp() - time.time()
                when = f" in {max(delay, 0):.1f} s"
            name = pending.activity_type.name
            say(f"  {name} attempt {failed} failed: {why}; retrying{when}")
        await asyncio.sleep(0.2)  # a retry's back-off may be shorter than a second


async def _why(converter: Any, failure: Any) -> str:
    """``RuntimeError: Transient failure``: a node failure's type and message."""
    from tempograph.temporal.codec import failure_message

    message = await failure_message(converter, failure)
    kind = (
        failure.application_failure_info.type
        if failure.HasField("application_failure_info")
        else ""
    )
    return f"{kind}: {message}" if kind and not message.startswith(kind) else message


async def _history(
    handle: Any,
    converter: Any,
    say: Callable[[str], None],
    since: float,
    names: dict[int, str],
    ids: dict[int, str],
    told: set[tuple[str, int]],
) -> None:
    from temporalio.api.enums.v1 import EventType

    for _ in range(600):
        try:
            async for event in handle.fetch_history_events(wait_new_event=True):
                kind = event.event_type
                if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                    attrs = event.activity_task_scheduled_event_attributes
                    names[event.event_id] = attrs.activity_type.name
                    ids[event.event_id] = attrs.activity_id
                if event.event_time.ToDatetime().timestamp() < since:
                    continue
                if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                    say(f"  {names[event.event_id]} ...")
                elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                    started = event.activity_task_started_event_attributes
                    key = (ids.get(started.scheduled_event_id, ""), started.attempt - 1)
                    if started.attempt > 1 and started.HasField("last_failure") and key not in told:
                        told.add(key)  # a retry too quick for the poller
                        name = names.get(started.scheduled_event_id, "?")
                        why = await _why(converter, started.last_failure)
                        say(f"  {name} attempt {started.attempt - 1} failed: {why}; retried")
                elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                    done = event.activity_task_completed_event_attributes
                    say(f"  {names.get(done.scheduled_event_id, '?')} done")
                elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
                    failed = event.activity_task_failed_event_attributes
                    name = names.get(failed.scheduled_event_id, "?")
                    say(f"  {name} failed: {await _why(converter, failed.failure)}")
            return
        except Exception:  # noqa: BLE001 - the run may not have started yet
            await asyncio.sleep(0.2)


async def follow_run(
    api: Api,
    thread_id: str,
    run: dict[str, Any],
    temporal_address: str,
    namespace: str,
    say: Callable[[str], None],
    connect: dict[str, Any] | None = None,
) -> tuple[str, Any]:
    """Wait for ``run`` to end, printing progress; returns (outcome, what to print):
    ``success`` and the values, ``interrupted`` and the pending interrupts, or ``error``
    and the error."""
    # Events from this run's creation on (a resume's workflow has older segments): not
    # from when the watcher starts, which a fast run may already have passed.
    started = datetime.fromisoformat(run["created_at"]).timestamp() - 0.5
    watcher = asyncio.create_task(
        progress(
            temporal_address,
            namespace,
            run.get("workflow_id") or run["run_id"],
            say,
            started,
            connect,
        )
    )
    try:
        running = await api.call("GET", f"/threads/{thread_id}/runs?status=running&limit=1")
        if running and running[0]["run_id"] != run["run_id"]:
            say(f"  waiting: run {running[0]['run_id']} holds the thread; this one is queued")
        output = await api.call("GET", f"/threads/{thread_id}/runs/{run['run_id']}/join")
        ended = await api.call("GET", f"/threads/{thread_id}/runs/{run['run_id']}")
        thread = await api.call("GET", f"/threads/{thread_id}")
        if thread["status"] != "interrupted":
            # The history may trail the API by a moment: let the watcher print it to
            # its end (the workflow has ended; one waiting at an interrupt has not).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(watcher), _DRAIN_SECONDS)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    if ended["status"] == "error":
        error = (output or {}).get("__error__") or thread.get("error") or {}
        return "error", error
    if thread["status"] == "interrupted":
        interrupts = [i for pending in thread["interrupts"].values() for i in pending]
        return "interrupted", interrupts
    if isinstance(output, dict):
        output = {k: v for k, v in output.items() if k != "__interrupt__"}
    return ended["status"], output


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()
