"""Traces and a worker's metrics as a user gets them from the CLI: `tempograph up` with
the standard OTEL_* variables pointing at a real OTLP receiver (Jaeger, built from its Go
module), and `tempograph worker`'s metrics port."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import httpx
from langgraph_sdk import get_client

from tempograph.registry import load_project, read_config
from tempograph.temporal.devserver import DevServer
from tests.conftest import TEST_GRAPHS, free_port
from tests.integration.api_server import serving
from tests.integration.jaeger import jaeger
from tests.integration.test_cli import TEMPOGRAPH, started, up_stack

OBSERVED = TEST_GRAPHS / "observed_app" / "langgraph.json"


def tags(span: dict[str, Any]) -> dict[str, Any]:
    return {t["key"]: t["value"] for t in span.get("tags", [])}


def named(spans: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [s for s in spans if s["operationName"].startswith(prefix)]


def test_one_request_is_one_trace_from_http_to_the_model_call(tmp_path: Path) -> None:
    with (
        jaeger(tmp_path) as receiver,
        up_stack(
            tmp_path / "data", OBSERVED, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.otlp_endpoint
        ) as (stack, _),
    ):
        # The caller's own trace: Tempograph's spans continue it (W3C traceparent).
        trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
        reply = httpx.post(
            f"http://127.0.0.1:{stack.api_port}/runs/wait",
            json={
                "assistant_id": "observed",
                "input": {
                    "messages": [{"role": "user", "content": "weather?"}],
                    "flaky_file": str(tmp_path / "flaky"),
                },
            },
            headers={"traceparent": f"00-{trace_id}-{caller_span}-01"},
            timeout=120,
        )
        assert reply.status_code == 200, reply.text

        def connected(spans: list[dict[str, Any]]) -> bool:
            """Every span's parent has arrived too (each process exports in batches: a
            parent that ends later, as the HTTP request's span does, can come later)."""
            ids = {s["spanID"] for s in spans} | {caller_span}
            return all(
                any(r["refType"] == "CHILD_OF" and r["spanID"] in ids for r in refs)
                for refs in (s.get("references", []) for s in spans)
            )

        def complete(spans: list[dict[str, Any]]) -> bool:
            return (
                bool(named(spans, "chat "))
                and len(named(spans, "node observed.flaky")) == 2
                and connected(spans)
            )

        spans = receiver.trace(trace_id, complete)
        # A run queued behind another starts when that one ends, in the worker: its spans
        # still belong to the request that made it.
        api = f"http://127.0.0.1:{stack.api_port}"
        thread = httpx.post(f"{api}/threads", json={}, timeout=30).json()["thread_id"]
        body = {"assistant_id": "observed", "input": {"messages": []}}
        holder = {**body, "input": {"messages": [], "flaky_file": str(tmp_path / "hold")}}
        httpx.post(f"{api}/threads/{thread}/runs", json=holder, timeout=30).raise_for_status()
        queued_trace = secrets.token_hex(16)
        queued = httpx.post(
            f"{api}/threads/{thread}/runs",
            json={**body, "multitask_strategy": "enqueue"},
            headers={"traceparent": f"00-{queued_trace}-{secrets.token_hex(8)}-01"},
            timeout=30,
        ).json()
        assert queued["status"] == "pending"
        queued_spans = receiver.trace(
            queued_trace, lambda found: bool(named(found, "node observed.flaky"))
        )
        assert named(queued_spans, "node observed.ask"), [s["operationName"] for s in queued_spans]
        # A body larger than uvicorn's read buffer makes it resume reading the connection
        # from inside that request; the next request on the connection is still its own
        # trace, not a span of the large one (tempograph.api.server.ApiServer).
        large_trace = secrets.token_hex(16)
        with httpx.Client(base_url=api, timeout=30) as client:
            made = client.post(
                "/threads",
                json={"metadata": {"notes": "x" * 200_000}},
                headers={"traceparent": f"00-{large_trace}-{secrets.token_hex(8)}-01"},
            )
            made.raise_for_status()
            client.get(f"/threads/{made.json()['thread_id']}").raise_for_status()
        after = receiver.spans_of("tempograph-up", "GET /threads/{thread_id}")
        assert after and all(s["traceID"] != large_trace for s in after), after
        # The CLI shows a retried attempt (while it waits for its retry when the CLI is
        # there in time, else once the history records it), and the node's end.
        # As a user beside `tempograph up`: only the data directory tells the CLI where
        # the API and Temporal are (endpoints.json).
        beside = {k: v for k, v in stack.env.items() if k != "TEMPORAL_ADDRESS"}
        done = subprocess.run(
            [
                TEMPOGRAPH,
                "run",
                "observed",
                "--input",
                json.dumps({"messages": [], "flaky_file": str(tmp_path / "flaky-cli")}),
            ],
            env=beside,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert (
            "observed.flaky attempt 1 failed: RuntimeError: Transient failure; retr" in done.stderr
        ), done.stderr
        assert "observed.flaky done" in done.stderr
    names = sorted({s["operationName"] for s in spans})
    assert complete(spans), names
    # One connected trace: every span's parent is in it, but the root's, the caller's.
    ids = {s["spanID"] for s in spans}
    for span in spans:
        parents = [r["spanID"] for r in span.get("references", []) if r["refType"] == "CHILD_OF"]
        assert parents, span["operationName"]
        assert parents[0] in ids or parents[0] == caller_span, span["operationName"]
    assert [s for s in spans if s["references"][0]["spanID"] == caller_span], names
    assert any(n.startswith("POST /runs/wait") for n in names), names  # FastAPI's
    assert "StartWorkflow:RunWorkflow" in names and "RunWorkflow:RunWorkflow" in names
    # The workflow's marker spans are left out (tempograph/temporal/tracing.py).
    assert not [n for n in names if n.startswith(("StartActivity:", "CompleteWorkflow:"))], names
    # A span per node attempt, with its coordinates and outcome.
    attempts = sorted(tags(s)["attempt"] for s in named(spans, "node observed.flaky"))
    assert attempts == [1, 2]
    outcomes = {tags(s)["attempt"]: tags(s)["outcome"] for s in named(spans, "node observed.flaky")}
    assert outcomes == {1: "retrying", 2: "ok"}
    ask = tags(named(spans, "node observed.ask")[0])
    # The attempt's span is Temporal's RunActivity span, renamed: one span per attempt.
    assert not named(spans, "RunActivity:observed."), names
    by_id = {s["spanID"]: s["operationName"] for s in spans}
    parent = named(spans, "node observed.ask")[0]["references"][0]["spanID"]
    assert by_id[parent] == "StartWorkflow:RunWorkflow"
    assert ask["graph"] == "observed" and ask["node"] == "ask" and ask["outcome"] == "ok"
    assert ask["thread_id"] and ask["run_id"]
    # The model call inside the node: a child of the node's span, with model and tokens.
    chat = named(spans, "chat ")[0]
    node_span = named(spans, "node observed.ask")[0]
    assert chat["references"][0]["spanID"] == node_span["spanID"]
    assert tags(chat)["gen_ai.response.model"] == "fake-gpt"
    assert tags(chat)["gen_ai.usage.input_tokens"] == 1200
    assert tags(chat)["gen_ai.usage.output_tokens"] == 300
    tool = named(spans, "execute_tool forecast")[0]
    assert tool["references"][0]["spanID"] == node_span["spanID"]


async def test_a_worker_serves_its_metrics_and_exports_traces_over_grpc(
    dev_server: DevServer, postgres_url: str, tmp_path: Path
) -> None:
    """`tempograph worker` on its own: its metrics port (ours and the Temporal SDK's), and
    spans over OTLP/gRPC when OTEL_EXPORTER_OTLP_PROTOCOL says so."""
    port = free_port()
    queue = f"metrics-{secrets.token_hex(4)}"
    with jaeger(tmp_path) as receiver:
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": dev_server.address,
            "DATABASE_URL": postgres_url,
            "TEMPOGRAPH_TASK_QUEUE": queue,
            "TEMPOGRAPH_METRICS_PORT": str(port),
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.otlp_grpc_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_SERVICE_NAME": "worker-under-test",
        }
        with started(["worker", "--config", str(OBSERVED)], env) as (_, lines):
            assert any(f"metrics on http://127.0.0.1:{port}/metrics" in line for line in lines)
            graphs, _ = load_project(read_config(OBSERVED))
            async with serving(dev_server, postgres_url, graphs, task_queue=queue) as http:
                sdk = get_client(url=str(http.base_url))
                out = await sdk.runs.wait(None, "observed", input={"messages": []})
                assert out["weather"] == "sunny in Lisbon"
            page = await asyncio.to_thread(_read, f"http://127.0.0.1:{port}/metrics")
        spans = await asyncio.to_thread(receiver.spans_of, "worker-under-test", "node observed.ask")
    assert 'tempograph_node_attempts_total{graph="observed",node="ask",outcome="ok"} 1.0' in page
    assert "temporal_num_pollers" in page or "temporal_worker_start" in page
    assert "temporal_activity_execution_latency_count" in page
    assert spans and tags(spans[0])["outcome"] == "ok"


def _read(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return str(reply.read().decode())
