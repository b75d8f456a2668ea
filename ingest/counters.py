"""The ingester's counters (exposed in logs now; at /metrics with the Prometheus exporter)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["IngestCounters"]


@dataclass
class IngestCounters:
    received: int = 0
    stored_points: int = 0
    acked: int = 0
    batches: int = 0
    retries: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, object]:
        return {"received": self.received, "stored_points": self.stored_points,
                "acked": self.acked, "batches": self.batches, "retries": self.retries,
                "dead_lettered": dict(self.dead_lettered)}
