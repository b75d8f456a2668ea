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

import numpy as np

from analytics.arrays import F64, I64
from analytics.flood import rate_of_rise, siaga, time_to_level
from analytics.lighting import DARK_AT_NIGHT, DAY_BURNING, lamp_faults, sun_elevation
from analytics.rain import RAIN_CLASSES, rain_class
from analytics.traffic import LOS_GRADES, congestion, level_of_service, travel_time_index
from cityhub.config.pack import (
    AnySensor,
    CityPack,
    FloodSensor,
    LightingSensor,
    RainSensor,
    TrafficSensor,
)
from cityhub.point import Point
from cityhub.senml import Value

__all__ = ["DERIVED", "SOURCE_FIELD", "derive"]

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


def _fields(s: AnySensor, t: F64, v: F64) -> list[dict[str, Value]]:
    n = t.shape[0]
    rows: list[dict[str, Value]] = [{} for _ in range(n)]

    def put(name: str, values: object, convert: type = float) -> None:
        for row, x in zip(rows, values, strict=True):  # type: ignore[call-overload]
            if not (isinstance(x, float) and math.isnan(x)):
                row[name] = convert(x)

    if isinstance(s, TrafficSensor):
        tti = travel_time_index(v, s.thresholds.free_flow_speed)
        los = level_of_service(v, s.thresholds.free_flow_speed)
        put("tti", tti.tolist())
        put("los", [LOS_GRADES[c] if c >= 0 else math.nan for c in los.tolist()], str)
        jam = congestion(np.zeros(n, dtype=np.int64), tti, np.zeros(1, dtype=np.bool_))
        put("congested", [bool(j) if not math.isnan(x) else math.nan
                          for j, x in zip(jam.tolist(), tti.tolist(), strict=True)], bool)
    elif isinstance(s, FloodSensor):
        th = s.thresholds
        codes = siaga(v, th.siaga_3, th.siaga_2, th.siaga_1)
        rise = rate_of_rise(t, v)
        nxt = np.array([{4: th.siaga_3, 3: th.siaga_2, 2: th.siaga_1}.get(c, math.nan)
                        for c in codes.tolist()])
        eta = np.where(np.isnan(nxt), np.nan, time_to_level(v, rise, np.nan_to_num(nxt)))
        put("siaga", [float(c) if c > 0 else math.nan for c in codes.tolist()])
        put("rise_m_per_h", rise.tolist())
        put("eta_next_level_s", eta.tolist())
    elif isinstance(s, LightingSensor):
        elev = sun_elevation(s.location.lat, s.location.lon, t)
        flags = lamp_faults(elev, v, s.thresholds.rated_power, s.thresholds.switch_elevation)
        put("fault", [_FAULTS[f] if not math.isnan(p) else math.nan
                      for f, p in zip(flags.tolist(), v.tolist(), strict=True)], str)
        put("sun_elevation", elev.tolist())
    elif isinstance(s, RainSensor):
        classes = rain_class(v, s.thresholds.heavy, s.thresholds.very_heavy)
        put("intensity", [RAIN_CLASSES[c] if c >= 0 else math.nan
                          for c in classes.tolist()], str)
    return rows


def derive(pack: CityPack, device: str, time_ns: I64, v: F64) -> list[Point]:
    """The derived points of ``device``'s readings ``v`` of its source field
    (:data:`SOURCE_FIELD`) at ``time_ns`` (sorted), each at its reading's exact time."""
    _gw, s = pack.sensors[device]
    tags = tuple(sorted(pack.tags_of(device).items()))
    measurement = DERIVED[type(s)]
    t = time_ns.astype(np.float64) / 1e9
    return [Point(measurement, tags, fields, int(tn))
            for tn, fields in zip(time_ns.tolist(), _fields(s, t, v), strict=True) if fields]
