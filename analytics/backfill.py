"""``cityhub analytics backfill``: derived series recomputed from the stored history.

The streaming engine (:class:`~analytics.live.engine.Engine`) runs over the stored
readings of the period, one sensor at a time (memory bounded by one sensor's period), and
the derived points it makes are written back: the same series the streaming service
writes, by the same code. The points are idempotent (the reading's tags and time), so a
backfill run again, or over a period the streaming service already covered, stores each
point once. State starts fresh at ``start`` (congestion's smoothing and hysteresis, the
rate of rise's window, the baseline incidents are told against); the events the engine
derives on the way are not published (they were, live, or are history now).
"""

from __future__ import annotations

import datetime as dt

from analytics.derived import INPUT_FIELDS
from analytics.history import Progress, period_ns, readings
from analytics.live.engine import Engine
from analytics.settings import DetectionSettings
from cityhub.config.pack import CityPack
from cityhub.senml import Reading
from cityhub.store.base import Store

__all__ = ["backfill"]


async def backfill(pack: CityPack, store: Store, start: dt.datetime, stop: dt.datetime,
                   progress: Progress | None = None,
                   detection: DetectionSettings | None = None) -> int:
    """Recompute and store the derived series of every sensor over [start, stop); the
    number of derived points written."""
    t0, t1 = period_ns(start, stop)
    engine = Engine(pack, detection or DetectionSettings())
    written = 0
    sensors = list(pack.sensors.items())
    for k, (device, (_gw, s)) in enumerate(sensors):
        rs: list[Reading] = []
        for name in INPUT_FIELDS[s.domain.value]:
            time_ns, values = await readings(store, s.domain.value, device, name, t0, t1,
                                              city=pack.city.id)
            rs += [Reading(device, name, v, t)
                   for t, v in zip(time_ns.tolist(), values.tolist(), strict=True)]
        if rs:
            points, _events = engine.process(rs)
            await store.write(points)
            written += len(points)
        if progress is not None:
            progress(k + 1, len(sensors))
    return written
