"""Traffic: travel-time index, level of service A–F, congestion with hysteresis.

- **Travel-time index** (TTI) = free-flow speed / observed speed: 1.0 at free flow, 2.0
  when a trip takes twice as long. Speeds below 1 km/h count as 1 km/h (stopped traffic),
  so the index stays finite. Free-flow speed comes from the sensor's thresholds in the
  city pack (``free_flow_speed``, km/h).
- **Level of service** from the speed as a share of free-flow speed, with the bands of
  the HCM urban-street method that :data:`cityhub.levels.LOS_BANDS` holds (A > 0.85,
  B > 0.67, C > 0.50, D > 0.40, E > 0.30, else F); codes 0 (A) .. 5 (F), -1 unknown.
- **Congestion with hysteresis**: a device becomes congested when its TTI reaches ``on``
  and clears only when it falls to ``off`` or below (``off < on``), so a value that
  wavers around one threshold does not flap.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from analytics._jit import kernel
from analytics.arrays import F64, I64, AnalyticsInputError, floats, per_reading, same_length
from cityhub.levels import LOS_BANDS

__all__ = ["LOS_GRADES", "congestion", "level_of_service", "travel_time_index"]

LOS_GRADES = ("A", "B", "C", "D", "E", "F")
_LOS_BOUNDS = np.array([b for b, _ in LOS_BANDS], dtype=np.float64)
MIN_SPEED_KMH = 1.0


@kernel
def _tti(speed: F64, free_flow: F64, out: F64) -> None:
    each = free_flow.shape[0] > 1  # one free-flow speed per reading, or one for all
    for i in range(speed.shape[0]):
        s = speed[i]
        ff = free_flow[i if each else 0]
        out[i] = np.nan if np.isnan(s) or np.isnan(ff) else ff / max(s, MIN_SPEED_KMH)


@kernel
def _los(speed: F64, free_flow: F64, bounds: F64, out: npt.NDArray[np.int8]) -> None:
    each = free_flow.shape[0] > 1
    for i in range(speed.shape[0]):
        s = speed[i]
        ff = free_flow[i if each else 0]
        if np.isnan(s) or np.isnan(ff):
            out[i] = -1
            continue
        ratio = s / ff
        grade = bounds.shape[0]  # F
        for k in range(bounds.shape[0]):
            if ratio > bounds[k]:
                grade = k
                break
        out[i] = grade


@kernel
def _hysteresis(device: I64, x: F64, on: float, off: float,
                state: npt.NDArray[np.bool_], out: npt.NDArray[np.bool_]) -> None:
    for i in range(x.shape[0]):
        d = device[i]
        v = x[i]
        if not np.isnan(v):
            if state[d]:
                if v <= off:
                    state[d] = False
            elif v >= on:
                state[d] = True
        out[i] = state[d]


def _free_flow(free_flow: Any, n: int) -> F64:
    ff = per_reading("free_flow", free_flow, n, finite=False)
    if (ff[~np.isnan(ff)] <= 0).any():
        raise AnalyticsInputError("free_flow: speeds must be positive (km/h)")
    return ff


def travel_time_index(speed_kmh: Any, free_flow_kmh: Any) -> F64:
    """Free-flow speed / speed, per reading (NaN where either is NaN). ``free_flow_kmh``
    is one number or one per reading."""
    speed = floats("speed_kmh", speed_kmh)
    if (speed < 0).any():
        raise AnalyticsInputError("speed_kmh: negative speed")
    out = np.empty_like(speed)
    _tti(speed, _free_flow(free_flow_kmh, speed.shape[0]), out)
    return out


def level_of_service(speed_kmh: Any, free_flow_kmh: Any) -> npt.NDArray[np.int8]:
    """Level of service per reading: 0 (A) .. 5 (F), -1 where unknown (NaN).
    ``LOS_GRADES[code]`` is its letter."""
    speed = floats("speed_kmh", speed_kmh)
    if (speed < 0).any():
        raise AnalyticsInputError("speed_kmh: negative speed")
    out = np.empty(speed.shape[0], dtype=np.int8)
    _los(speed, _free_flow(free_flow_kmh, speed.shape[0]), _LOS_BOUNDS, out)
    return out


def congestion(device: Any, tti: Any, state: npt.NDArray[np.bool_], *, on: float = 1.6,
               off: float = 1.3) -> npt.NDArray[np.bool_]:
    """Congested or not after each reading, with hysteresis: on at ``tti >= on``, off at
    ``tti <= off``. ``device`` is each reading's device number (an index into ``state``,
    one flag per device, updated in place: the streaming state). Readings are taken in
    the order given (each device's in time order); NaN leaves a device's state as it is.
    """
    if not off < on:
        raise AnalyticsInputError(f"congestion: off ({off}) must be below on ({on})")
    dev = np.ascontiguousarray(device, dtype=np.int64)
    x = floats("tti", tti)
    same_length(device=dev, tti=x)
    if state.dtype != np.bool_ or state.ndim != 1:
        raise AnalyticsInputError("state: expected a 1-D bool array, one flag per device")
    if dev.size and (dev.min() < 0 or dev.max() >= state.shape[0]):
        raise AnalyticsInputError(f"device: numbers must be in 0..{state.shape[0] - 1}")
    out = np.empty(x.shape[0], dtype=np.bool_)
    _hysteresis(dev, x, float(on), float(off), state, out)
    return out
