"""Traces: OpenTelemetry, exported over OTLP when the standard variables ask for it.

Tracing is on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
is set (and neither ``OTEL_SDK_DISABLED=true`` nor ``OTEL_TRACES_EXPORTER=none``), over
``http/protobuf`` unless ``OTEL_EXPORTER_OTLP_PROTOCOL`` says ``grpc``; every
other ``OTEL_*`` variable (headers, timeout, resource attributes, service name, sampler)
is read by the SDK itself. Off, nothing is installed and nothing is spent.

On, one request makes one trace: FastAPI's instrumentation opens it (continuing a client's
``traceparent``), Temporal's interceptor carries it in the headers of every workflow start,
signal, update and activity, and each node attempt has its span (``node graph.node``, with
graph, node, thread, run, attempt and outcome), under which LangChain's model and tool
calls have theirs (:class:`tempograph.usage.UsageHandler`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Iterator
from typing import Any

from tempograph.errors import ConfigError

_installed: bool | None = None


def tracing_wanted() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").lower() == "none":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def setup_tracing(service: str) -> bool:
    """Install the OTLP exporter for this process, once; whether tracing is on.
    ``service`` names the process unless ``OTEL_SERVICE_NAME`` does."""
    global _installed
    if _installed is not None:
        return _installed
    _installed = tracing_wanted()
    if not _installed:
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(exporter_class(protocol())()))
    trace.set_tracer_provider(provider)
    atexit.register(provider.shutdown)  # what is still batched goes out
    return True


def tracing_on() -> bool:
    return bool(_installed)


def protocol() -> str:
    """OTLP's transport, as the standard variables choose it (default http/protobuf)."""
    return (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).lower()


def exporter_class(transport: str) -> Any:
    """The OTLP span exporter for ``transport``; ConfigError for one we do not speak."""
    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter
    if transport not in ("http/protobuf", "http"):
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={transport!r}: Tempograph exports traces over"
            " 'http/protobuf' or 'grpc'"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter


def shutdown() -> None:
    """Send what is still batched and stop exporting (a process that ends)."""
    if not _installed:
        return
    from opentelemetry import trace

    provider: Any = trace.get_tracer_provider()
    if hasattr(provider, "shutdown"):
        provider.shutdown()


def client_interceptors() -> list[Any]:
    """Temporal's tracing interceptor when tracing is on (clients pass it to workers)."""
    if not _installed:
        return []
    from tempograph.temporal.tracing import LeanTracingInterceptor

    return [LeanTracingInterceptor()]


def instrument_app(app: Any) -> None:
    if not _installed:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # Streams would make a span per SSE chunk; the request's span is enough.
    FastAPIInstrumentor.instrument_app(app, exclude_spans=["send", "receive"])


def tracer() -> Any:
    """Tempograph's tracer (a no-op one while tracing is off)."""
    from opentelemetry import trace

    return trace.get_tracer("tempograph")


def current_span() -> Any:
    """The span in context (a non-recording one while tracing is off or outside a trace)."""
    from opentelemetry import trace

    return trace.get_current_span()


def traceparent() -> str | None:
    """The current span's W3C ``traceparent``, to continue its trace later; None when
    tracing is off or nothing is being traced."""
    if not _installed:
        return None
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent")


@contextlib.contextmanager
def continuing(parent: str | None) -> Iterator[None]:
    """Spans made inside are children of ``parent`` (a stored traceparent), if any."""
    if not _installed or not parent:
        yield
        return
    from opentelemetry import context
    from opentelemetry.propagate import extract

    token = context.attach(extract({"traceparent": parent}))
    try:
        yield
    finally:
        context.detach(token)


def trace_id() -> str | None:
    """The current trace's id (32 hex digits), for log lines; None outside a trace."""
    if not _installed:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
