"""The ingester's counters: plain numbers the service updates, exported to Prometheus by a
collector that reads them at scrape time (one source of truth, no double bookkeeping)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["DecoderCounts", "IngestCollector", "IngestCounters"]


@dataclass
class IngestCounters:
    received: int = 0
    stored_points: int = 0
    acked: int = 0
    batches: int = 0
    retries: int = 0
    spooled_batches: int = 0
    spooled_points: int = 0
    replayed_points: int = 0
    # Points the compiled path wrote as lines whose Point objects were built again from
    # their messages (for the spool, to find the points a store refused, or to cut a
    # single message a store answered 413 to): the slow path's work, 0 while the store
    # takes every batch.
    rebuilt_points: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)
    batch_seconds_sum: float = 0.0
    spool_bytes: int = 0
    spool_batches: int = 0
    connected: bool = False
    unacked: int = 0  # messages held, not yet acknowledged
    reading_paused: bool = False  # at max_inflight: the broker keeps the rest

    def snapshot(self) -> dict[str, object]:
        return {"received": self.received, "stored_points": self.stored_points,
                "acked": self.acked, "batches": self.batches, "retries": self.retries,
                "spooled_points": self.spooled_points, "replayed_points": self.replayed_points,
                "rebuilt_points": self.rebuilt_points, "dead_lettered": dict(self.dead_lettered)}


class DecoderCounts(Protocol):
    """Messages each decoding path answered (see :mod:`ingest.decoder` for the paths)."""

    decoded_compiled: int  # the Cython kernel wrote their lines
    decoded_python: int  # the Python kernel decoded them
    decoded_reference: int  # left to the reference (unusual shapes and every refusal)


class IngestCollector(Collector):
    """Exports :class:`IngestCounters` (and the decoder's path counts) as
    ``cityhub_ingest_*`` metrics. ``decoder_path``: the path this ingester's messages of
    the usual shape take (``compiled`` or ``python``), exported as a gauge."""

    def __init__(self, counters: IngestCounters, decoder: DecoderCounts | None = None,
                 decoder_path: str | None = None) -> None:
        self.c = counters
        self.decoder = decoder
        self.decoder_path = decoder_path

    def collect(self) -> Iterator[Metric]:
        c = self.c
        for name, doc, value in (
                ("messages_received", "MQTT messages received", c.received),
                ("points_stored", "points written to the store (live and replayed)",
                 c.stored_points),
                ("messages_acked", "messages acknowledged after being made durable", c.acked),
                ("batches_written", "batches written to the store", c.batches),
                ("write_retries", "store writes retried", c.retries),
                ("points_spooled", "points appended to the local spool", c.spooled_points),
                ("points_replayed", "points replayed from the spool", c.replayed_points),
                ("points_rebuilt", "points the compiled path had written as line protocol "
                 "and that were decoded again into objects (for the spool, to find points the "
                 "store refused, to cut a message the store answered 413 to): slow-path "
                 "work", c.rebuilt_points),
                ("batch_seconds", "seconds spent writing batches", c.batch_seconds_sum)):
            yield CounterMetricFamily(f"cityhub_ingest_{name}", doc, value=value)
        dl = CounterMetricFamily("cityhub_ingest_dead_letters",
                                 "messages dead-lettered, by reason", labels=["reason"])
        for reason, n in sorted(c.dead_lettered.items()):
            dl.add_metric([reason], n)
        yield dl
        yield GaugeMetricFamily("cityhub_ingest_spool_bytes", "bytes waiting in the spool",
                                value=c.spool_bytes)
        yield GaugeMetricFamily("cityhub_ingest_spool_batches", "batches waiting in the spool",
                                value=c.spool_batches)
        yield GaugeMetricFamily("cityhub_ingest_connected", "1 while connected to the broker",
                                value=int(c.connected))
        yield GaugeMetricFamily("cityhub_ingest_messages_unacked",
                                "messages held and not yet acknowledged", value=c.unacked)
        yield GaugeMetricFamily("cityhub_ingest_reading_paused", "1 while reading is paused "
                                "at max_inflight (backpressure)", value=int(c.reading_paused))
        if self.decoder is not None:
            path = CounterMetricFamily(
                "cityhub_ingest_decoded_messages", "messages decoded, by path: compiled "
                "(the Cython kernel, line protocol straight from the bytes), python (the "
                "Python kernel), or reference (unusual shapes and every refusal)",
                labels=["path"])
            path.add_metric(["compiled"], self.decoder.decoded_compiled)
            path.add_metric(["python"], self.decoder.decoded_python)
            path.add_metric(["reference"], self.decoder.decoded_reference)
            yield path
        if self.decoder_path is not None:
            gauge = GaugeMetricFamily(
                "cityhub_ingest_decoder_path", "1 for the decoding path messages of the "
                "usual shape take here: compiled (the Cython kernel is built and the store "
                "takes line protocol) or python", labels=["path"])
            for name in ("compiled", "python"):
                gauge.add_metric([name], int(name == self.decoder_path))
            yield gauge
