"""Flood: Siaga status per gauge, rate of rise, and time to the next level.

- **Siaga** from each gauge's levels in the city pack (Indonesian practice counts down:
  IV normal, III from ``siaga_3``, II from ``siaga_2``, I from ``siaga_1``, metres,
  inclusive), as :func:`cityhub.levels.siaga` defines it; 0 where the level is unknown.
  E.g. the Katulampa weir: IV below 0.8 m, III from 0.8, II from 1.5, I from 2.0.
- **Rate of rise** (m/h) at each reading: the Theil–Sen slope (the median of the slopes
  between every pair of readings) over the readings of the trailing window
  ``(t - window_s, t]``. Robust: one spike or a stuck reading in the window does not tilt
  it, as it would a least-squares fit. NaN with fewer than ``min_points`` readings.
- **Time to a level** (s): at the rate of rise, how long until the level reaches
  ``target`` (0 at or above it; NaN when not rising or the rate is unknown).
- **Downstream ETA**: the city pack's river links say how long water takes from one gauge
  to the next place (``travel_h``: shortest, longest); a rise upstream at ``t`` is
  expected downstream between ``t + shortest`` and ``t + longest``.
- **Lagged cross-correlation** refines a link's lag from history where both ends have
  gauges: both series are put on a common grid (the mean of each ``step_s``), turned into
  changes per step (rises and falls, not levels, so a slow trend does not dominate), and
  correlated at every lag from 0 to ``max_lag_s``; the lag of the highest correlation is
  the travel time the river has shown.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from analytics._jit import kernel
from analytics.arrays import (
    F64,
    I64,
    AnalyticsInputError,
    floats,
    micro_batch,
    per_reading,
    same_length,
    times,
)

__all__ = ["RiseStream", "downstream_eta", "lagged_correlation", "rate_of_rise", "siaga",
           "time_to_level"]


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


@kernel
def _stream_rise(device: I64, t: F64, y: F64, window: float, min_points: int, spacing: float,
                 buf_t: npt.NDArray[np.float64], buf_y: npt.NDArray[np.float64],
                 out: F64) -> None:
    k_max = buf_t.shape[1]
    xs = np.empty(k_max + 1)
    ys = np.empty(k_max + 1)
    slopes = np.empty((k_max + 1) * k_max // 2)
    for i in range(device.shape[0]):
        d = device[i]
        out[i] = np.nan
        if np.isnan(y[i]):
            continue
        n = 0
        kept = 0  # valid entries at the front of the device's buffer
        for j in range(k_max):
            if np.isnan(buf_t[d, j]):
                break
            kept += 1
            if buf_t[d, j] > t[i] - window and buf_t[d, j] < t[i]:
                xs[n] = buf_t[d, j]
                ys[n] = buf_y[d, j]
                n += 1
        xs[n] = t[i]
        ys[n] = y[i]
        n += 1
        if n >= min_points:
            c = 0
            for a in range(n):
                for b in range(a + 1, n):
                    if xs[b] != xs[a]:
                        slopes[c] = (ys[b] - ys[a]) / (xs[b] - xs[a])
                        c += 1
            if c > 0:
                out[i] = np.median(slopes[:c])
        if kept == 0 or t[i] - buf_t[d, kept - 1] >= spacing:
            if kept == k_max:  # full: the oldest goes
                for j in range(k_max - 1):
                    buf_t[d, j] = buf_t[d, j + 1]
                    buf_y[d, j] = buf_y[d, j + 1]
                kept -= 1
            buf_t[d, kept] = t[i]
            buf_y[d, kept] = y[i]


class RiseStream:
    """The rate of rise of many gauges, streaming: Theil–Sen over each gauge's trailing
    ``window_s``, on the readings kept in it, at least ``window_s / points`` apart (a
    gauge read every minute keeps all of an hour's; one read every second, one in 30 s),
    so a reading costs at most ``points``² slopes however often the gauge reports. Each
    gauge's readings in time order; a reading at or before the newest kept one of its
    gauge adds nothing."""

    def __init__(self, devices: int, *, window_s: float = 3600.0, points: int = 120,
                 min_points: int = 3) -> None:
        if devices < 0 or window_s <= 0 or points < 2 or min_points < 2:
            raise AnalyticsInputError("RiseStream: devices >= 0, window_s > 0, points >= 2, "
                                      "min_points >= 2")
        self.window_s, self.min_points = float(window_s), int(min_points)
        self.spacing = window_s / points
        self.buf_t = np.full((devices, points + 1), np.nan)
        self.buf_y = np.full((devices, points + 1), np.nan)

    def update(self, device: Any, t: Any, level_m: Any) -> F64:
        """The rate of rise (m/h) at each reading of a micro-batch."""
        dev, ts, y = micro_batch(device, t, level_m, self.buf_t.shape[0])
        out = np.empty(dev.shape[0])
        _stream_rise(dev, ts, y, self.window_s, self.min_points, self.spacing, self.buf_t,
                     self.buf_y, out)
        return out * 3600.0


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


@kernel
def _grid_mean(t: F64, v: F64, t0: float, step: float, out: F64, counts: F64) -> None:
    for i in range(out.shape[0]):
        out[i] = 0.0
        counts[i] = 0.0
    for i in range(t.shape[0]):
        if np.isnan(v[i]):
            continue
        k = int((t[i] - t0) // step)
        if 0 <= k < out.shape[0]:
            out[k] += v[i]
            counts[k] += 1.0
    for i in range(out.shape[0]):
        out[i] = out[i] / counts[i] if counts[i] > 0 else np.nan


@kernel
def _lagged(up: F64, down: F64, max_k: int, min_pairs: int, out: F64) -> None:
    n = up.shape[0]
    for k in range(max_k + 1):
        sx = sy = sxx = syy = sxy = 0.0
        m = 0
        for i in range(n - k):
            x = up[i]
            y = down[i + k]
            if np.isnan(x) or np.isnan(y):
                continue
            m += 1
            sx += x
            sy += y
            sxx += x * x
            syy += y * y
            sxy += x * y
        out[k] = np.nan
        if m >= min_pairs:
            vx = sxx - sx * sx / m
            vy = syy - sy * sy / m
            # a series that does not change has no variance: rounding leaves a trace of
            # it, relative to the squares summed, which must not read as a correlation
            if vx > 1e-12 * max(sxx, 1e-300) and vy > 1e-12 * max(syy, 1e-300):
                out[k] = (sxy - sx * sy / m) / np.sqrt(vx * vy)


def downstream_eta(t_rise: Any, travel_h: tuple[float, float]) -> tuple[F64, F64]:
    """(earliest, latest) UNIX seconds at which rises upstream at ``t_rise`` reach the
    link's downstream end."""
    lo, hi = travel_h
    if not 0 < lo <= hi:
        raise AnalyticsInputError("travel_h: (shortest, longest) with 0 < shortest <= longest")
    t = floats("t_rise", t_rise, finite=True)
    return t + lo * 3600.0, t + hi * 3600.0


def lagged_correlation(up_t: Any, up_level: Any, down_t: Any, down_level: Any, *,
                       step_s: float = 600.0, max_lag_s: float = 86400.0,
                       min_pairs: int = 24) -> tuple[float, float, F64]:
    """(best lag in seconds, its correlation, the correlation at every lag of ``step_s``)
    between the changes of an upstream and a downstream gauge's levels. The best lag is
    NaN when no lag has ``min_pairs`` steps with both ends known and both changing."""
    ut, uv = times("up_t", up_t), floats("up_level", up_level)
    dt, dv = times("down_t", down_t), floats("down_level", down_level)
    same_length(up_t=ut, up_level=uv)
    same_length(down_t=dt, down_level=dv)
    if step_s <= 0 or max_lag_s < 0 or min_pairs < 3:
        raise AnalyticsInputError("lagged_correlation: step_s > 0, max_lag_s >= 0, "
                                  "min_pairs >= 3")
    if not ut.size or not dt.size:
        return np.nan, np.nan, np.full(int(max_lag_s // step_s) + 1, np.nan)
    t0 = min(ut[0], dt[0])
    steps = int((max(ut[-1], dt[-1]) - t0) // step_s) + 1
    grids = []
    for t, v in ((ut, uv), (dt, dv)):
        g, c = np.empty(steps), np.empty(steps)
        _grid_mean(t, v, float(t0), float(step_s), g, c)
        grids.append(np.diff(g))
    max_k = min(int(max_lag_s // step_s), max(steps - 2, 0))
    corr = np.empty(int(max_lag_s // step_s) + 1)
    corr[:] = np.nan
    _lagged(grids[0], grids[1], max_k, int(min_pairs), corr)
    if np.isnan(corr).all():
        return np.nan, np.nan, corr
    k = int(np.nanargmax(corr))
    return k * step_s, float(corr[k]), corr
