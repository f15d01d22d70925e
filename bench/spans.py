"""What one span costs: CPU to record it and to export it over OTLP/HTTP to a Jaeger
started here, with the W3C context carried between them as Temporal's headers carry it.

    .venv/bin/python bench/spans.py [--runs 600]

Each "run" is one root span and 11 children (a three-node run made 12 spans before
``temporal/tracing.py`` left Temporal's marker spans out; it makes 7 now), each child
injecting and extracting the context once. A short pause after each run lets the
exporter's thread keep up, as it does between real runs. CPU is the process's (every
thread: the export thread's encoding and sending count). Cheaper to read than the
end-to-end overhead in ``bench/api.py --observed``, which moves by several percent from
one run to the next on two cores; this says what the spans themselves cost.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.jaeger import jaeger

ATTRIBUTES = {"temporalWorkflowID": "run-" + "0" * 36, "temporalRunID": "0" * 36}


class Discard(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def per_run(provider: TracerProvider, runs: int, children: int) -> float:
    """Milliseconds of process CPU per run of 1 + ``children`` spans."""
    tracer = provider.get_tracer("bench")
    started = time.process_time()
    for _ in range(runs):
        with tracer.start_as_current_span("root", attributes=ATTRIBUTES):
            for i in range(children):
                with tracer.start_as_current_span(f"child {i}", attributes=ATTRIBUTES):
                    carrier: dict[str, str] = {}
                    inject(carrier)
                    extract(carrier)
        time.sleep(0.005)
    provider.force_flush()
    spent = time.process_time() - started
    provider.shutdown()
    return 1000 * spent / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tempograph-bench-spans-") as tmp:
        with jaeger(Path(tmp)) as receiver:
            endpoint = receiver.otlp_endpoint + "/v1/traces"
            print("| spans per run | recorded, not exported (ms CPU) | exported to Jaeger |")
            print("|---|---|---|")
            for spans in (12, 7):
                rows = []
                for exporter in (Discard(), OTLPSpanExporter(endpoint=endpoint)):
                    provider = TracerProvider()
                    provider.add_span_processor(BatchSpanProcessor(exporter))
                    rows.append(per_run(provider, args.runs, spans - 1))
                print(f"| {spans} | {rows[0]:.2f} | {rows[1]:.2f} |")


if __name__ == "__main__":
    main()
