"""Street lighting, live: lamp faults from the sun's elevation at each lamp and its power
(``day_burning`` and ``lamp_out`` episodes once a fault has lasted ``lamp_hold_s``);
derived points in ``light_state``."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.derived import build_points, light_columns
from analytics.incidents import Sustained
from analytics.lighting import DARK_AT_NIGHT, DAY_BURNING, lamp_faults, sun_elevation
from analytics.live.columns import Columns, Numbering
from analytics.live.detector import Detector, Output
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

    def state(self) -> dict[str, np.ndarray[Any, Any]]:
        return {f"{_KINDS[flag]}_{k}": getattr(s, k) for flag, s in self.faults.items()
                for k in ("last_t", "since", "active", "start")}

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
        points = build_points("light_state", self.row_tags(cols), cols.time_ns.tolist(),
                              light_columns(flags, power, elev))
        return points, events
