"""A robust seasonal baseline per device: what is normal for this hour of this weekday.

For each device and each of the week's 168 hours (in the city's local time), the last
``weeks`` values seen in that hour are kept in a ring; a new reading is scored against
their median and MAD (median absolute deviation):

    score = (v - median) / (1.4826 * MAD)

(1.4826 makes the MAD estimate a standard deviation for normal data), so a score of 5 is
"five sigmas from what this hour usually is", robust to the odd outlier among the weeks
kept. A slot needs ``min_weeks`` values before it scores (NaN until then); a MAD of zero
(a constant slot) scores NaN rather than infinity. Then the reading enters the ring.

As in :mod:`analytics.streaming`, state lives in arrays indexed by device number and one
kernel call takes a micro-batch; a reading at or before its device's newest time is
skipped (delivery is at-least-once), as is NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from analytics._jit import kernel
from analytics.arrays import F64, I64, AnalyticsInputError, floats, same_length

__all__ = ["HOURS_PER_WEEK", "SeasonalBaseline", "hour_of_week"]

HOURS_PER_WEEK = 168
MAD_TO_SIGMA = 1.4826
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


@kernel
def _slot(t: float, utc_offset_s: float) -> int:
    local = t + utc_offset_s
    days = np.floor(local / 86400.0)
    weekday = int((days + _EPOCH_WEEKDAY) % 7)
    hour = int(np.floor((local - days * 86400.0) / 3600.0))
    return weekday * 24 + hour


@kernel
def _median(a: F64) -> float:
    return float(np.median(a))


@kernel
def _update(device: I64, t: F64, v: F64, utc_offset_s: float, min_weeks: int,
            ring: npt.NDArray[np.float64], filled: npt.NDArray[np.int64],
            nxt: npt.NDArray[np.int64], last_t: F64, score: F64, base: F64,
            taken: npt.NDArray[np.bool_]) -> None:
    weeks = ring.shape[2]
    for i in range(device.shape[0]):
        d = device[i]
        x = v[i]
        score[i] = np.nan
        base[i] = np.nan
        taken[i] = False
        if np.isnan(x) or t[i] <= last_t[d]:
            continue
        s = _slot(t[i], utc_offset_s)
        k = filled[d, s]
        if k >= min_weeks:
            vals = ring[d, s, :k].copy()
            med = _median(vals)
            mad = _median(np.abs(vals - med))
            base[i] = med
            if mad > 0:
                score[i] = (x - med) / (MAD_TO_SIGMA * mad)
        ring[d, s, nxt[d, s]] = x
        nxt[d, s] = (nxt[d, s] + 1) % weeks
        if k < weeks:
            filled[d, s] = k + 1
        last_t[d] = t[i]
        taken[i] = True


def hour_of_week(t: Any, utc_offset_s: float = 0.0) -> npt.NDArray[np.int64]:
    """The hour of the week (0 = Monday 00:00-01:00 local .. 167) of each time."""
    local = floats("t", t, finite=True) + float(utc_offset_s)
    days = np.floor(local / 86400.0)
    hours = np.floor((local - days * 86400.0) / 3600.0)
    return (((days + _EPOCH_WEEKDAY) % 7) * 24 + hours).astype(np.int64)


@dataclass
class SeasonalBaseline:
    """The hour-of-week baseline of ``devices`` devices; ``utc_offset_s`` is the city's
    offset from UTC (Asia/Jakarta: 7 h, no daylight saving)."""

    devices: int
    utc_offset_s: float = 0.0
    weeks: int = 8
    min_weeks: int = 3
    ring: npt.NDArray[np.float64] = field(init=False)
    filled: npt.NDArray[np.int64] = field(init=False)
    nxt: npt.NDArray[np.int64] = field(init=False)
    last_t: F64 = field(init=False)

    def __post_init__(self) -> None:
        if self.devices < 0 or not 1 <= self.min_weeks <= self.weeks:
            raise AnalyticsInputError("SeasonalBaseline: devices >= 0 and "
                                      "1 <= min_weeks <= weeks")
        self.ring = np.full((self.devices, HOURS_PER_WEEK, self.weeks), np.nan)
        self.filled = np.zeros((self.devices, HOURS_PER_WEEK), dtype=np.int64)
        self.nxt = np.zeros((self.devices, HOURS_PER_WEEK), dtype=np.int64)
        self.last_t = np.full(self.devices, -np.inf)

    def update(self, device: Any, t: Any, v: Any) -> tuple[F64, F64, npt.NDArray[np.bool_]]:
        """Take one micro-batch; (score, baseline median, taken) per reading."""
        dev = np.ascontiguousarray(device, dtype=np.int64)
        ts = floats("t", t, finite=True)
        x = floats("v", v)
        n = same_length(device=dev, t=ts, v=x)
        if n and (dev.min() < 0 or dev.max() >= self.devices):
            raise AnalyticsInputError(f"device: numbers must be in 0..{self.devices - 1}")
        score, base = np.empty(n), np.empty(n)
        taken = np.empty(n, dtype=np.bool_)
        _update(dev, ts, x, float(self.utc_offset_s), int(self.min_weeks), self.ring,
                self.filled, self.nxt, self.last_t, score, base, taken)
        return score, base, taken
