"""A real OTLP receiver for trace tests: Jaeger (v2, the OpenTelemetry Collector with
Jaeger's storage and query), built from its Go module by ``scripts/setup``, on loopback
ports of its own, keeping traces in memory; its query API reads them back."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tempograph.temporal.processes import free_port

TOOLS = Path(os.environ.get("TEMPOGRAPH_TOOLS_DIR", Path.home() / ".cache" / "tempograph"))
JAEGER = TOOLS / "jaeger" / "bin" / "jaeger"

CONFIG = """
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    logs:
      level: warn
    metrics:
      level: none
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{query}
    grpc:
      endpoint: 127.0.0.1:{query_grpc}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{otlp}
      grpc:
        endpoint: 127.0.0.1:{otlp_grpc}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


@dataclass
class Jaeger:
    otlp_endpoint: str  # for OTEL_EXPORTER_OTLP_ENDPOINT (http/protobuf)
    query_url: str
    otlp_grpc_endpoint: str = ""  # the same with OTEL_EXPORTER_OTLP_PROTOCOL=grpc

    def spans_of(self, service: str, operation: str, timeout: float = 60) -> list[dict[str, Any]]:
        """Spans named ``operation`` that ``service`` sent, once there are any."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = httpx.get(
                f"{self.query_url}/api/traces",
                params={"service": service, "operation": operation, "limit": 20},
                timeout=5,
            )
            if reply.status_code == 200:
                spans = [
                    s
                    for t in reply.json().get("data") or []
                    for s in t["spans"]
                    if s["operationName"] == operation
                ]
                if spans:
                    return spans
            time.sleep(0.5)
        return []

    def trace(
        self, trace_id: str, complete: Callable[[list[dict[str, Any]]], bool], timeout: float = 60
    ) -> list[dict[str, Any]]:
        """The trace's spans once ``complete(spans)`` (exporters send in batches), or what
        arrived by the timeout."""
        spans: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = httpx.get(f"{self.query_url}/api/traces/{trace_id}", timeout=5)
            if reply.status_code == 200:
                data = reply.json().get("data") or []
                spans = data[0]["spans"] if data else []
                if complete(spans):
                    return spans
            time.sleep(0.5)
        return spans


@contextlib.contextmanager
def jaeger(workdir: Path) -> Iterator[Jaeger]:
    assert JAEGER.exists(), f"{JAEGER} is missing: run ./scripts/setup"
    otlp, otlp_grpc, query, query_grpc = free_port(), free_port(), free_port(), free_port()
    config = workdir / "jaeger.yaml"
    config.write_text(
        CONFIG.format(otlp=otlp, otlp_grpc=otlp_grpc, query=query, query_grpc=query_grpc)
    )
    log = (workdir / "jaeger.log").open("w")
    process = subprocess.Popen(
        [str(JAEGER), "--config", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        query_url = f"http://127.0.0.1:{query}"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (workdir / "jaeger.log").read_text()[-3000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{query_url}/api/services", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "jaeger did not start"
            time.sleep(0.3)
        yield Jaeger(f"http://127.0.0.1:{otlp}", query_url, f"http://127.0.0.1:{otlp_grpc}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
