"""Flood: Siaga status per gauge, rate of rise, and time to the next level.

- **Siaga** from each gauge's levels in the city pack (Indonesian practice counts down:
  IV normal, III from ``siaga_3``, II from ``siaga_2``, I from ``siaga_1``, metres,
  inclusive), as :func:`cityhub.levels.siaga` defines it; 0 where the level is unknown.
  E.g. the Katulampa weir: IV < 0.8 m, III 0.8–1.5, II 1.5–2.0, I > 2.0.
- **Rate of rise** (m/h) at each reading: the Theil–Sen slope (the median of the slopes
  between every pair of readings) over the readings of the trailing window
  ``(t - window_s, t]``. Robust: one spike or a stuck reading in the window does not tilt
  it, as it would a least-squares fit. NaN with fewer than ``min_points`` readings.
- **Time to a level** (s): at the rate of rise, how long until the level reaches
  ``target`` (0 at or above it; NaN when not rising or the rate is unknown).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from analytics._jit import kernel
from analytics.arrays import F64, AnalyticsInputError, floats, per_reading, same_length, times

__all__ = ["rate_of_rise", "siaga", "time_to_level"]


@kernel
def _siaga(level: F64, s3: F64, s2: F64, s1: F64, out: npt.NDArray[np.int8]) -> None:
    each = s1.shape[0] > 1  # levels per reading (several gauges), or one gauge's
    for i in range(level.shape[0]):
        v = level[i]
        k = i if each else 0
        if np.isnan(v):
            out[i] = 0
        elif v >= s1[k]:
            out[i] = 1
        elif v >= s2[k]:
            out[i] = 2
        elif v >= s3[k]:
            out[i] = 3
        else:
            out[i] = 4


@kernel
def _theil_sen(t: F64, y: F64, window: float, min_points: int, out: F64) -> None:
    n = t.shape[0]
    start = 0
    slopes = np.empty(0, dtype=np.float64)
    for i in range(n):
        while t[start] <= t[i] - window:
            start += 1
        # pairs of valid readings in [start, i] with distinct times
        k = 0
        for a in range(start, i + 1):
            if not np.isnan(y[a]):
                k += 1
        if k < min_points or np.isnan(y[i]):
            out[i] = np.nan
            continue
        m = k * (k - 1) // 2
        if slopes.shape[0] < m:
            slopes = np.empty(max(m, 2 * slopes.shape[0]), dtype=np.float64)
        c = 0
        for a in range(start, i + 1):
            if np.isnan(y[a]):
                continue
            for b in range(a + 1, i + 1):
                if np.isnan(y[b]) or t[b] == t[a]:
                    continue
                slopes[c] = (y[b] - y[a]) / (t[b] - t[a])
                c += 1
        out[i] = np.median(slopes[:c]) if c > 0 else np.nan


def _levels(name: str, value: Any, n: int) -> F64:
    return per_reading(name, value, n)


def siaga(level_m: Any, siaga_3: Any, siaga_2: Any, siaga_1: Any) -> npt.NDArray[np.int8]:
    """Siaga status per reading: 4 (normal) .. 1 (danger), 0 where unknown. The levels
    are one number each, or one per reading (readings of several gauges)."""
    level = floats("level_m", level_m)
    n = level.shape[0]
    s3, s2, s1 = (_levels(k, v, n) for k, v in
                  (("siaga_3", siaga_3), ("siaga_2", siaga_2), ("siaga_1", siaga_1)))
    if len({s3.shape[0], s2.shape[0], s1.shape[0]}) > 1:  # some per reading: all of them
        s3, s2, s1 = (np.ascontiguousarray(np.broadcast_to(a, (n,))) for a in (s3, s2, s1))
    if ((s3 >= s2) | (s2 >= s1)).any():
        raise AnalyticsInputError("siaga levels must ascend: siaga_3 < siaga_2 < siaga_1")
    out = np.empty(n, dtype=np.int8)
    _siaga(level, s3, s2, s1, out)
    return out


def rate_of_rise(t: Any, level_m: Any, *, window_s: float = 3600.0,
                 min_points: int = 3) -> F64:
    """Rate of rise in metres per hour at each reading of one gauge (Theil–Sen over the
    trailing ``window_s``); ``t`` in UNIX seconds, sorted."""
    ts = times("t", t)
    y = floats("level_m", level_m)
    same_length(t=ts, level_m=y)
    if window_s <= 0 or min_points < 2:
        raise AnalyticsInputError("rate_of_rise: window_s > 0 and min_points >= 2")
    out = np.empty_like(y)
    _theil_sen(ts, y, float(window_s), int(min_points), out)
    return out * 3600.0


def time_to_level(level_m: Any, rise_m_per_h: Any, target_m: Any) -> F64:
    """Seconds until each reading's level reaches ``target_m`` at its rate of rise: 0 at
    or above it already, NaN when the level is not rising or unknown."""
    level = floats("level_m", level_m)
    rise = floats("rise_m_per_h", rise_m_per_h)
    same_length(level_m=level, rise_m_per_h=rise)
    target = _levels("target_m", target_m, level.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(rise > 0, (target - level) / rise * 3600.0, np.nan)
    eta = np.where(level >= target, 0.0, eta)
    return np.where(np.isnan(level), np.nan, eta)
