"""The Temporal SDK's buffered metric updates, as Prometheus families (pure logic: the
buffer is a stand-in that hands over updates shaped like the SDK's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_GAUGE,
    BUFFERED_METRIC_KIND_HISTOGRAM,
)

from tempograph.metrics import SECONDS, TemporalMetrics


@dataclass
class Metric:
    name: str
    kind: int
    description: str = ""


@dataclass
class Update:
    metric: Metric
    value: float
    attributes: dict[str, Any]


class Buffer:
    def __init__(self) -> None:
        self.updates: list[Update] = []

    def retrieve_updates(self) -> list[Update]:
        updates, self.updates = self.updates, []
        return updates


def families(bridge: TemporalMetrics) -> dict[str, dict[tuple[str, tuple[Any, ...]], float]]:
    return {
        family.name: {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for sample in family.samples
        }
        for family in bridge.collect()
    }


def test_counters_add_gauges_replace_and_histograms_are_cumulative() -> None:
    buffer = Buffer()
    bridge = TemporalMetrics(buffer)
    requests = Metric("temporal_request", BUFFERED_METRIC_KIND_COUNTER)
    slots = Metric("temporal_slots", BUFFERED_METRIC_KIND_GAUGE)
    latency = Metric("temporal_latency", BUFFERED_METRIC_KIND_HISTOGRAM)
    queue = {"task_queue": "q", "namespace": "default"}  # one object, as the SDK hands it
    same_values = {"namespace": "default", "task_queue": "q"}  # equal, but another object
    buffer.updates = [
        Update(requests, 2, queue),
        Update(requests, 3, same_values),
        Update(slots, 7, queue),
        Update(slots, 4, queue),
        Update(latency, 0.01, queue),  # on a bound: counted in that bucket
        Update(latency, 0.3, queue),
        Update(latency, 99999, queue),  # past the last bound: only +Inf
    ]
    bridge.drain()
    labels = (("namespace", "default"), ("task_queue", "q"))
    got = families(bridge)
    assert got["temporal_request"][("temporal_request_total", labels)] == 5
    assert got["temporal_slots"][("temporal_slots", labels)] == 4
    histogram = got["temporal_latency"]
    bucket = lambda bound: histogram[("temporal_latency_bucket", (("le", bound), *labels))]  # noqa: E731
    assert bucket("0.01") == 1
    assert bucket("0.25") == 1
    assert bucket("0.5") == 2
    assert bucket(str(SECONDS[-1])) == 2
    assert bucket("+Inf") == 3
    assert histogram[("temporal_latency_count", labels)] == 3
    assert histogram[("temporal_latency_sum", labels)] == 0.01 + 0.3 + 99999
    # Collecting again changes nothing; more updates add to what is there.
    assert families(bridge) == got
    buffer.updates = [Update(latency, 0.02, queue)]
    assert (
        families(bridge)["temporal_latency"][
            ("temporal_latency_bucket", (("le", "0.025"), *labels))
        ]
        == 2
    )
