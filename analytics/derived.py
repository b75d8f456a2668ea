"""Derived series: what the kernels make of one sensor's readings, as points for the store.

Each derived point has the reading's own measurement tags (city, district, gateway,
device) and time, in a measurement of its own, so writing it again overwrites it: derived
series are idempotent like the readings (a backfill run twice, or the streaming service
after a restart, stores each point once). A field the kernels cannot tell (NaN) is left
out; a point with no field is not written. The schema (docs/protocol.md):

- ``traffic_state``: ``tti`` (travel-time index), ``los`` ("A".."F"), ``congested``
  (bool, with hysteresis);
- ``flood_state``: ``siaga`` (4 normal .. 1 danger), ``rise_m_per_h``,
  ``eta_next_level_s`` (seconds to the next Siaga level at that rate);
- ``light_state``: ``fault`` ("ok", "day_burning", "dark_at_night"), ``sun_elevation``
  (degrees);
- ``rain_state``: ``intensity`` ("none", "light", "moderate", "heavy", "very heavy").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from analytics.arrays import F64, I64
from analytics.flood import rate_of_rise, siaga, time_to_level
from analytics.lighting import DARK_AT_NIGHT, DAY_BURNING, lamp_faults, sun_elevation
from analytics.rain import RAIN_CLASSES, rain_class
from analytics.traffic import LOS_GRADES, congestion, level_of_service, travel_time_index
from cityhub.config.pack import (
    AnySensor,
    CityPack,
    FloodSensor,
    FloodThresholds,
    LightingSensor,
    RainSensor,
    TrafficSensor,
)
from cityhub.point import Point
from cityhub.senml import Value

__all__ = ["DERIVED", "SOURCE_FIELD", "Column", "Tags", "build_points", "derive",
           "flood_columns", "light_columns", "rain_columns", "traffic_columns"]

Tags = tuple[tuple[str, str], ...]

# The reading each sensor kind's derived series comes from: (measurement, field).
SOURCE_FIELD: dict[type, tuple[str, str]] = {
    TrafficSensor: ("traffic", "averageVehicleSpeed"),
    FloodSensor: ("flood", "currentLevel"),
    LightingSensor: ("lighting", "activePower"),
    RainSensor: ("rain", "rainRate"),
}
DERIVED: dict[type, str] = {TrafficSensor: "traffic_state", FloodSensor: "flood_state",
           LightingSensor: "light_state", RainSensor: "rain_state"}
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


def _columns(s: AnySensor, t: F64, v: F64) -> dict[str, Column]:
    n = t.shape[0]
    if isinstance(s, TrafficSensor):
        tti = travel_time_index(v, s.thresholds.free_flow_speed)
        jam = congestion(np.zeros(n, dtype=np.int64), tti, np.zeros(1, dtype=np.bool_))
        return traffic_columns(tti, level_of_service(v, s.thresholds.free_flow_speed), jam)
    if isinstance(s, FloodSensor):
        th = s.thresholds
        return flood_columns(siaga(v, th.siaga_3, th.siaga_2, th.siaga_1), v,
                             rate_of_rise(t, v), th)
    if isinstance(s, LightingSensor):
        elev = sun_elevation(s.location.lat, s.location.lon, t)
        return light_columns(lamp_faults(elev, v, s.thresholds.rated_power,
                                         s.thresholds.switch_elevation), v, elev)
    assert isinstance(s, RainSensor)
    return rain_columns(rain_class(v, s.thresholds.heavy, s.thresholds.very_heavy))


def derive(pack: CityPack, device: str, time_ns: I64, v: F64) -> list[Point]:
    """The derived points of ``device``'s readings ``v`` of its source field
    (:data:`SOURCE_FIELD`) at ``time_ns`` (sorted), each at its reading's exact time."""
    _gw, s = pack.sensors[device]
    tags = tuple(sorted(pack.tags_of(device).items()))
    t = time_ns.astype(np.float64) / 1e9
    return build_points(DERIVED[type(s)], [tags] * len(time_ns), time_ns.tolist(),
                        _columns(s, t, v))
