"""Making batches durable: the store when it answers, the spool when it does not.

``persist`` returns once a batch is durable (stored or spooled) and the caller may
acknowledge its messages. While the store is down, batches go straight to the spool; a
replayer drains the spool, oldest first, one batch at a time, so live batches keep going
to the store between replayed ones. A batch the store refuses for good comes back to the
caller to dead-letter; nothing is retried forever, nothing is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from cityhub.backoff import backoff_delay
from cityhub.errors import SinkError
from cityhub.point import Point
from cityhub.store.base import Store
from ingest.counters import IngestCounters
from ingest.spool import Spool

__all__ = ["DurableWriter", "Refused"]

log = logging.getLogger("cityhub.ingest")


class Refused(Exception):
    """The store refused some points for good (e.g. HTTP 400, a field type conflict).

    ``bad`` lists (index in the batch, the store's reason); every other point of the batch
    was stored.
    """

    def __init__(self, bad: list[tuple[int, str]]) -> None:
        self.bad = bad
        super().__init__(f"{len(bad)} point(s) refused: {bad[0][1] if bad else ''}")


class DurableWriter:
    def __init__(self, store: Store, spool: Spool, counters: IngestCounters) -> None:
        self.store = store
        self.spool = spool
        self.counters = counters
        self.store_down = spool.batches > 0  # drain what a previous run left first
        self._wake = asyncio.Event()
        self._sync_gauges()

    def _sync_gauges(self) -> None:
        self.counters.spool_bytes = self.spool.bytes
        self.counters.spool_batches = self.spool.batches

    async def _isolate(self, points: Sequence[Point], offset: int, reason: str
                       ) -> list[tuple[int, str]]:
        """Find the points the store refuses by halving the batch: the good halves are
        written (points are idempotent, so lines a partial write already stored are
        harmless to send again), single refused points are returned with the reason.
        Works whatever the server's error format (1.x, 2.x and 3.x differ)."""
        if len(points) == 1:
            return [(offset, reason)]
        half = len(points) // 2
        bad: list[tuple[int, str]] = []
        for part, at in ((points[:half], offset), (points[half:], offset + half)):
            try:
                await self.store.write(part)
            except SinkError as e:
                if e.retryable:
                    raise
                bad += await self._isolate(part, at, str(e))
        return bad

    async def persist(self, points: Sequence[Point]) -> None:
        """Return once ``points`` are durable; raise :class:`Refused` naming the points the
        store refuses for good (the others are stored). Retries (and blocks, keeping
        messages unacknowledged) only when the store is down and the spool is full."""
        attempt = 0
        while True:
            if not self.store_down:
                try:
                    start = time.perf_counter()
                    try:
                        await self.store.write(points)
                    except SinkError as e:
                        if e.retryable:
                            raise
                        bad = await self._isolate(points, 0, str(e))
                        self.counters.stored_points += len(points) - len(bad)
                        raise Refused(bad) from e
                except SinkError as e:
                    self.counters.retries += 1
                    log.warning("ingest: store write failed (%s); spooling until it is back", e)
                    self.store_down = True
                else:
                    self.counters.batch_seconds_sum += time.perf_counter() - start
                    self.counters.batches += 1
                    self.counters.stored_points += len(points)
                    return
            if await asyncio.to_thread(self.spool.append, points):
                self.counters.spooled_batches += 1
                self.counters.spooled_points += len(points)
                self._sync_gauges()
                self._wake.set()
                return
            delay = backoff_delay(attempt, base=0.5, cap=10)
            attempt += 1
            log.warning("ingest: spool full (%d bytes); holding acknowledgements, retry in "
                        "%.1fs", self.spool.bytes, delay)
            await asyncio.sleep(delay)
            self.store_down = False  # try the store again

    async def replay(self, refused: asyncio.Queue[tuple[list[Point], str]]) -> None:
        """Drain the spool into the store until cancelled. Batches the store refuses for
        good are put on ``refused`` for the caller to dead-letter."""
        attempt = 0
        while True:
            item = await asyncio.to_thread(self.spool.oldest)
            if item is None:
                self.store_down = False
                self._wake.clear()
                await self._wake.wait()
                continue
            batch_id, points = item
            try:
                await self.store.write(points)
            except SinkError as e:
                if e.retryable:
                    self.store_down = True
                    delay = backoff_delay(attempt, base=0.5, cap=30, retry_after=e.retry_after)
                    attempt += 1
                    await asyncio.sleep(delay)
                    continue
                bad = await self._isolate(points, 0, str(e))
                self.counters.stored_points += len(points) - len(bad)
                await refused.put(([points[i] for i, _ in bad], bad[0][1] if bad else str(e)))
            else:
                attempt = 0
                self.store_down = False  # it answers again: live batches go straight in
                self.counters.replayed_points += len(points)
                self.counters.stored_points += len(points)
                self.counters.batches += 1
            await asyncio.to_thread(self.spool.remove, batch_id)
            self._sync_gauges()
            await asyncio.sleep(0)  # let live batches in between
