"""A robust seasonal baseline per device: what is normal for this hour of this weekday.

For each device and each of the week's 168 hours (in the city's local time), the mean of
that hour in each of the last ``weeks`` weeks is kept (a ring of weeks; a sensor read
every minute gives 60 readings an hour, and they make one value for their week). A new
reading is scored against the earlier weeks' values of its hour, never its own week's
(an incident that lasts an hour does not become its own baseline), by their median and
MAD (median absolute deviation):

    score = (v - median) / (1.4826 * MAD)

(1.4826 makes the MAD estimate a standard deviation for normal data), so a score of 5 is
"five sigmas from what this hour usually is", robust to the odd outlier among the weeks
kept. An hour needs ``min_weeks`` earlier weeks before it scores (NaN until then); a MAD
of zero (a constant hour) scores NaN rather than infinity. Then the reading is added to
its own week's mean, unless the caller says it is not to be learnt from (``learn``: a
sensor known to be stuck is scored, but its readings do not become a later
week's normal).

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
from analytics.arrays import F64, I64, AnalyticsInputError, floats, micro_batch, same_length

__all__ = ["HOURS_PER_WEEK", "SeasonalBaseline", "hour_of_week"]

HOURS_PER_WEEK = 168
MAD_TO_SIGMA = 1.4826
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


@kernel
def _slot(t: float, utc_offset_s: float, slot_s: float) -> tuple[int, int]:
    """(slot of the week, week number) of a time; weeks start on Monday 00:00 local."""
    local = t + utc_offset_s
    days = np.floor(local / 86400.0)
    weekday = int((days + _EPOCH_WEEKDAY) % 7)
    into_week = weekday * 86400.0 + (local - days * 86400.0)
    week = int(np.floor((days + _EPOCH_WEEKDAY) / 7))
    return int(np.floor(into_week / slot_s)), week


@kernel
def _median(a: F64) -> float:
    return float(np.median(a))


@kernel
def _update(device: I64, t: F64, v: F64, learn: npt.NDArray[np.bool_], utc_offset_s: float,
            slot_s: float, weeks: int, min_weeks: int, sums: npt.NDArray[np.float64],
            counts: npt.NDArray[np.int64], week_of: npt.NDArray[np.int64], last_t: F64,
            score: F64, base: F64, taken: npt.NDArray[np.bool_]) -> None:
    ring = sums.shape[2]  # weeks + 1: the earlier weeks and the current one
    past = np.empty(ring, dtype=np.float64)
    for i in range(device.shape[0]):
        d = device[i]
        x = v[i]
        score[i] = np.nan
        base[i] = np.nan
        taken[i] = False
        if np.isnan(x) or t[i] <= last_t[d]:
            continue
        s, week = _slot(t[i], utc_offset_s, slot_s)
        k = 0
        for r in range(ring):
            w = week_of[d, s, r]
            if counts[d, s, r] > 0 and week - weeks <= w < week:
                past[k] = sums[d, s, r] / counts[d, s, r]
                k += 1
        if k >= min_weeks:
            med = _median(past[:k])
            mad = _median(np.abs(past[:k] - med))
            base[i] = med
            if mad > 0:
                score[i] = (x - med) / (MAD_TO_SIGMA * mad)
        last_t[d] = t[i]
        taken[i] = True
        if not learn[i]:
            continue
        r = week % ring
        if week_of[d, s, r] != week:
            week_of[d, s, r] = week
            sums[d, s, r] = 0.0
            counts[d, s, r] = 0
        sums[d, s, r] += x
        counts[d, s, r] += 1


def hour_of_week(t: Any, utc_offset_s: float = 0.0) -> npt.NDArray[np.int64]:
    """The hour of the week (0 = Monday 00:00-01:00 local .. 167) of each time."""
    local = floats("t", t, finite=True) + float(utc_offset_s)
    days = np.floor(local / 86400.0)
    hours = np.floor((local - days * 86400.0) / 3600.0)
    return (((days + _EPOCH_WEEKDAY) % 7) * 24 + hours).astype(np.int64)


@dataclass
class SeasonalBaseline:
    """The hour-of-week baseline of ``devices`` devices; ``utc_offset_s`` is the city's
    offset from UTC (Asia/Jakarta: 7 h, no daylight saving); ``slot_s`` the length of a
    slot of the week (an hour by default; 900 keeps a quarter of an hour apart, for
    signals that change within the hour, such as a rush hour's ramps)."""

    devices: int
    utc_offset_s: float = 0.0
    weeks: int = 8
    min_weeks: int = 3
    slot_s: int = 3600
    sums: npt.NDArray[np.float64] = field(init=False)
    counts: npt.NDArray[np.int64] = field(init=False)
    week_of: npt.NDArray[np.int64] = field(init=False)
    last_t: F64 = field(init=False)

    def __post_init__(self) -> None:
        if self.devices < 0 or not 1 <= self.min_weeks <= self.weeks:
            raise AnalyticsInputError("SeasonalBaseline: devices >= 0 and "
                                      "1 <= min_weeks <= weeks")
        if self.slot_s < 60 or 3600 % self.slot_s:
            raise AnalyticsInputError("SeasonalBaseline: slot_s must divide an hour "
                                      "(3600, 1800, 900, ..., at least 60)")
        shape = (self.devices, 7 * 86400 // self.slot_s, self.weeks + 1)
        self.sums = np.zeros(shape)
        self.counts = np.zeros(shape, dtype=np.int64)
        self.week_of = np.full(shape, -(2**62), dtype=np.int64)
        self.last_t = np.full(self.devices, -np.inf)

    def update(self, device: Any, t: Any, v: Any, learn: Any = None
               ) -> tuple[F64, F64, npt.NDArray[np.bool_]]:
        """Take one micro-batch; (score, baseline median, taken) per reading. ``learn``
        (one bool per reading, default all): False scores a reading without adding it
        to its week's mean."""
        dev, ts, x = micro_batch(device, t, v, self.devices)
        n = dev.shape[0]
        if learn is None:
            keep = np.ones(n, dtype=np.bool_)
        else:
            keep = np.ascontiguousarray(learn, dtype=np.bool_)
            same_length(device=dev, learn=keep)
        score, base = np.empty(n), np.empty(n)
        taken = np.empty(n, dtype=np.bool_)
        _update(dev, ts, x, keep, float(self.utc_offset_s), float(self.slot_s), int(self.weeks),
                int(self.min_weeks),
                self.sums, self.counts, self.week_of, self.last_t, score, base, taken)
        return score, base, taken
