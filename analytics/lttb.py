"""Largest-Triangle-Three-Buckets downsampling (Steinarsson, 2013) for charts.

Keeps the first and last points and, from each of ``threshold - 2`` equal buckets of the
points between, the one that makes the largest triangle with the point kept from the
previous bucket and the mean of the next bucket: the shape of the series survives (peaks
stay), at a size a browser draws at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics._jit import kernel
from analytics.arrays import F64, I64, AnalyticsInputError, floats, same_length, times

__all__ = ["lttb"]


@kernel
def _lttb(x: F64, y: F64, threshold: int, out: I64) -> None:
    n = x.shape[0]
    every = (n - 2) / (threshold - 2)
    a = 0
    out[0] = 0
    for i in range(threshold - 2):
        # the next bucket's mean
        lo = int(np.floor((i + 1) * every)) + 1
        hi = min(int(np.floor((i + 2) * every)) + 1, n)
        mx = 0.0
        my = 0.0
        for k in range(lo, hi):
            mx += x[k]
            my += y[k]
        cnt = hi - lo
        if cnt > 0:
            mx /= cnt
            my /= cnt
        else:
            mx = x[n - 1]
            my = y[n - 1]
        # this bucket
        start = int(np.floor(i * every)) + 1
        end = int(np.floor((i + 1) * every)) + 1
        best = -1.0
        pick = start
        for k in range(start, end):
            area = abs((x[a] - mx) * (y[k] - y[a]) - (x[a] - x[k]) * (my - y[a]))
            if area > best:
                best = area
                pick = k
        out[i + 1] = pick
        a = pick
    out[threshold - 1] = n - 1


def lttb(x: Any, y: Any, threshold: int) -> I64:
    """The indices of at most ``threshold`` points of (x, y) to draw, ascending. ``x``
    sorted, no NaN (leave missing readings out first)."""
    xs = times("x", x)
    ys = floats("y", y, finite=True)
    n = same_length(x=xs, y=ys)
    if threshold < 3:
        raise AnalyticsInputError("lttb: threshold must be at least 3")
    if n <= threshold:
        return np.arange(n, dtype=np.int64)
    out = np.empty(threshold, dtype=np.int64)
    _lttb(xs, ys, int(threshold), out)
    return out
