"""What a domain's sensors have in common: the median over the city's traffic sensors of
their speed ratio (speed over its normal for the slot of the week), per bucket of time.

An incident is local; heavy rain or a holiday slows the whole city. A sensor's ratio is
compared with the city's median ratio of the bucket *before last* (``bucket_s``, a minute
by default): by then every gateway's readings of that bucket are in, whatever the batches
the stream came in, so the comparison does not depend on them (for gateways lagging less
than a bucket). A bucket with fewer than ``min_peers`` sensors gives no median (NaN), and
the sensor is then judged on its own ratio.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.arrays import F64, I64

__all__ = ["PeerRatio"]

_RING = 3  # the bucket before last, the last, the current


class PeerRatio:
    """Per device and bucket: the sum and count of its ratios (a ring of three buckets)."""

    def __init__(self, devices: int, bucket_s: float = 60.0, min_peers: int = 3) -> None:
        self.bucket_s = bucket_s
        self.min_peers = min_peers
        self.sum = np.zeros((devices, _RING))
        self.count = np.zeros((devices, _RING), dtype=np.int64)
        self.bucket = np.full((devices, _RING), -1, dtype=np.int64)

    def state(self) -> dict[str, np.ndarray[Any, Any]]:
        return {"sum": self.sum, "count": self.count, "bucket": self.bucket}

    def _median(self, b: int) -> float:
        r = b % _RING
        mine = (self.bucket[:, r] == b) & (self.count[:, r] > 0)
        if mine.sum() < self.min_peers:
            return float("nan")
        return float(np.median(self.sum[mine, r] / self.count[mine, r]))

    def update(self, dev: I64, t: F64, ratio: F64) -> F64:
        """Take the rows' ratios (in any order; taken in time order) and return, per
        row, the city's median ratio of the bucket before last of its own."""
        out = np.full(dev.shape[0], np.nan)
        medians: dict[int, float] = {}
        for i in np.argsort(t, kind="stable").tolist():
            b = int(t[i] // self.bucket_s)
            if b - 2 not in medians:
                medians[b - 2] = self._median(b - 2)
            out[i] = medians[b - 2]
            x = ratio[i]
            if np.isnan(x):
                continue
            d, r = int(dev[i]), b % _RING
            if self.bucket[d, r] != b:
                self.bucket[d, r] = b
                self.sum[d, r] = 0.0
                self.count[d, r] = 0
            self.sum[d, r] += x
            self.count[d, r] += 1
        return out
