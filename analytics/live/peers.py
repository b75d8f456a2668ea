"""What a domain's sensors have in common: the median over the city's sensors of a
domain of some value of theirs, per bucket of time. The traffic rules use it for the
speed ratio (speed over its normal for the slot of the week: an incident is local; heavy
rain or a holiday slows the whole city), the rain rules for the rain rate (a gauge that
reads rain while its neighbours are dry has drifted).

A sensor's value is compared with the city's median of the bucket *before last*
(``bucket_s``, a minute by default): by then every gateway's readings of that bucket are
in, whatever the batches the stream came in, so the comparison does not depend on them
(for gateways lagging less than a bucket). A bucket with fewer than ``min_peers`` sensors
gives no median (NaN), and the sensor is then judged on its own. With ``groups`` (the
pack's traffic corridors), a sensor is compared with its own group's median, or the
city's where its group has too few sensors in that bucket.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.arrays import F64, I64

__all__ = ["PeerMedian"]

_RING = 3  # the bucket before last, the last, the current


class PeerMedian:
    """Per device and bucket: the sum and count of its values (a ring of three buckets)."""

    def __init__(self, devices: int, bucket_s: float = 60.0, min_peers: int = 3,
                 groups: I64 | None = None) -> None:
        self.bucket_s = bucket_s
        self.min_peers = min_peers
        # per device, its group (a corridor: its median, where it has one) or -1 (the city's)
        self.groups = np.full(devices, -1, dtype=np.int64) if groups is None else groups
        self.sum = np.zeros((devices, _RING))
        self.count = np.zeros((devices, _RING), dtype=np.int64)
        self.bucket = np.full((devices, _RING), -1, dtype=np.int64)

    def state(self) -> dict[str, np.ndarray[Any, Any]]:
        return {"sum": self.sum, "count": self.count, "bucket": self.bucket}

    def _median(self, b: int, group: int = -1) -> float:
        r = b % _RING
        mine = (self.bucket[:, r] == b) & (self.count[:, r] > 0)
        if group >= 0:
            mine &= self.groups == group
        if mine.sum() < self.min_peers:
            return float("nan")
        return float(np.median(self.sum[mine, r] / self.count[mine, r]))

    def update(self, dev: I64, t: F64, value: F64) -> F64:
        """Take the rows' values (in any order; taken in time order) and return, per
        row, the city's median value of the bucket before last of its own."""
        out = np.full(dev.shape[0], np.nan)
        medians: dict[tuple[int, int], float] = {}
        for i in np.argsort(t, kind="stable").tolist():
            b = int(t[i] // self.bucket_s)
            g = int(self.groups[dev[i]])
            for key in ((g, b - 2), (-1, b - 2)):
                if key not in medians:
                    medians[key] = self._median(key[1], key[0])
            m = medians[g, b - 2]
            out[i] = m if not np.isnan(m) else medians[-1, b - 2]
            x = value[i]
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
