"""Rain, live: BMKG intensity class per reading (derived points in ``rain_state``) and
``heavy_rain`` episodes once rain has been heavy or very heavy for ``rain_hold_s``
(cleared when it is light or less)."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.derived import build_points, rain_columns
from analytics.incidents import Sustained
from analytics.live.columns import Columns, Numbering
from analytics.live.detector import Detector, Output
from analytics.live.events import Episodes
from analytics.rain import RAIN_CLASSES, rain_class
from analytics.settings import DetectionSettings
from cityhub.config.pack import CityPack, RainSensor

__all__ = ["RainDetector"]

_HEAVY = RAIN_CLASSES.index("heavy")
_LIGHT = RAIN_CLASSES.index("light")


class RainDetector(Detector):
    def __init__(self, pack: CityPack, numbering: Numbering, params: DetectionSettings,
                 episodes: Episodes) -> None:
        super().__init__(pack, numbering, params, episodes)
        gauges = [s for s in self.sensors if isinstance(s, RainSensor)]
        self.heavy = np.array([s.thresholds.heavy for s in gauges], dtype=np.float64)
        self.very_heavy = np.array([s.thresholds.very_heavy for s in gauges],
                                   dtype=np.float64)
        self.heavy_rain = Sustained(len(numbering), params.rain_hold_s)

    def state(self) -> dict[str, np.ndarray[Any, Any]]:
        return {f"heavy_rain_{k}": getattr(self.heavy_rain, k)
                for k in ("last_t", "since", "active", "start")}

    def step(self, cols: Columns) -> Output:
        rate = cols.get("rainRate")
        classes = rain_class(rate, self.heavy[cols.dev], self.very_heavy[cols.dev])
        before = self.heavy_rain.active.copy()
        on = classes >= _HEAVY
        off = (classes >= 0) & (classes <= _LIGHT)
        active, start, _ = self.heavy_rain.update(cols.dev, cols.t, on, off)
        events = self.episodes_of("heavy_rain", cols, active, start, before, "warning",
                                  {"rain_mm_h": rate})
        points = build_points("rain_state", self.row_tags(cols), cols.time_ns.tolist(),
                              rain_columns(classes))
        return points, events
