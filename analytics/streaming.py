"""Per-device streaming state, updated once per micro-batch of arrays.

A micro-batch is three arrays, one element per reading: the device's number (an index
into the state arrays), its time (UNIX seconds) and its value. One kernel call updates
every device the batch touches; there is never a numba call per message.

Delivery is at-least-once, so late and redelivered readings are expected: a reading at or
before its device's last processed time is skipped (it never counts twice), as is NaN.

The state per device (each an array indexed by device number):

- ``count`` readings taken, ``last_t`` and ``last_v`` (the newest reading),
- ``mean`` and ``var``: exponentially weighted moving mean and variance (West's update:
  ``d = v - mean; mean += a*d; var = (1 - a) * (var + a*d*d)``, ``a = alpha``),
- ``rate``: the change per second from the previous reading to this one.

For each reading the update returns its z-score against the mean and variance *before*
it (NaN for the first reading of a device, a skipped one, or zero variance) and the rate;
on request, the mean after it (a smoothed reading).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from analytics._jit import kernel
from analytics.arrays import F64, I64, AnalyticsInputError, micro_batch

__all__ = ["StreamState"]


@kernel
def _update(device: I64, t: F64, v: F64, alpha: float, count: I64, last_t: F64,
            last_v: F64, mean: F64, var: F64, rate: F64, z_out: F64, rate_out: F64,
            mean_out: F64, taken: npt.NDArray[np.bool_]) -> int:
    n_taken = 0
    for i in range(device.shape[0]):
        d = device[i]
        x = v[i]
        z_out[i] = np.nan
        rate_out[i] = np.nan
        mean_out[i] = np.nan
        taken[i] = False
        if np.isnan(x) or (count[d] > 0 and t[i] <= last_t[d]):
            continue
        if count[d] == 0:
            mean[d] = x
            var[d] = 0.0
        else:
            diff = x - mean[d]
            if var[d] > 0:
                z_out[i] = diff / np.sqrt(var[d])
            r = (x - last_v[d]) / (t[i] - last_t[d])
            rate[d] = r
            rate_out[i] = r
            incr = alpha * diff
            mean[d] += incr
            var[d] = (1.0 - alpha) * (var[d] + diff * incr)
        count[d] += 1
        last_t[d] = t[i]
        last_v[d] = x
        mean_out[i] = mean[d]
        taken[i] = True
        n_taken += 1
    return n_taken


@dataclass
class StreamState:
    """The streaming state of ``devices`` devices (numbered 0 .. devices - 1)."""

    devices: int
    alpha: float = 0.05
    count: I64 = field(init=False)
    last_t: F64 = field(init=False)
    last_v: F64 = field(init=False)
    mean: F64 = field(init=False)
    var: F64 = field(init=False)
    rate: F64 = field(init=False)

    def __post_init__(self) -> None:
        if self.devices < 0 or not 0 < self.alpha <= 1:
            raise AnalyticsInputError("StreamState: devices >= 0 and 0 < alpha <= 1")
        n = self.devices
        self.count = np.zeros(n, dtype=np.int64)
        self.last_t = np.full(n, np.nan)
        self.last_v = np.full(n, np.nan)
        self.mean = np.full(n, np.nan)
        self.var = np.full(n, np.nan)
        self.rate = np.full(n, np.nan)

    def update(self, device: Any, t: Any, v: Any, *, means: F64 | None = None
               ) -> tuple[F64, F64, npt.NDArray[np.bool_]]:
        """Take one micro-batch (each device's readings in time order among themselves);
        (z-score, rate per second, taken) per reading. ``means``, an array as long as the
        batch, if given, receives the mean after each reading (NaN where not taken)."""
        dev, ts, x = micro_batch(device, t, v, self.devices)
        n = dev.shape[0]
        z = np.empty(n)
        rate = np.empty(n)
        taken = np.empty(n, dtype=np.bool_)
        if means is None:
            means = np.empty(n)
        elif means.shape != (n,) or means.dtype != np.float64:
            raise AnalyticsInputError(f"means: expected a float64 array of {n}")
        _update(dev, ts, x, float(self.alpha), self.count, self.last_t, self.last_v,
                self.mean, self.var, self.rate, z, rate, means, taken)
        return z, rate, taken

    def arrays(self) -> dict[str, np.ndarray[Any, Any]]:
        """The state as arrays by name (to checkpoint it)."""
        return {"count": self.count, "last_t": self.last_t, "last_v": self.last_v,
                "mean": self.mean, "var": self.var, "rate": self.rate}
