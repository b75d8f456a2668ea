"""The dashboards' one data-access module.

Dash callbacks run on the web server's threads; the store is async. A blocking portal
(anyio) runs one event loop on a background thread that owns the store, and callbacks
call into it. Reads are cached for ``cache_s`` so many browsers refreshing at once cost
one query.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Awaitable, Callable

from anyio.from_thread import BlockingPortal, start_blocking_portal

from cityhub.config.pack import CityPack
from cityhub.store.base import Latest, Store

__all__ = ["CityData"]


class CityData:
    """Latest values and history of one city, for the pages."""

    def __init__(self, pack: CityPack, open_store: Callable[[], Awaitable[Store]], *,
                 cache_s: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        self.pack = pack
        self.cache_s = cache_s
        self.clock = clock
        self._stack = contextlib.ExitStack()
        self._portal: BlockingPortal = self._stack.enter_context(start_blocking_portal())
        self._store: Store = self._portal.call(open_store)
        self._lock = threading.Lock()
        self._latest: tuple[float, list[Latest]] = (-1e18, [])

    def latest(self) -> list[Latest]:
        """The newest point of every device of the city (cached briefly)."""
        with self._lock:
            at, cached = self._latest
            if self.clock() - at < self.cache_s:
                return cached
            rows = self._portal.call(lambda: self._store.latest(city=self.pack.city.id))
            self._latest = (self.clock(), rows)
            return rows

    def history(self, *, measurement: str, device: str, field: str, start_ns: int,
                stop_ns: int, window_s: float | None = None) -> list[tuple[int, float]]:
        async def call() -> list[tuple[int, float]]:
            return await self._store.history(measurement=measurement, device=device,
                                             field=field, start_ns=start_ns, stop_ns=stop_ns,
                                             window_s=window_s)
        return self._portal.call(call)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._portal.call(self._store.aclose)
        self._stack.close()
