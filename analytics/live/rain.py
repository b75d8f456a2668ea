"""Rain, live: BMKG intensity class per reading (derived points in ``rain_state``),
``heavy_rain`` episodes once rain has been heavy or very heavy for ``rain_hold_s``
(cleared when it is light or less), and ``drift`` episodes: a gauge that reads at least
``drift_rain_mm_h`` while the city's other gauges are dry (their median 0), for
``drift_hold_s``; cleared when it reads dry again (a drifting or wet-stuck gauge, a
clogged funnel draining late; while the city has rain too, nothing is decided)."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.derived import build_points, rain_columns
from analytics.incidents import Sustained
from analytics.live.columns import Columns, Numbering
from analytics.live.detector import Detector, Output
from analytics.live.events import Episodes
from analytics.live.peers import PeerMedian
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
        self.drift = Sustained(len(numbering), params.drift_hold_s)
        self.peers = PeerMedian(len(numbering))
        # per gauge, the last time the city's median rain rate was above 0 as it saw it
        # (the flood rules ask whether the city has been dry: :meth:`dry_since`)
        self.wet_t = np.full(len(numbering), -np.inf)
        self.known_t = np.full(len(numbering), -np.inf)  # ... and known at all

    def dry_since(self, t: float, fresh_s: float = 900.0) -> float | None:
        """Since when the city's rain gauges have read dry (their median 0), as of ``t``;
        -inf if never wet since the state began; None if not known: no median within
        ``fresh_s`` of ``t`` (fewer than three gauges reporting, or none at all)."""
        if not self.known_t.size or float(self.known_t.max()) < t - fresh_s:
            return None
        return float(self.wet_t.max())

    def state(self) -> dict[str, np.ndarray[Any, Any]]:
        out = {f"{name}_{k}": getattr(s, k)
               for name, s in (("heavy_rain", self.heavy_rain), ("drift", self.drift))
               for k in ("last_t", "since", "active", "start")}
        return out | {f"peers_{k}": v for k, v in self.peers.state().items()} \
            | {"wet_t": self.wet_t, "known_t": self.known_t}

    def step(self, cols: Columns) -> Output:
        rate = cols.get("rainRate")
        classes = rain_class(rate, self.heavy[cols.dev], self.very_heavy[cols.dev])
        before = self.heavy_rain.active.copy()
        on = classes >= _HEAVY
        off = (classes >= 0) & (classes <= _LIGHT)
        active, start, _ = self.heavy_rain.update(cols.dev, cols.t, on, off)
        events = self.episodes_of("heavy_rain", cols, active, start, before, "warning",
                                  {"rain_mm_h": rate})
        city = self.peers.update(cols.dev, cols.t, rate)
        with np.errstate(invalid="ignore"):
            wet = city > 0
        known = ~np.isnan(city)
        np.maximum.at(self.wet_t, cols.dev[wet], cols.t[wet])
        np.maximum.at(self.known_t, cols.dev[known], cols.t[known])
        with np.errstate(invalid="ignore"):
            wet_alone = (city == 0) & (rate >= self.params.drift_rain_mm_h)
        drift_before = self.drift.active.copy()
        active, start, _ = self.drift.update(cols.dev, cols.t, wet_alone, rate == 0)
        events += self.episodes_of("drift", cols, active, start, drift_before, "warning",
                                   {"rain_mm_h": rate, "neighbours_mm_h": city})
        points = build_points("rain_state", self.row_tags(cols), cols.time_ns.tolist(),
                              rain_columns(classes))
        return points, events
