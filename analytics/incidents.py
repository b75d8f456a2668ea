"""Sustained conditions: a state that turns on only after its condition has held for a
while, and off only when a (separate) clearing condition holds; and traffic incidents,
built on it.

- :class:`Sustained` tracks, per device, a condition that must hold for ``hold_s``
  seconds, with no clearing reading in between, before the state turns on (a reading in
  the band between the two conditions neither counts against it nor resets it); the
  state's start is the time the condition began. It turns off at the first reading that
  meets the clearing condition. A reading at or before its device's newest time is
  skipped (at-least-once delivery); one where neither condition can be told (NaN inputs,
  as the caller encodes them: ``on`` and ``off`` both False) leaves the state as it is.
- :func:`incident_conditions`: a traffic incident is a sudden, sustained drop of both speed
  and flow against what is normal for that hour of the week (the seasonal baseline's
  scores): on when both scores are at or below ``-z_on``, cleared when the speed score is
  back above ``-z_off``. With ``hold_s`` (default 5 minutes) this ignores a single slow
  reading and catches a lane blocked for longer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from analytics._jit import kernel
from analytics.arrays import (
    F64,
    I64,
    AnalyticsInputError,
    device_times,
    floats,
    same_length,
)

__all__ = ["Sustained", "incident_conditions"]

Bools = npt.NDArray[np.bool_]


@kernel
def _sustained(device: I64, t: F64, on: Bools, off: Bools, hold_s: float, last_t: F64,
               since: F64, active: Bools, start: F64, out_active: Bools, out_start: F64,
               taken: Bools) -> None:
    for i in range(device.shape[0]):
        d = device[i]
        taken[i] = False
        if t[i] <= last_t[d]:
            out_active[i] = active[d]
            out_start[i] = start[d] if active[d] else np.nan
            continue
        last_t[d] = t[i]
        taken[i] = True
        if active[d]:
            if off[i]:
                active[d] = False
                since[d] = np.nan
        elif on[i]:
            if np.isnan(since[d]):
                since[d] = t[i]
            if t[i] - since[d] >= hold_s:
                active[d] = True
                start[d] = since[d]
        elif off[i]:
            since[d] = np.nan
        out_active[i] = active[d]
        out_start[i] = start[d] if active[d] else np.nan


@dataclass
class Sustained:
    """A condition that must hold ``hold_s`` seconds to switch on, per device."""

    devices: int
    hold_s: float = 300.0
    last_t: F64 = field(init=False)
    since: F64 = field(init=False)
    active: Bools = field(init=False)
    start: F64 = field(init=False)

    def __post_init__(self) -> None:
        if self.devices < 0 or self.hold_s < 0:
            raise AnalyticsInputError("Sustained: devices >= 0 and hold_s >= 0")
        self.last_t = np.full(self.devices, -np.inf)
        self.since = np.full(self.devices, np.nan)
        self.active = np.zeros(self.devices, dtype=np.bool_)
        self.start = np.full(self.devices, np.nan)

    def update(self, device: Any, t: Any, on: Any, off: Any) -> tuple[Bools, F64, Bools]:
        """Take one micro-batch (each device's readings in time order among themselves):
        (active after each reading, its start time or NaN, taken)."""
        dev, ts = device_times(device, t, self.devices)
        on_ = np.ascontiguousarray(on, dtype=np.bool_)
        off_ = np.ascontiguousarray(off, dtype=np.bool_)
        n = same_length(device=dev, on=on_, off=off_)
        if (on_ & off_).any():
            raise AnalyticsInputError("on and off: a reading cannot meet both")
        active = np.empty(n, dtype=np.bool_)
        start = np.empty(n)
        taken = np.empty(n, dtype=np.bool_)
        _sustained(dev, ts, on_, off_, float(self.hold_s), self.last_t, self.since,
                   self.active, self.start, active, start, taken)
        return active, start, taken


def incident_conditions(speed_score: Any, flow_score: Any, *, z_on: float = 3.0,
                        z_off: float = 1.5) -> tuple[Bools, Bools]:
    """(on, off) per reading for :class:`Sustained`, from the seasonal baseline's scores
    of speed and flow: on when both are at or below ``-z_on``; off when the speed score is
    above ``-z_off``; neither when a score is unknown (NaN)."""
    if not 0 < z_off < z_on:
        raise AnalyticsInputError(f"incident: 0 < z_off ({z_off}) < z_on ({z_on})")
    speed = floats("speed_score", speed_score)
    flow = floats("flow_score", flow_score)
    same_length(speed_score=speed, flow_score=flow)
    with np.errstate(invalid="ignore"):
        on = (speed <= -z_on) & (flow <= -z_on)
        off = (speed > -z_off) & ~np.isnan(speed)
    return on, off
