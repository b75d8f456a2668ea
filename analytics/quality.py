"""Data quality: stuck values, gaps against the expected interval, values out of range.

- **Stuck**: a reading is stuck when it is part of a run of at least ``min_run``
  successive readings with exactly the same value (a frozen sensor repeats its last
  value; real signals wobble). NaN breaks a run.
- **Gaps**: the interval before each reading, where it is longer than ``factor`` times
  the sensor's expected interval (``interval_s`` in the pack), else 0.
- **Out of range**: below ``low`` or above ``high`` (the field's physical range).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from analytics._jit import kernel
from analytics.arrays import F64, AnalyticsInputError, floats, times

__all__ = ["gaps", "out_of_range", "stuck"]


@kernel
def _stuck(x: F64, min_run: int, out: npt.NDArray[np.bool_]) -> None:
    n = x.shape[0]
    start = 0
    for i in range(1, n + 1):
        if i < n and not np.isnan(x[i]) and x[i] == x[start]:
            continue
        flag = (i - start) >= min_run and not np.isnan(x[start])
        for k in range(start, i):
            out[k] = flag
        start = i


def stuck(values: Any, *, min_run: int = 10) -> npt.NDArray[np.bool_]:
    """Per reading of one sensor (in time order): part of a run of ``min_run`` or more
    identical values."""
    x = floats("values", values)
    if min_run < 2:
        raise AnalyticsInputError("stuck: min_run must be at least 2")
    out = np.zeros(x.shape[0], dtype=np.bool_)
    _stuck(x, int(min_run), out)
    return out


def gaps(t: Any, expected_interval_s: float, *, factor: float = 2.5) -> F64:
    """Per reading of one sensor: the seconds since the previous one where that is more
    than ``factor`` expected intervals, else 0 (the first reading: 0)."""
    ts = times("t", t)
    if expected_interval_s <= 0 or factor < 1:
        raise AnalyticsInputError("gaps: expected_interval_s > 0 and factor >= 1")
    d = np.diff(ts, prepend=ts[:1])
    return np.where(d > factor * expected_interval_s, d, 0.0)


def out_of_range(values: Any, low: float, high: float) -> npt.NDArray[np.bool_]:
    """Per reading: outside [low, high] (NaN: False, it is missing, not wrong)."""
    if not low < high:
        raise AnalyticsInputError(f"out_of_range: low ({low}) must be below high ({high})")
    x = floats("values", values)
    return (x < low) | (x > high)
