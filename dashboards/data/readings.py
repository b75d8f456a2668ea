"""The dashboards' one data-access module.

Dash callbacks run on the web server's threads; the store is async. A blocking portal
(anyio) runs one event loop on a background thread that owns the store, and callbacks
call into it. Reads are cached for ``cache_s`` so many browsers refreshing at once cost
one query.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from cityhub.config.pack import AnySensor, CityPack
from cityhub.errors import SinkError
from cityhub.store.base import Latest, Store
from dashboards.history import N_OUT, Series, choose_window, downsample, series_of, to_arrays

__all__ = ["CityData"]

T = TypeVar("T")
log = logging.getLogger("cityhub.dashboards")


class CityData:
    """Latest values and history of one city, for the pages."""

    def __init__(self, pack: CityPack, open_store: Callable[[], Awaitable[Store]], *,
                 cache_s: float = 0.5, clock: Callable[[], float] = time.time) -> None:
        self.pack = pack
        self.cache_s = cache_s
        self.clock = clock
        self._stack = contextlib.ExitStack()
        self._portal: BlockingPortal = self._stack.enter_context(start_blocking_portal())
        self._store: Store = self._portal.call(open_store)
        self._lock = threading.Lock()
        self._latest: tuple[float, list[Latest]] = (-1e18, [])
        #: why the store last failed to answer (None while it answers), and how often
        self.store_error: str | None = None
        self.read_errors = 0

    def latest(self) -> list[Latest]:
        """The newest point of every device of the city (cached briefly).

        When the store does not answer, the last rows read (none before the first): the
        pages go on, their sensors turning stale as time passes, and say why
        (:attr:`store_error`); the failure is logged once and counted in
        :attr:`read_errors`, and asked again after ``cache_s``."""
        with self._lock:
            at, cached = self._latest
            if self.clock() - at < self.cache_s:
                return cached
            try:
                rows = self._portal.call(lambda: self._store.latest(city=self.pack.city.id))
            except (SinkError, sqlite3.Error, OSError) as e:
                self.read_errors += 1
                if self.store_error is None:
                    log.warning("dashboards: the store does not answer (%s): showing the "
                                "last values read until it does", e)
                self.store_error = str(e) or type(e).__name__
                self._latest = (self.clock(), cached)
                return cached
            if self.store_error is not None:
                log.info("dashboards: the store answers again")
            self.store_error = None
            self._latest = (self.clock(), rows)
            return rows

    def device_latest(self, device: str) -> list[Latest]:
        """The newest point of each measurement of one device (its reading and its
        derived series), from the cached :meth:`latest`."""
        return [row for row in self.latest() if row.tags.get("device") == device]

    def device_history(self, *, device: str, series: Sequence[tuple[str, str]],
                       start_ns: int, stop_ns: int, window_s: float | None = None
                       ) -> dict[tuple[str, str], list[tuple[int, float]]]:
        """:meth:`history` of several (measurement, field) series of one device at once
        (one trip to the store's loop): the sensor page's readings and derived series."""
        got = self._many([(m, device, f) for m, f in series], start_ns, stop_ns, window_s)
        return {(m, f): rows for (m, _, f), rows in got.items()}

    def _many(self, keys: Sequence[tuple[str, str, str]], start_ns: int, stop_ns: int,
              window_s: float | None) -> dict[tuple[str, str, str], list[tuple[int, float]]]:
        """:meth:`history` of several (measurement, device, field) at once, in one trip to
        the store's loop."""
        async def call() -> dict[tuple[str, str, str], list[tuple[int, float]]]:
            return {(m, d, f): await self._store.history(
                measurement=m, device=d, field=f, start_ns=start_ns, stop_ns=stop_ns,
                window_s=window_s, city=self.pack.city.id) for m, d, f in keys}
        return self._portal.call(call)

    def sensor_series(self, sensor: AnySensor, start_ns: int, stop_ns: int, *,
                      n_out: int = N_OUT) -> list[Series]:
        """Every numeric series of ``sensor``'s domain and of its derived series over
        [start, stop), as the sensor page draws them: raw where the range holds few enough
        readings at the sensor's interval, else window means; then downsampled to at
        most ``n_out`` points each (:mod:`dashboards.history`)."""
        window = choose_window((stop_ns - start_ns) / 1e9, sensor.interval_s)
        specs = series_of(sensor.domain.value)
        rows = self.device_history(device=sensor.id, series=[(s.measurement, s.field)
                                                             for s in specs],
                                   start_ns=start_ns, stop_ns=stop_ns, window_s=window)
        out = []
        for spec in specs:
            raw = rows[(spec.measurement, spec.field)]
            t, v = downsample(*to_arrays(raw), n_out=n_out)
            out.append(Series(spec, t, v, len(raw), window))
        return out

    def history(self, *, measurement: str, device: str, field: str, start_ns: int,
                stop_ns: int, window_s: float | None = None) -> list[tuple[int, float]]:
        """(time_ns, value) of one numeric field in [start, stop): raw, or the mean per
        ``window_s`` window (windows without data left out)."""
        async def call() -> list[tuple[int, float]]:
            return await self._store.history(measurement=measurement, device=device,
                                             field=field, start_ns=start_ns, stop_ns=stop_ns,
                                             window_s=window_s, city=self.pack.city.id)
        return self._portal.call(call)

    def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run the coroutine function ``fn`` on the data's event loop (the portal's
        thread) and return its result: how a sync callback awaits an async client."""
        return self._portal.call(fn)

    def with_store(self, fn: Callable[[Store], Awaitable[T]]) -> T:
        """``await fn(store)`` on the data's event loop: for readers that take the store
        (a planning report), without handing the store itself to the pages."""
        async def call() -> T:
            return await fn(self._store)
        return self._portal.call(call)

    def histories(self, *, measurement: str, devices: Sequence[str], field: str,
                  start_ns: int, stop_ns: int, window_s: float | None = None
                  ) -> dict[str, list[tuple[int, float]]]:
        """:meth:`history` of several devices at once (one trip to the store's loop)."""
        got = self._many([(measurement, d, field) for d in devices], start_ns, stop_ns,
                         window_s)
        return {d: rows for (_, d, _), rows in got.items()}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._portal.call(self._store.aclose)
        self._stack.close()
