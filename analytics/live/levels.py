"""How much each device's value moved over a trailing window: the mean of the current
bucket against the mean of the bucket ``window_s`` earlier, from a ring of bucket sums
per device (state: a few arrays, whatever the readings' rate). The flood rules use it
for drift: a gauge whose level keeps creeping up while its river's other gauges hold
still and the city is dry."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.arrays import F64, I64, AnalyticsInputError

__all__ = ["WindowChange"]


class WindowChange:
    """Per device: the change of its value over ``window_s``, in ``buckets`` buckets of
    the window (36: 10 minutes of a 6-hour window). The state's shape does not depend on
    the window, so a checkpoint outlives a change of it."""

    def __init__(self, devices: int, window_s: float, buckets: int = 36) -> None:
        if devices < 0 or window_s <= 0 or buckets < 1:
            raise AnalyticsInputError("WindowChange: devices >= 0, window_s > 0, "
                                      "buckets >= 1")
        self.bucket_s = float(window_s) / buckets
        self.lag = buckets  # buckets between the two compared
        ring = self.lag + 2
        self.sum = np.zeros((devices, ring))
        self.count = np.zeros((devices, ring), dtype=np.int64)
        self.bucket = np.full((devices, ring), -1, dtype=np.int64)
        self.last = np.full(devices, np.nan)  # each device's latest change
        self.last_t = np.full(devices, -np.inf)  # and the time of its reading

    def state(self) -> dict[str, np.ndarray[Any, Any]]:
        return {"sum": self.sum, "count": self.count, "bucket": self.bucket,
                "last": self.last, "last_t": self.last_t}

    def update(self, dev: I64, t: F64, value: F64) -> F64:
        """Take the rows (each device's in time order): per row, its device's mean of the
        row's bucket so far minus its mean of the bucket ``window_s`` earlier (NaN where
        that bucket holds nothing)."""
        out = np.full(dev.shape[0], np.nan)
        ring = self.sum.shape[1]
        for i in range(dev.shape[0]):
            d, x = int(dev[i]), float(value[i])
            b = int(t[i] // self.bucket_s)
            r = b % ring
            if not np.isnan(x):
                if self.bucket[d, r] != b:
                    self.bucket[d, r], self.sum[d, r], self.count[d, r] = b, 0.0, 0
                self.sum[d, r] += x
                self.count[d, r] += 1
            past = (b - self.lag) % ring
            if self.bucket[d, r] == b and self.bucket[d, past] == b - self.lag \
                    and self.count[d, past] > 0:
                out[i] = self.sum[d, r] / self.count[d, r] \
                    - self.sum[d, past] / self.count[d, past]
            self.last[d], self.last_t[d] = out[i], float(t[i])
        return out
