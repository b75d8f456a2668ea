"""Derived series: the points the analytics make of the readings, built the same way by the
streaming service and the backfill (both run :class:`~analytics.live.engine.Engine`).

Each derived point has the reading's own measurement tags (city, district, gateway,
device) and time, in a measurement of its own, so writing it again overwrites it: derived
series are idempotent like the readings (a backfill run twice, or the streaming service
after a restart, stores each point once). A field that cannot be told is left out; a
point with no field is not written. The schema is in docs/protocol.md
(``traffic_state``, ``flood_state``, ``light_state``, ``rain_state``, ``quality``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from analytics.arrays import F64
from analytics.flood import time_to_level
from analytics.lighting import DARK_AT_NIGHT, DAY_BURNING
from analytics.rain import RAIN_CLASSES
from analytics.traffic import LOS_GRADES
from cityhub.config.pack import (
    FloodSensor,
    FloodThresholds,
    LightingSensor,
    RainSensor,
    TrafficSensor,
)
from cityhub.point import Point
from cityhub.senml import Value

__all__ = ["INPUT_FIELDS", "SOURCE_FIELD", "Column", "Tags", "build_points", "flood_columns",
           "light_columns", "rain_columns", "traffic_columns"]

Tags = tuple[tuple[str, str], ...]

# The reading each sensor kind's derived series comes from: (measurement, field).
SOURCE_FIELD: dict[type, tuple[str, str]] = {
    TrafficSensor: ("traffic", "averageVehicleSpeed"),
    FloodSensor: ("flood", "currentLevel"),
    LightingSensor: ("lighting", "activePower"),
    RainSensor: ("rain", "rainRate"),
}
# Every reading the analytics read, by domain: the main one, and what confirms it.
INPUT_FIELDS: dict[str, tuple[str, ...]] = {
    "traffic": ("averageVehicleSpeed", "occupancy"), "flood": ("currentLevel",),
    "lighting": ("activePower", "illuminanceLevel"), "rain": ("rainRate",)}
_FAULTS = {0: "ok", DAY_BURNING: "day_burning", DARK_AT_NIGHT: "dark_at_night"}


Column = list[Value | None]


def _texts(codes: list[int], names: tuple[str, ...] | dict[int, str]) -> Column:
    return [names[c] if c >= 0 else None for c in codes]


def _numbers(x: F64) -> Column:
    return [None if math.isnan(v) else v for v in x.tolist()]


def traffic_columns(tti: F64, los: npt.NDArray[np.int8], congested: npt.NDArray[np.bool_],
                    **extra: Column) -> dict[str, Column]:
    """``traffic_state``'s fields per reading, from its TTI, level of service and
    congestion flags."""
    known = ~np.isnan(tti)
    return {"tti": _numbers(tti), "los": _texts(los.tolist(), LOS_GRADES),
            "congested": [bool(c) if k else None
                          for c, k in zip(congested.tolist(), known.tolist(), strict=True)],
            **extra}


def flood_columns(codes: npt.NDArray[np.int8], level: F64, rise: F64,
                  th: FloodThresholds) -> dict[str, Column]:
    """``flood_state``'s fields per reading, from its Siaga codes, levels and rise."""
    nxt = np.array([{4: th.siaga_3, 3: th.siaga_2, 2: th.siaga_1}.get(c, math.nan)
                    for c in codes.tolist()], dtype=np.float64)
    eta = np.where(np.isnan(nxt), np.nan, time_to_level(level, rise, np.nan_to_num(nxt)))
    return {"siaga": [float(c) if c > 0 else None for c in codes.tolist()],
            "rise_m_per_h": _numbers(rise), "eta_next_level_s": _numbers(eta)}


def light_columns(flags: npt.NDArray[np.int8], power: F64, elev: F64) -> dict[str, Column]:
    """``light_state``'s fields per reading, from its fault flags and sun elevation."""
    return {"fault": [_FAULTS[f] if not math.isnan(p) else None
                      for f, p in zip(flags.tolist(), power.tolist(), strict=True)],
            "sun_elevation": _numbers(elev)}


def rain_columns(classes: npt.NDArray[np.int8]) -> dict[str, Column]:
    """``rain_state``'s fields per reading, from its intensity classes."""
    return {"intensity": _texts(classes.tolist(), RAIN_CLASSES)}


def build_points(measurement: str, tags: Sequence[Tags], time_ns: Sequence[int],
                 columns: dict[str, Column]) -> list[Point]:
    """One point per row with the row's known fields (None: unknown, left out); a row
    with none is no point."""
    names = list(columns)
    cols = [columns[k] for k in names]
    out = []
    for i, tn in enumerate(time_ns):
        fields = {k: c[i] for k, c in zip(names, cols, strict=True) if c[i] is not None}
        if fields:
            out.append(Point(measurement, tags[i], fields, int(tn)))  # type: ignore[arg-type]
    return out
