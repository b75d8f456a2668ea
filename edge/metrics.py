"""The edge agent's Prometheus metrics, read from the publisher at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from edge.publisher import GatewayPublisher

__all__ = ["EdgeCollector"]


class EdgeCollector(Collector):
    """Exports a :class:`GatewayPublisher`'s state as ``cityhub_edge_*`` metrics."""

    def __init__(self, publisher: GatewayPublisher) -> None:
        self.p = publisher

    def collect(self) -> Iterator[Metric]:
        p = self.p
        s = p.queue.stats()
        yield CounterMetricFamily("cityhub_edge_readings_published",
                                  "readings acknowledged by the broker", value=p.published)
        yield CounterMetricFamily("cityhub_edge_readings_dropped",
                                  "oldest readings dropped because the queue was full",
                                  value=s.dropped)
        yield CounterMetricFamily("cityhub_edge_fields_invalid",
                                  "driver fields skipped as invalid", value=p.invalid)
        yield GaugeMetricFamily("cityhub_edge_queue_readings", "readings waiting on disk",
                                value=s.depth)
        yield GaugeMetricFamily("cityhub_edge_queue_bytes", "bytes waiting on disk",
                                value=s.bytes)
        yield GaugeMetricFamily("cityhub_edge_queue_oldest_seconds",
                                "age of the oldest waiting reading", value=s.oldest_age_s or 0)
        faulty = GaugeMetricFamily("cityhub_edge_sensor_faulty",
                                   "1 while a sensor's driver fails", labels=["sensor"])
        for sid, h in sorted(p.health.items()):
            faulty.add_metric([sid], 0 if h["ok"] else 1)
        yield faulty
