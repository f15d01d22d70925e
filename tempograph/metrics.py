"""Prometheus metrics: Tempograph's own (``tempograph_*``) and the Temporal SDK's
(``temporal_*``), on the API's ``GET /metrics`` and a worker's metrics port.

Our metrics are ``prometheus_client`` objects in the process's default registry: a
process that runs both the API and a worker (``tempograph up``) shows both on one page.
The Temporal SDK reports into a :class:`~temporalio.runtime.MetricBuffer` on the
process's Temporal runtime; :class:`TemporalMetrics` drains it into counters, gauges and
histograms of the same names, so its worker, poller, task-slot and latency metrics come
out of the same page without a second port.

Gauges that describe the whole system rather than this process (interrupts waiting,
task-queue backlog) are computed by the API when scraped (:mod:`tempograph.api.routes.metrics`).
"""

from __future__ import annotations

import bisect
import itertools
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

# TEMPOGRAPH_METRICS=off: no metric is kept (the objects below record nothing), and the
# Temporal SDK's are not buffered. /metrics and the worker's port then serve an empty page.
ENABLED = os.environ.get("TEMPOGRAPH_METRICS", "on").lower() not in ("off", "0", "false")


class _Off:
    """A metric that records nothing (metrics off)."""

    def labels(self, *_: Any, **__: Any) -> _Off:
        return self

    def inc(self, *_: Any) -> None: ...
    def observe(self, *_: Any) -> None: ...
    def set(self, *_: Any) -> None: ...
    def clear(self) -> None: ...


def _metric(kind: Any, *args: Any, **kwargs: Any) -> Any:
    return kind(*args, **kwargs) if ENABLED else _Off()


SECONDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)

RUNS_STARTED = _metric(Counter, "tempograph_runs_started", "Runs created, by graph", ["graph"])
RUNS_FINISHED = _metric(
    Counter,
    "tempograph_runs_finished",
    "Runs ended, by graph and outcome (success, error, interrupted, timeout)",
    ["graph", "outcome"],
)
RUN_SECONDS = _metric(
    Histogram,
    "tempograph_run_duration_seconds",
    "From a run's creation to its end (a resumed run: to the end of its last segment)",
    ["graph", "outcome"],
    buckets=SECONDS,
)
NODE_SECONDS = _metric(
    Histogram,
    "tempograph_node_duration_seconds",
    "One node attempt, by graph, node and outcome (ok, interrupted, retrying, failed)",
    ["graph", "node", "outcome"],
    buckets=SECONDS,
)
NODE_ATTEMPTS = _metric(
    Counter,
    "tempograph_node_attempts",
    "Node attempts, by graph, node and outcome",
    ["graph", "node", "outcome"],
)
NODE_RETRIES = _metric(
    Counter,
    "tempograph_node_retries",
    "Node attempts that failed and will be retried, by the error's type",
    ["graph", "node", "error_type"],
)
TOKENS = _metric(
    Counter,
    "tempograph_llm_tokens",
    "Model tokens, by model and kind (input, output)",
    ["model", "kind"],
)
COST = _metric(
    Counter,
    "tempograph_llm_cost_usd",
    "Model cost in US dollars, by model (priced models)",
    ["model"],
)
INTERRUPTS_WAITING = _metric(
    Gauge,
    "tempograph_interrupts_waiting",
    "Runs waiting at interrupt() for an answer, by graph",
    ["graph"],
)
INTERRUPT_OLDEST = _metric(
    Gauge,
    "tempograph_interrupt_oldest_wait_seconds",
    "How long the oldest run waiting at interrupt() has waited, by graph",
    ["graph"],
)
BREAKER_STATE = _metric(
    Gauge,
    "tempograph_breaker_state",
    "A dependency's circuit breaker: 0 closed, 1 half-open, 2 open (as this process last saw it)",
    ["breaker"],
)
BREAKER_TRANSITIONS = _metric(
    Counter,
    "tempograph_breaker_transitions",
    "Circuit breaker state changes made by this process, by breaker and new state",
    ["breaker", "state"],
)
BREAKER_REJECTED = _metric(
    Counter,
    "tempograph_breaker_rejected_attempts",
    "Node attempts refused by an open circuit breaker (no call reached the dependency)",
    ["breaker"],
)
BACKLOG = _metric(
    Gauge,
    "tempograph_task_queue_backlog",
    "Tasks waiting in a Temporal task queue for a worker (approximate, from Temporal)",
    ["task_queue", "kind"],
)


def record_usage(by_model: dict[str, Any]) -> None:
    for model, usage in by_model.items():
        if usage.input_tokens:
            TOKENS.labels(model, "input").inc(usage.input_tokens)
        if usage.output_tokens:
            TOKENS.labels(model, "output").inc(usage.output_tokens)
        if usage.cost_usd:
            COST.labels(model).inc(usage.cost_usd)


class TemporalMetrics(Collector):
    """The Temporal SDK's metrics of this process, drained from its metric buffer."""

    def __init__(self, buffer: Any) -> None:
        self._buffer = buffer
        self._lock = threading.Lock()
        # name -> (kind, description, {labels: value | [bucket counts, sum, count]}); a
        # histogram's bucket counts are per bucket here, cumulative when collected.
        self._series: dict[str, tuple[int, str, dict[tuple[tuple[str, str], ...], Any]]] = {}
        # The SDK hands the same attributes object for the same attribute set: its sorted
        # labels are worked out once (the object is kept, so its id stays its own).
        self._labels: dict[int, tuple[Any, tuple[tuple[str, str], ...]]] = {}

    def drain(self) -> None:
        from temporalio.runtime import (
            BUFFERED_METRIC_KIND_COUNTER,
            BUFFERED_METRIC_KIND_GAUGE,
        )

        try:
            updates = self._buffer.retrieve_updates()
        except RuntimeError:  # no client has created the runtime's core yet
            return
        with self._lock:
            for update in updates:
                metric = update.metric
                kind = int(metric.kind)
                entry = self._series.get(metric.name)
                if entry is None:
                    entry = self._series[metric.name] = (kind, metric.description or "", {})
                attributes = update.attributes
                known = self._labels.get(id(attributes))
                if known is None or known[0] is not attributes:
                    labels = tuple(sorted((str(k), str(v)) for k, v in attributes.items()))
                    self._labels[id(attributes)] = (attributes, labels)
                else:
                    labels = known[1]
                series = entry[2]
                if kind == BUFFERED_METRIC_KIND_COUNTER:
                    series[labels] = series.get(labels, 0) + update.value
                elif kind == BUFFERED_METRIC_KIND_GAUGE:
                    series[labels] = update.value
                else:
                    histogram = series.get(labels)
                    if histogram is None:
                        histogram = series[labels] = [[0] * len(SECONDS), 0.0, 0]
                    bucket = bisect.bisect_left(SECONDS, update.value)
                    if bucket < len(SECONDS):
                        histogram[0][bucket] += 1
                    histogram[1] += update.value
                    histogram[2] += 1

    def collect(self) -> Iterator[Any]:
        from temporalio.runtime import (
            BUFFERED_METRIC_KIND_COUNTER,
            BUFFERED_METRIC_KIND_GAUGE,
        )

        self.drain()
        with self._lock:
            snapshot = {
                name: (
                    kind,
                    doc,
                    {
                        labels: (
                            (list(itertools.accumulate(value[0])), value[1], value[2])
                            if isinstance(value, list)
                            else value
                        )
                        for labels, value in series.items()
                    },
                )
                for name, (kind, doc, series) in self._series.items()
            }
        for name, (kind, doc, series) in sorted(snapshot.items()):
            names = _label_names(series)
            family: Any
            if kind == BUFFERED_METRIC_KIND_COUNTER:
                family = CounterMetricFamily(name, doc or name, labels=names)
                for labels, value in series.items():
                    family.add_metric(_values(labels, names), value)
            elif kind == BUFFERED_METRIC_KIND_GAUGE:
                family = GaugeMetricFamily(name, doc or name, labels=names)
                for labels, value in series.items():
                    family.add_metric(_values(labels, names), value)
            else:
                family = HistogramMetricFamily(name, doc or name, labels=names)
                for labels, (buckets, total, count) in series.items():
                    bounds = [(str(b), float(n)) for b, n in zip(SECONDS, buckets, strict=True)]
                    bounds.append(("+Inf", float(count)))
                    family.add_metric(_values(labels, names), bounds, total)
            yield family


def _label_names(series: dict[tuple[tuple[str, str], ...], Any]) -> list[str]:
    return sorted({key for labels in series for key, _ in labels})


def _values(labels: tuple[tuple[str, str], ...], names: Sequence[str]) -> list[str]:
    given = dict(labels)
    return [given.get(name, "") for name in names]


_runtime: Any = None
_temporal: TemporalMetrics | None = None
_lock = threading.Lock()


def temporal_runtime() -> Any:
    """This process's Temporal runtime, its SDK metrics buffered for :class:`TemporalMetrics`
    (registered once in the default registry)."""
    global _runtime, _temporal
    with _lock:
        if _runtime is None:
            from temporalio.runtime import (
                LogForwardingConfig,
                LoggingConfig,
                MetricBuffer,
                MetricBufferDurationFormat,
                Runtime,
                TelemetryConfig,
                TelemetryFilter,
            )

            # The SDK core's own warnings go through Python's logging (the process's JSON
            # lines), not straight to stderr as plain text between them.
            logs = LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=LogForwardingConfig(
                    logger=logging.getLogger("temporalio.core"), append_target_to_name=False
                ),
            )
            if not ENABLED:
                _runtime = Runtime(telemetry=TelemetryConfig(logging=logs))
                return _runtime
            buffer = MetricBuffer(100_000, MetricBufferDurationFormat.SECONDS)
            _runtime = Runtime(telemetry=TelemetryConfig(logging=logs, metrics=buffer))
            _temporal = TemporalMetrics(buffer)
            REGISTRY.register(_temporal)
            threading.Thread(target=_drain_forever, name="temporal-metrics", daemon=True).start()
        return _runtime


def _drain_forever(every: float = 2.0) -> None:
    """Keep the SDK's buffer from filling between scrapes (it drops what overflows)."""
    while True:
        time.sleep(every)
        if _temporal is not None:
            _temporal.drain()
