"""Each device's value over a trailing window, from a ring of bucket sums per device
(state: a few arrays, whatever the readings' rate):

- :class:`WindowChange`: how much it moved, the mean of the current bucket against the
  mean of the bucket ``window_s`` earlier. The flood rules use it for drift: a gauge whose
  level keeps creeping up while its river's other gauges hold still and the city is dry.
- :class:`WindowMedian`: where it has sat, the median of the means of the complete
  buckets of the window; robust to anything that lasts under half the window. The traffic
  rules use it for drift: a sensor whose speed sits off its corridor's for hours, while an
  incident (an hour or two) leaves the median where it was."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics._jit import kernel
from analytics.arrays import F64, I64, AnalyticsInputError, micro_batch

__all__ = ["WindowChange", "WindowMedian"]


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


@kernel
def _window_median(dev: I64, t: F64, value: F64, bucket_s: float, least: int, sums: F64,
                   counts: I64, buckets: I64, current: I64, median: F64, last_t: F64,
                   out: F64) -> None:
    ring = sums.shape[1]
    window = ring - 1
    means = np.empty(window)
    for i in range(dev.shape[0]):
        d = dev[i]
        if t[i] <= last_t[d]:  # redelivered, or late: never counts twice
            out[i] = median[d]
            continue
        last_t[d] = t[i]
        b = np.int64(np.floor(t[i] / bucket_s))
        if b != current[d]:
            # a new bucket: the median of the window's complete buckets before it
            k = 0
            for r in range(ring):
                if b - window <= buckets[d, r] < b and counts[d, r] > 0:
                    means[k] = sums[d, r] / counts[d, r]
                    k += 1
            median[d] = np.median(means[:k]) if k >= least else np.nan
            current[d] = b
            r = b % ring
            buckets[d, r] = b
            sums[d, r] = 0.0
            counts[d, r] = 0
        x = value[i]
        if not np.isnan(x):
            r = b % ring
            sums[d, r] += x
            counts[d, r] += 1
        out[i] = median[d]


class WindowMedian:
    """Per device: the median, over the last ``window_s`` (``buckets`` complete buckets,
    36: 10 minutes of a 6-hour window), of its buckets' mean values; NaN until at least
    half the window's buckets hold a value. The bucket being filled is left out, so a
    reading's answer does not depend on how the stream was cut into micro-batches. A
    reading at or before its device's newest time is skipped (at-least-once delivery)."""

    def __init__(self, devices: int, window_s: float, buckets: int = 36) -> None:
        if devices < 0 or window_s <= 0 or buckets < 1:
            raise AnalyticsInputError("WindowMedian: devices >= 0, window_s > 0, "
                                      "buckets >= 1")
        self.bucket_s = float(window_s) / buckets
        self.least = (buckets + 1) // 2
        self.sums = np.zeros((devices, buckets + 1))
        self.counts = np.zeros((devices, buckets + 1), dtype=np.int64)
        self.buckets = np.full((devices, buckets + 1), np.iinfo(np.int64).min, dtype=np.int64)
        self.current = np.full(devices, np.iinfo(np.int64).min, dtype=np.int64)
        self.median = np.full(devices, np.nan)
        self.last_t = np.full(devices, -np.inf)

    def state(self) -> dict[str, np.ndarray[Any, Any]]:
        return {"sums": self.sums, "counts": self.counts, "buckets": self.buckets,
                "current": self.current, "median": self.median, "last_t": self.last_t}

    def update(self, device: Any, t: Any, value: Any) -> F64:
        """Take the rows (each device's in time order among themselves; NaN values
        count for nothing): per row, its device's window median as of the row."""
        dev, ts, x = micro_batch(device, t, value, self.median.shape[0])
        out = np.empty(dev.shape[0])
        _window_median(dev, ts, x, self.bucket_s, self.least, self.sums, self.counts,
                       self.buckets, self.current, self.median, self.last_t, out)
        return out
