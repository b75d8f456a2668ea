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
- :func:`incident_conditions`: a traffic incident is a sudden, sustained drop of speed
  with a rise of occupancy, against what is normal for that hour of the week (the seasonal
  baseline's scores and median): on when the speed score is at or below ``-z_on``, the
  occupancy score at or above ``z_on`` (and occupancy at least ``1 + min_rise`` of its
  normal, where given) and speed at most ``1 - min_drop`` of its normal;
  cleared when the speed score is back above ``-z_off``, speed above ``1 - min_drop/2``
  of normal, or occupancy at or under its normal (the queue is gone). Occupancy, not
  flow, confirms it: at and upstream of a blocked lane vehicles queue (occupancy up,
  speed down) while flow falls only downstream of it, as the California
  incident-detection algorithms have it (Payne and Tignor, 1978); the speed ratio keeps
  an hour whose weeks were very alike (a tiny MAD) from calling a small dip an incident.
  With ``hold_s`` (default 5 minutes) this ignores a single slow reading and catches a
  lane blocked for longer.
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


def incident_conditions(speed_score: Any, occupancy_score: Any, speed_ratio: Any, *,
                        z_on: float = 3.0, z_off: float = 1.5, min_drop: float = 0.35,
                        occupancy_ratio: Any = None, min_rise: float = 0.25
                        ) -> tuple[Bools, Bools]:
    """(on, off) per reading for :class:`Sustained`, from the seasonal baseline's scores of
    speed and occupancy and speed over its baseline median: on when the speed score is at
    or below ``-z_on``, the occupancy score at or above ``z_on`` and the ratio at most
    ``1 - min_drop`` (and, given ``occupancy_ratio``, occupancy over its median, that at
    least ``1 + min_rise``: an hour whose weeks were alike has a tiny MAD, and its
    occupancy's noise alone scores far out); off when the speed score is above ``-z_off``,
    the ratio above ``1 - min_drop / 2`` or the occupancy at or under its normal (score
    <= 0: no queue over the detector, so a busy reading at a sensor that reads slow for
    another reason, a drift, starts nothing that lasts); neither when a score is unknown
    (NaN)."""
    if not 0 < z_off < z_on:
        raise AnalyticsInputError(f"incident: 0 < z_off ({z_off}) < z_on ({z_on})")
    if not 0 < min_drop < 1:
        raise AnalyticsInputError(f"incident: 0 < min_drop ({min_drop}) < 1")
    if not min_rise >= 0:
        raise AnalyticsInputError(f"incident: min_rise ({min_rise}) >= 0")
    speed = floats("speed_score", speed_score)
    occ = floats("occupancy_score", occupancy_score)
    ratio = floats("speed_ratio", speed_ratio)
    same_length(speed_score=speed, occupancy_score=occ, speed_ratio=ratio)
    with np.errstate(invalid="ignore"):
        on = (speed <= -z_on) & (occ >= z_on) & (ratio <= 1 - min_drop)
        if occupancy_ratio is not None:
            busier = floats("occupancy_ratio", occupancy_ratio)
            same_length(speed_score=speed, occupancy_ratio=busier)
            on &= busier >= 1 + min_rise
        known = ~np.isnan(speed) & ~np.isnan(ratio)
        off = known & ((speed > -z_off) | (ratio > 1 - min_drop / 2) | (occ <= 0)) & ~on
    return on, off
