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

from analytics.derived import SOURCE_FIELD, derive
from analytics.history import Progress, period_ns, readings
from cityhub.config.pack import CityPack
from cityhub.store.base import Store

__all__ = ["backfill"]


async def backfill(pack: CityPack, store: Store, start: dt.datetime, stop: dt.datetime,
                   progress: Progress | None = None) -> int:
    """Recompute and store the derived series of every sensor over [start, stop); the
    number of derived points written."""
    t0, t1 = period_ns(start, stop)
    written = 0
    sensors = list(pack.sensors.items())
    for k, (device, (_gw, s)) in enumerate(sensors):
        measurement, name = SOURCE_FIELD[type(s)]
        time_ns, values = await readings(store, measurement, device, name, t0, t1)
        if time_ns.size:
            points = derive(pack, device, time_ns, values)
            await store.write(points)
            written += len(points)
        if progress is not None:
            progress(k + 1, len(sensors))
    return written
