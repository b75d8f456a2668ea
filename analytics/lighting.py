"""Street lighting: the sun's elevation, lamp faults and energy.

- **Sun elevation** (degrees) at the city's coordinates for each reading's time: NOAA's
  approximate solar position equations, as :func:`cityhub.solar.sun_elevation`, over
  arrays.
- **Lamp faults**, per reading, against the lamp's ``switch_elevation`` (the sun's
  elevation it switches at, from the pack) with a ``margin`` of degrees either side where
  twilight makes either state normal: *day burning* (1) when the sun is above
  ``switch + margin`` and the lamp draws at least ``on_share`` of its rated power;
  *dark at night* (2) when the sun is below ``switch - margin`` and it draws less than
  ``on_share`` of it (dimmed lamps still draw more); 0 otherwise (and for NaN power).
- **Energy** (kWh) of one lamp from its power readings (W): the trapezoid rule between
  successive readings, leaving out any interval longer than ``max_gap_s`` or next to a
  missing (NaN) reading (the lamp's power is unknown there; such gaps are counted, not
  guessed).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from analytics._jit import kernel
from analytics.arrays import F64, AnalyticsInputError, floats, per_reading, same_length, times
from cityhub import solar

__all__ = ["DARK_AT_NIGHT", "DAY_BURNING", "energy_kwh", "lamp_faults", "sun_elevation"]

DAY_BURNING = 1
DARK_AT_NIGHT = 2


# The core's scalar rule (pure Python, which the edge simulator uses), compiled as it is:
# one copy of NOAA's equations for the whole hub.
_sun_at = kernel(solar.sun_elevation)


@kernel
def _sun_elevation(lat: float, lon: float, unix_s: F64, out: F64) -> None:
    for i in range(unix_s.shape[0]):
        out[i] = _sun_at(lat, lon, unix_s[i])


@kernel
def _faults(elevation: F64, power: F64, rated: F64, switch: F64, margin: float,
            on_share: float, out: npt.NDArray[np.int8]) -> None:
    each_rated, each_switch = rated.shape[0] > 1, switch.shape[0] > 1
    for i in range(power.shape[0]):
        p = power[i]
        out[i] = 0
        if np.isnan(p):
            continue
        lit = p >= on_share * rated[i if each_rated else 0]
        sw = switch[i if each_switch else 0]
        if elevation[i] > sw + margin and lit:
            out[i] = DAY_BURNING
        elif elevation[i] < sw - margin and not lit:
            out[i] = DARK_AT_NIGHT


@kernel
def _energy(t: F64, power: F64, max_gap: float) -> tuple[float, int]:
    joules = 0.0
    gaps = 0
    for i in range(1, t.shape[0]):
        dt = t[i] - t[i - 1]
        if np.isnan(power[i]) or np.isnan(power[i - 1]) or dt > max_gap:
            gaps += 1
            continue
        joules += 0.5 * (power[i] + power[i - 1]) * dt
    return joules / 3.6e6, gaps


def sun_elevation(lat: float, lon: float, unix_s: Any) -> F64:
    """The sun's elevation in degrees at (lat, lon) for each time (UNIX seconds)."""
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise AnalyticsInputError(f"sun_elevation: no such place ({lat}, {lon})")
    t = floats("unix_s", unix_s, finite=True)
    out = np.empty_like(t)
    _sun_elevation(float(lat), float(lon), t, out)
    return out


def lamp_faults(elevation_deg: Any, power_w: Any, rated_w: Any, switch_elevation: Any = -3.0,
                *, margin: float = 3.0, on_share: float = 0.1) -> npt.NDArray[np.int8]:
    """Per reading: 0 normal, :data:`DAY_BURNING` or :data:`DARK_AT_NIGHT`. ``rated_w``
    and ``switch_elevation`` are one number or one per reading."""
    elev = floats("elevation_deg", elevation_deg, finite=True)
    power = floats("power_w", power_w)
    n = same_length(elevation_deg=elev, power_w=power)
    rated = per_reading("rated_w", rated_w, n)
    if (rated <= 0).any():
        raise AnalyticsInputError("rated_w: must be positive")
    switch = per_reading("switch_elevation", switch_elevation, n)
    if margin < 0 or not 0 < on_share < 1:
        raise AnalyticsInputError("lamp_faults: margin >= 0 and 0 < on_share < 1")
    out = np.empty(n, dtype=np.int8)
    _faults(elev, power, rated, switch, float(margin), float(on_share), out)
    return out


def energy_kwh(t: Any, power_w: Any, *, max_gap_s: float = 900.0) -> tuple[float, int]:
    """(kWh, intervals left out as gaps) of one lamp's power readings, ``t`` sorted."""
    ts = times("t", t)
    power = floats("power_w", power_w)
    same_length(t=ts, power_w=power)
    if (power[~np.isnan(power)] < 0).any():
        raise AnalyticsInputError("power_w: negative power")
    kwh, gaps = _energy(ts, power, float(max_gap_s))
    return float(kwh), int(gaps)
