"""Street lighting, live: lamp faults from the sun's elevation at each lamp and its power
(``day_burning`` and ``lamp_out`` episodes once a fault has lasted ``lamp_hold_s``), and
dimming against the pack's schedule (``lighting.dimming``): a lamp that is on at night
and reports a level (``illuminanceLevel``) more than the schedule's ``tolerance`` from what
the schedule says for that local time is off schedule (``dimming`` episodes, after
``lamp_hold_s``); derived points in ``light_state``."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from analytics.arrays import F64
from analytics.derived import build_points, light_columns
from analytics.incidents import Sustained
from analytics.lighting import DARK_AT_NIGHT, DAY_BURNING, lamp_faults, sun_elevation
from analytics.live.columns import Columns, Numbering
from analytics.live.detector import Detector, Output, utc_offset_s
from analytics.live.events import Episodes
from analytics.settings import DetectionSettings
from cityhub.config.pack import CityPack, LightingSensor

__all__ = ["LightingDetector"]

# event kind of each fault flag
_KINDS = {DAY_BURNING: "day_burning", DARK_AT_NIGHT: "lamp_out"}


class LightingDetector(Detector):
    def __init__(self, pack: CityPack, numbering: Numbering, params: DetectionSettings,
                 episodes: Episodes) -> None:
        super().__init__(pack, numbering, params, episodes)
        n = len(numbering)
        lamps = [s for s in self.sensors if isinstance(s, LightingSensor)]
        self.rated = np.array([s.thresholds.rated_power for s in lamps], dtype=np.float64)
        self.switch = np.array([s.thresholds.switch_elevation for s in lamps],
                               dtype=np.float64)
        self.where = [(s.location.lat, s.location.lon) for s in lamps]
        self.faults = {flag: Sustained(n, params.lamp_hold_s) for flag in _KINDS}
        self.policy = pack.lighting
        self.offset_s = utc_offset_s(pack)
        self.dimming = Sustained(n, params.lamp_hold_s)

    def state(self) -> dict[str, np.ndarray[Any, Any]]:
        trackers = {**{_KINDS[flag]: s for flag, s in self.faults.items()},
                    "dimming": self.dimming}
        return {f"{name}_{k}": getattr(s, k) for name, s in trackers.items()
                for k in ("last_t", "since", "active", "start")}

    def _scheduled(self, cols: Columns, lit: npt.NDArray[np.bool_]) -> F64:
        """The schedule's level for each row where the lamp is lit at night, else NaN."""
        minute = ((cols.t + self.offset_s) % 86400.0) / 60.0
        return np.array([self.policy.level_at(m) if on else np.nan
                         for m, on in zip(minute.tolist(), lit.tolist(), strict=True)])

    def step(self, cols: Columns) -> Output:
        power = cols.get("activePower")
        elev = np.empty(len(cols))
        for d, a, b in cols.groups():
            lat, lon = self.where[d]
            elev[a:b] = sun_elevation(lat, lon, cols.t[a:b])
        flags = lamp_faults(elev, power, self.rated[cols.dev], self.switch[cols.dev])
        known = ~np.isnan(power)
        events = []
        for flag, kind in _KINDS.items():
            tracker = self.faults[flag]
            before = tracker.active.copy()
            on = flags == flag
            active, start, _ = tracker.update(cols.dev, cols.t, on, known & ~on)
            events += self.episodes_of(kind, cols, active, start, before, "warning",
                                       {"power_w": power, "sun_elevation": elev})
        level = cols.get("illuminanceLevel")
        night = elev < self.switch[cols.dev] - 3.0
        lit = night & (flags == 0) & (power >= 0.1 * self.rated[cols.dev]) & ~np.isnan(level)
        scheduled = self._scheduled(cols, lit)
        with np.errstate(invalid="ignore"):
            off_schedule = lit & (np.abs(level - scheduled) > self.policy.tolerance)
        before = self.dimming.active.copy()
        active, start, _ = self.dimming.update(cols.dev, cols.t, off_schedule,
                                               lit & ~off_schedule)
        events += self.episodes_of("dimming", cols, active, start, before, "info",
                                   {"level": level, "scheduled_level": scheduled})
        columns = light_columns(flags, power, elev)
        columns["on_schedule"] = [None if not x else not o for x, o in
                                  zip(lit.tolist(), off_schedule.tolist(), strict=True)]
        points = build_points("light_state", self.row_tags(cols), cols.time_ns.tolist(),
                              columns)
        return points, events
