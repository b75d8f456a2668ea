"""``cityhub analytics backfill``: derived series recomputed from the stored history.

For each sensor of the pack, its source readings of the period (:data:`SOURCE_FIELD`) are
read from the store, run through the kernels (:func:`analytics.derived.derive`) and the
derived points written back, one sensor at a time (memory bounded by one sensor's
period). The points are idempotent (the reading's tags and time), so a backfill run again,
or over a period the streaming service already covered, stores each point once.
Stateful series (congestion's hysteresis, the rate of rise's window) start fresh at
``start``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np

from analytics.derived import SOURCE_FIELD, derive
from cityhub.config.pack import CityPack
from cityhub.store.base import Store

__all__ = ["backfill"]


async def backfill(pack: CityPack, store: Store, start: dt.datetime, stop: dt.datetime,
                   progress: Callable[[int, int], None] | None = None) -> int:
    """Recompute and store the derived series of every sensor over [start, stop); the
    number of derived points written."""
    if stop <= start:
        raise ValueError(f"the period is empty: {start.isoformat()} to {stop.isoformat()}")
    t0, t1 = int(start.timestamp() * 1e9), int(stop.timestamp() * 1e9)
    written = 0
    sensors = list(pack.sensors.items())
    for k, (device, (_gw, s)) in enumerate(sensors):
        measurement, name = SOURCE_FIELD[type(s)]
        rows = await store.history(measurement=measurement, device=device, field=name,
                                   start_ns=t0, stop_ns=t1)
        if rows:
            time_ns = np.array([t for t, _ in rows], dtype=np.int64)
            values = np.array([v for _, v in rows], dtype=np.float64)
            points = derive(pack, device, time_ns, values)
            await store.write(points)
            written += len(points)
        if progress is not None:
            progress(k + 1, len(sensors))
    return written
