"""What the analytics service sends out: derived points to the store (retried while it
cannot take them) and events to the broker (each once: the journal says which were
published since the last checkpoint)."""

from __future__ import annotations

import asyncio
import logging

import aiomqtt

from analytics.live.checkpoint import StateDir
from analytics.live.events import Event
from analytics.metrics import AnalyticsMetrics
from cityhub.backoff import backoff_delay
from cityhub.errors import SinkError
from cityhub.point import Point
from cityhub.store.base import Store

__all__ = ["Outputs"]

log = logging.getLogger("cityhub.analytics")


class Outputs:
    """The store and the event journal of one service, and its counters of both."""

    def __init__(self, store: Store, state: StateDir, metrics: AnalyticsMetrics) -> None:
        self.store = store
        self.state = state
        self.metrics = metrics
        self.store_down = False
        self.published = state.published()  # (id, phase) since the checkpoint

    async def write(self, points: list[Point]) -> None:
        """Store the derived points, retrying while the store cannot take them; points
        it refuses outright are counted and logged (a backfill makes them again)."""
        attempt = 0
        while points:
            try:
                await self.store.write(points)
            except SinkError as e:
                if not e.retryable:
                    self.metrics.derived_refused.inc(len(points))
                    log.error("analytics: the store refused %d derived points (%s); they "
                              "are not stored: 'cityhub analytics backfill' recomputes them "
                              "once the cause is fixed", len(points), e)
                    return
                self.store_down = True
                self.metrics.store_retries.inc()
                delay = max(backoff_delay(attempt, base=0.5, cap=30), e.retry_after or 0)
                attempt += 1
                log.warning("analytics: store write failed (%s); retrying in %.1fs", e, delay)
                await asyncio.sleep(delay)
            else:
                self.store_down = False
                self.metrics.derived.inc(len(points))
                return

    async def publish(self, client: aiomqtt.Client, events: list[Event]) -> None:
        """Publish each event the journal does not hold (QoS 1), then journal them."""
        done: list[tuple[str, str]] = []
        try:
            for e in events:
                key = (e.id, e.phase)
                if key in self.published:
                    self.metrics.suppressed.inc()
                    continue
                await client.publish(e.topic, e.json(), qos=1)
                self.published.add(key)
                done.append(key)
                self.metrics.events.labels(e.kind).inc()
                log.info("analytics: event %s %s %s of %s %s (%s)", e.kind, e.phase, e.device,
                         e.city, e.start, e.id)
        finally:
            await asyncio.to_thread(self.state.journal, done)
