"""Data quality: stuck values, gaps against the expected interval, values out of range.

- **Stuck**: a reading is stuck when it is part of a run of at least ``min_run``
  successive readings with exactly the same value (a frozen sensor repeats its last
  value; real signals wobble). NaN breaks a run. :func:`stuck` marks a series;
  :class:`StuckRuns` follows the runs of many devices one micro-batch at a time (the
  streaming service), skipping a reading at or before its device's newest time.
- **Gaps**: the interval before each reading, where it is longer than ``factor`` times
  the sensor's expected interval (``interval_s`` in the pack), else 0.
- **Out of range**: below ``low`` or above ``high`` (the field's physical range).
- **Completeness per gateway**, from the wire contract's ``seq`` (a per-gateway counter
  the edge agent gives every reading): between the lowest and the highest seq seen, how
  many were expected, how many distinct ones arrived, how many arrived more than once.
  Missing seqs are readings lost or still queued on the gateway; duplicates are
  redeliveries (harmless: points are idempotent).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from analytics._jit import kernel
from analytics.arrays import F64, AnalyticsInputError, floats, micro_batch, times

__all__ = ["SeqCompleteness", "StuckRuns", "gaps", "out_of_range", "seq_completeness",
           "stuck"]


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


@kernel
def _runs(device: npt.NDArray[np.int64], t: F64, x: F64, last_t: F64, last_v: F64,
          run: npt.NDArray[np.int64], since: F64, out_run: npt.NDArray[np.int64],
          out_since: F64, taken: npt.NDArray[np.bool_]) -> None:
    for i in range(device.shape[0]):
        d = device[i]
        taken[i] = False
        if t[i] <= last_t[d]:
            out_run[i] = run[d]
            out_since[i] = since[d]
            continue
        taken[i] = True
        last_t[d] = t[i]
        if np.isnan(x[i]):
            run[d] = 0
            since[d] = np.nan
        elif run[d] > 0 and x[i] == last_v[d]:
            run[d] += 1
        else:
            run[d] = 1
            since[d] = t[i]
        last_v[d] = x[i]
        out_run[i] = run[d]
        out_since[i] = since[d]


class StuckRuns:
    """Runs of identical values per device (numbered 0 .. ``devices`` - 1), streaming."""

    def __init__(self, devices: int) -> None:
        if devices < 0:
            raise AnalyticsInputError("StuckRuns: devices >= 0")
        self.devices = devices
        self.last_t = np.full(devices, -np.inf)
        self.last_v = np.full(devices, np.nan)
        self.run = np.zeros(devices, dtype=np.int64)
        self.since = np.full(devices, np.nan)

    def update(self, device: Any, t: Any, v: Any
               ) -> tuple[npt.NDArray[np.int64], F64, npt.NDArray[np.bool_]]:
        """Take one micro-batch (each device's readings in time order among themselves):
        per reading, the length of its device's run of identical values so far, the time
        that run began, and whether the reading was taken."""
        dev, ts, x = micro_batch(device, t, v, self.devices)
        n = dev.shape[0]
        run = np.empty(n, dtype=np.int64)
        since = np.empty(n)
        taken = np.empty(n, dtype=np.bool_)
        _runs(dev, ts, x, self.last_t, self.last_v, self.run, self.since, run, since, taken)
        return run, since, taken


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


class SeqCompleteness(NamedTuple):
    """Per gateway number: seqs expected (highest - lowest + 1), distinct seqs received,
    readings received more than once; ``completeness`` = received / expected."""

    expected: npt.NDArray[np.int64]
    received: npt.NDArray[np.int64]
    duplicates: npt.NDArray[np.int64]

    @property
    def completeness(self) -> F64:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.expected > 0, self.received / self.expected, np.nan)


@kernel
def _seq_counts(gateway: npt.NDArray[np.int64], seq: npt.NDArray[np.int64],
                expected: npt.NDArray[np.int64], received: npt.NDArray[np.int64],
                duplicates: npt.NDArray[np.int64]) -> None:
    # gateway, seq sorted together (by gateway, then seq)
    n = gateway.shape[0]
    i = 0
    while i < n:
        g = gateway[i]
        lo = seq[i]
        hi = lo
        distinct = 0
        total = 0
        prev = lo - 1
        while i < n and gateway[i] == g:
            total += 1
            if seq[i] != prev:
                distinct += 1
                prev = seq[i]
            hi = seq[i]
            i += 1
        expected[g] = hi - lo + 1
        received[g] = distinct
        duplicates[g] = total - distinct


def seq_completeness(gateway: Any, seq: Any, gateways: int) -> SeqCompleteness:
    """Completeness of each of ``gateways`` gateways (numbered 0 ..) from the (gateway
    number, seq) of the readings received, in any order."""
    g = np.ascontiguousarray(gateway, dtype=np.int64)
    s = np.ascontiguousarray(seq, dtype=np.int64)
    if g.shape != s.shape or g.ndim != 1:
        raise AnalyticsInputError("gateway and seq: 1-D arrays of the same length")
    if g.size and (g.min() < 0 or g.max() >= gateways):
        raise AnalyticsInputError(f"gateway: numbers must be in 0..{gateways - 1}")
    if (s < 0).any():
        raise AnalyticsInputError("seq: negative sequence number")
    order = np.lexsort((s, g))
    out = SeqCompleteness(*(np.zeros(gateways, dtype=np.int64) for _ in range(3)))
    _seq_counts(g[order], s[order], out.expected, out.received, out.duplicates)
    return out
