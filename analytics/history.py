"""A sensor's stored history as arrays, and the period a batch command covers (the report
and the backfill read the store the same way)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np

from analytics.arrays import F64, I64
from cityhub.store.base import Store

__all__ = ["Progress", "period_ns", "readings"]

Progress = Callable[[int, int], None]
"""``progress(sensors done, sensors in all)``."""


def period_ns(start: dt.datetime, stop: dt.datetime) -> tuple[int, int]:
    """[start, stop) in UNIX nanoseconds; a ValueError for an empty period."""
    if stop <= start:
        raise ValueError(f"the period is empty: {start.isoformat()} to {stop.isoformat()}")
    return int(start.timestamp() * 1e9), int(stop.timestamp() * 1e9)


async def readings(store: Store, measurement: str, device: str, field: str, start_ns: int,
                   stop_ns: int, *, city: str) -> tuple[I64, F64]:
    """(time_ns, values) of one numeric field of ``city``'s device in [start_ns,
    stop_ns), raw, in time order."""
    rows = await store.history(measurement=measurement, device=device, field=field,
                               start_ns=start_ns, stop_ns=stop_ns, city=city)
    return (np.array([t for t, _ in rows], dtype=np.int64),
            np.array([v for _, v in rows], dtype=np.float64))
