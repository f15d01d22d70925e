"""Schemathesis against the served API: no 5xx, and every response as ``/openapi.json`` says.

Every operation in the document is a test of its own. Cases are sent over loopback to the
real app with a real worker (graph ``chain3``), so runs really start, wait and stream.

The app and its worker run in a thread with an event loop of their own: schemathesis
sends blocking requests from the test, and the session's loop does not run while a
synchronous test waits for an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.client import Client

from tempograph.api import create_app
from tempograph.database import open_pool
from tempograph.settings import Settings
from tempograph.temporal.codec import data_converter
from tempograph.temporal.devserver import DevServer
from tempograph.valuestore import PostgresValueStore
from tests.conftest import load_test_graph
from tests.integration.api_server import api_stack

GRAPH_ID = "chain3"
# A request not answered by then fails its case instead of holding the suite.
CALL_TIMEOUT = 30.0
# Disposable threads (each with one finished run) and assistants, for DELETE and PATCH.
DISPOSABLE = 3


def _document() -> dict[str, Any]:
    """The app's OpenAPI document, built as ``/openapi.json`` builds it (nothing connects)."""
    return create_app(Settings(), "postgresql://unused", {}).openapi()


# Loaded at collection, so that each operation is a test item of its own. Loading it
# from the live server in a fixture (``schemathesis.pytest.from_fixture``) does not
# work: schemathesis 4.32.5 sets ``Function._nodeid``, which pytest 9.2 no longer has.
# ``test_served_document_is_the_one_tested`` checks that the server serves this document.
# Less one operation: a thread's stream never ends by itself (as LangGraph Server's does
# not), so a generated request to it could only time out; test_thread_stream covers it.
schema = schemathesis.openapi.from_dict(
    _document(),
    config=schemathesis.Config.from_dict(
        {"seed": 20240101, "phases": {"stateful": {"enabled": False}}}
    ),
).exclude(path="/threads/{thread_id}/stream", method="GET")


@dataclass
class KnownIds:
    """Ids that exist in the served app, so that generated requests also get past the 404s.

    ``stable`` rows are for operations that read or add; ``disposable`` rows for the ones
    that delete or change, so that those cannot take the stable ones away from the rest.
    Each row holds ids that belong together (a run of that thread).
    """

    stable: list[dict[str, str]] = field(default_factory=list)
    disposable: list[dict[str, str]] = field(default_factory=list)


KNOWN = KnownIds()  # filled by ``live_api`` before any case is generated


class _ServedStack:
    """``api_stack`` on a loop in a background thread, until ``close``."""

    def __init__(self, dev_server: DevServer, database_url: str) -> None:
        self._dev_server = dev_server
        self._database_url = database_url
        self._ready = threading.Event()
        self._closing = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="api-schema-stack", daemon=True)
        self.base_url = ""

    def start(self) -> str:
        self._thread.start()
        if not self._ready.wait(120) or self._error is not None:
            raise RuntimeError("the API did not start") from self._error
        return self.base_url

    def close(self) -> None:
        """Stop the stack, also one still starting (its start may have been interrupted)."""
        self._closing.set()
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(120)
        assert not self._thread.is_alive(), "the API did not stop"
        if self._error is not None and self.base_url:
            raise self._error  # it started, then failed or did not stop cleanly

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception as exc:  # noqa: BLE001 - handed to the test's thread by start()
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        # A client of this loop: the session's ``client`` fixture belongs to the session loop.
        pool = await open_pool(self._database_url)
        values = PostgresValueStore(lambda: _ready(pool))
        client = await Client.connect(
            self._dev_server.address, data_converter=data_converter(values)
        )
        graphs = {GRAPH_ID: load_test_graph(GRAPH_ID, "api_graphs.py:chain3")}
        async with api_stack(self._dev_server, client, self._database_url, graphs) as http:
            self.base_url = str(http.base_url).rstrip("/")
            self._ready.set()
            if not self._closing.is_set():
                await self._stop.wait()
        await pool.close()


def _thread_with_a_run(http: httpx.Client) -> dict[str, str]:
    thread_id = http.post("/threads", json={}).raise_for_status().json()["thread_id"]
    done = http.post(
        f"/threads/{thread_id}/runs/wait",
        json={"assistant_id": GRAPH_ID, "input": {"steps": []}},
    ).raise_for_status()
    assert done.json() == {"steps": ["a", "b", "c"]}
    run_id = http.get(f"/threads/{thread_id}/runs").raise_for_status().json()[0]["run_id"]
    state = http.get(f"/threads/{thread_id}/state").raise_for_status().json()
    return {
        "thread_id": thread_id,
        "run_id": run_id,
        "checkpoint_id": state["checkpoint"]["checkpoint_id"],
    }


def _assistant(http: httpx.Client) -> str:
    created = http.post("/assistants", json={"graph_id": GRAPH_ID}).raise_for_status()
    return str(created.json()["assistant_id"])


@pytest.fixture(scope="module")
def live_api(dev_server: DevServer, postgres_url: str) -> Iterator[str]:
    """The base URL of the served app, with ``KNOWN`` filled in."""
    stack = _ServedStack(dev_server, postgres_url)
    try:
        base_url = stack.start()
        with httpx.Client(base_url=base_url, timeout=CALL_TIMEOUT) as http:
            KNOWN.stable = [
                {**_thread_with_a_run(http), "assistant_id": GRAPH_ID},
                {**_thread_with_a_run(http), "assistant_id": _assistant(http)},
            ]
            KNOWN.disposable = [
                {**_thread_with_a_run(http), "assistant_id": _assistant(http)}
                for _ in range(DISPOSABLE)
            ]
        yield base_url
    finally:
        KNOWN.stable, KNOWN.disposable = [], []
        stack.close()


def _rows(context: Any) -> list[dict[str, str]]:
    method = context.operation.method.upper() if context.operation else ""
    return KNOWN.disposable if method in ("DELETE", "PATCH") else KNOWN.stable


@schema.hook("flatmap_path_parameters")
def existing_ids(context: Any, path_parameters: Any) -> st.SearchStrategy[Any]:
    """The generated path parameters, or ids of one existing row in their place."""
    rows = _rows(context)
    if not isinstance(path_parameters, dict) or not rows:
        return st.just(path_parameters)
    if not any(name in rows[0] for name in path_parameters):
        return st.just(path_parameters)
    return st.one_of(
        st.just(path_parameters),
        st.sampled_from(rows).map(
            lambda row: {name: row.get(name, value) for name, value in path_parameters.items()}
        ),
    )


@schema.hook("flatmap_body")
def existing_assistant(context: Any, body: Any) -> st.SearchStrategy[Any]:
    """A run's generated ``assistant_id``, or an assistant that exists."""
    path = context.operation.path if context.operation else ""
    if not (path == "/runs" or path.startswith(("/runs/", "/threads/{thread_id}/runs"))):
        return st.just(body)
    if not isinstance(body, dict) or "assistant_id" not in body or not KNOWN.stable:
        return st.just(body)
    assistants = sorted({row["assistant_id"] for row in KNOWN.stable})
    return st.one_of(
        st.just(body),
        st.sampled_from(assistants).map(lambda assistant: {**body, "assistant_id": assistant}),
    )


def _bounded(case: schemathesis.Case[Any]) -> None:
    """Every run starts at once: a delayed one (``after_seconds`` up to a day) would hold
    its thread, and every request waiting on that thread, until the test times out."""
    if isinstance(case.body, dict) and case.body.get("after_seconds"):
        case.body["after_seconds"] = 0


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.timeout(150)
def test_api_conforms_to_its_schema(case: schemathesis.Case[Any], live_api: str) -> None:
    _bounded(case)
    case.call_and_validate(
        base_url=live_api,
        timeout=CALL_TIMEOUT,
        checks=[
            not_a_server_error,
            response_schema_conformance,
            content_type_conformance,
            status_code_conformance,
        ],
    )


def test_served_document_is_the_one_tested(live_api: str) -> None:
    served = httpx.get(f"{live_api}/openapi.json", timeout=CALL_TIMEOUT)
    assert served.raise_for_status().json() == _document()


async def _ready(pool: Any) -> Any:
    return pool
