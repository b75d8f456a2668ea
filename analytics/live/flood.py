"""Flood, live: Siaga level per reading (``siaga_change`` events), rate of rise over a
trailing window, time to the next level, and forecasts downstream along the pack's river
links when an upstream gauge reaches a more severe level (``flood_eta`` events); derived
points in ``flood_state``. A link between two gauges may have its travel range narrowed
to what the history shows (:meth:`FloodDetector.refine`, which the service calls with
:func:`analytics.rivers.refined_travel`'s answer).

``drift`` episodes: a gauge whose level rose at least ``drift_flood_m`` over
``drift_window_s`` while every gauge linked to it by the pack's rivers (upstream or
downstream) rose less than a third of that, and the city's rain gauges have read dry for
as long (:meth:`analytics.live.rain.RainDetector.dry_since`), once that has held for
``drift_hold_s``: water does not rise at one gauge of a river alone in dry weather, a
drifting or fouled sensor does. Closed when its rise falls under a third of
``drift_flood_m``, or rain or its neighbours' rise leave it unclear. A gauge with no
linked gauge, or a city without rain gauges, is not judged.

A level is raised at the first reading at or over its threshold, and lowered only once
the water is ``siaga_clear_m`` under it: a river lapping at a threshold (a few millimetres
of gauge noise) would otherwise call out a change every other minute."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from analytics.derived import build_points, flood_columns
from analytics.flood import RiseStream, downstream_eta, siaga
from analytics.incidents import Sustained
from analytics.live.columns import Columns, Numbering
from analytics.live.detector import Detector, Output
from analytics.live.events import Episodes, Event, iso
from analytics.live.levels import WindowChange
from analytics.settings import DetectionSettings
from cityhub.config.pack import CityPack, FloodSensor

__all__ = ["FloodDetector", "RainSense", "siaga_severity"]


class RainSense(Protocol):
    """What the flood rules ask the rain rules (:class:`~analytics.live.rain.RainDetector`)."""

    def dry_since(self, t: float, fresh_s: float = ...) -> float | None: ...


def siaga_severity(code: int) -> str:
    """Siaga I: critical; II: warning; III and IV: info."""
    return {1: "critical", 2: "warning"}.get(code, "info")


class FloodDetector(Detector):
    def __init__(self, pack: CityPack, numbering: Numbering, params: DetectionSettings,
                 episodes: Episodes) -> None:
        super().__init__(pack, numbering, params, episodes)
        n = len(numbering)
        self.th = [s.thresholds for s in self.sensors if isinstance(s, FloodSensor)]
        self.levels = np.array([(t.siaga_3, t.siaga_2, t.siaga_1) for t in self.th],
                               dtype=np.float64).reshape(n, 3)
        self.code = np.zeros(n, dtype=np.int8)  # 0: no level known yet
        self.rise = RiseStream(n, window_s=params.rise_window_s, points=params.rise_points)
        self.links: dict[str, list[tuple[str, str, tuple[float, float]]]] = {}
        for river in pack.rivers:
            names = {p.id: p.name for p in river.forecast_points}
            for link in river.links:
                self.links.setdefault(link.upstream, []).append(
                    (link.downstream, names.get(link.downstream, link.downstream),
                     link.travel_h))
        # (upstream, downstream) -> (travel range used, the history's lag h, correlation)
        self.refined: dict[tuple[str, str], tuple[tuple[float, float], float, float]] = {}
        # drift: each gauge's river neighbours (by index), its rise over the window
        index = {name: k for k, name in enumerate(numbering.names)}
        self.neighbours: list[list[int]] = [[] for _ in range(n)]
        for river in pack.rivers:
            for link in river.links:
                up, down = index.get(link.upstream), index.get(link.downstream)
                if up is not None and down is not None:
                    self.neighbours[up].append(down)
                    self.neighbours[down].append(up)
        self.change = WindowChange(n, params.drift_window_s)
        self.drift = Sustained(n, params.drift_hold_s)
        self.rain: RainSense | None = None  # the engine wires the rain rules in

    def refine(self, upstream: str, downstream: str,
               refined: tuple[tuple[float, float], float, float] | None) -> None:
        """Use ``refined`` ((travel range, lag h, correlation)) for the link's forecasts,
        or the pack's range again (None)."""
        if refined is None:
            self.refined.pop((upstream, downstream), None)
        else:
            self.refined[(upstream, downstream)] = refined

    def state(self) -> dict[str, np.ndarray[Any, Any]]:
        return {"code": self.code, "rise_t": self.rise.buf_t, "rise_y": self.rise.buf_y,
                **{f"change_{k}": v for k, v in self.change.state().items()},
                **{f"drift_{k}": getattr(self.drift, k)
                   for k in ("last_t", "since", "active", "start")}}

    def step(self, cols: Columns) -> Output:
        level = cols.get("currentLevel")
        lv = self.levels[cols.dev]
        raw = siaga(level, lv[:, 0], lv[:, 1], lv[:, 2])
        codes = raw.copy()
        rise = self.rise.update(cols.dev, cols.t, level)
        events: list[Event] = []
        for d, a, b in cols.groups():
            for i in range(a, b):
                codes[i] = self._held(d, int(raw[i]), float(level[i]))
                events += self._change(d, i, cols, int(codes[i]), float(level[i]),
                                       float(rise[i]))
        events += self._drift(cols, level)
        points: list[Any] = []
        tags = self.row_tags(cols)
        for d, a, b in cols.groups():
            points += build_points("flood_state", tags[a:b], cols.time_ns[a:b].tolist(),
                                   flood_columns(codes[a:b], level[a:b], rise[a:b],
                                                 self.th[d]))
        return points, events

    def _drift(self, cols: Columns, level: Any) -> list[Event]:
        """``drift`` episodes (the module's docstring)."""
        change = self.change.update(cols.dev, cols.t, level)
        m, window = self.params.drift_flood_m, self.params.drift_window_s
        n = len(cols)
        neighbours = np.full(n, np.nan)
        dry = np.zeros(n, dtype=np.bool_)
        wet = np.zeros(n, dtype=np.bool_)
        for i, d in enumerate(cols.dev.tolist()):
            t = float(cols.t[i])
            near = self.neighbours[d]
            if near and (self.change.last_t[near] >= t - window / 4).all():
                neighbours[i] = float(np.max(self.change.last[near]))  # NaN if one is
            since = self.rain.dry_since(t) if self.rain is not None else None
            if since is not None:
                dry[i] = t - since >= window
                wet[i] = not dry[i]
        with np.errstate(invalid="ignore"):
            on = (change >= m) & (neighbours < m / 3) & dry
            off = ~on & ((change < m / 3) | wet | (neighbours >= m / 3))
        before = self.drift.active.copy()
        active, start, _ = self.drift.update(cols.dev, cols.t, on, off)
        return self.episodes_of("drift", cols, active, start, before, "warning",
                                {"rise_m": change, "neighbours_rise_m": neighbours,
                                 "window_h": np.full(n, window / 3600)})

    def _held(self, d: int, code: int, level: float) -> int:
        """The level after this reading: a less severe one only once the water is
        ``siaga_clear_m`` under the current level's threshold."""
        now = int(self.code[d])
        if code == 0 or now == 0 or code <= now or now == 4:
            return code
        threshold = self.levels[d, 3 - now]  # siaga_3, _2, _1 for levels 3, 2, 1
        return code if level < threshold - self.params.siaga_clear_m else now

    def _change(self, d: int, i: int, cols: Columns, code: int, level: float,
                rise: float) -> list[Event]:
        """A ``siaga_change`` when the gauge's level changed (not for its first reading),
        and a ``flood_eta`` per river link downstream when it became more severe."""
        before = int(self.code[d])
        if code == 0 or code == before:
            return []
        self.code[d] = code
        if before == 0:
            return []
        device, t_ns = self.numbering.names[d], int(cols.time_ns[i])
        detail = {"from": before, "to": code, "level_m": round(level, 4),
                  "rise_m_per_h": None if np.isnan(rise) else round(rise, 4)}
        out = [self.episodes.point("siaga_change", device, t_ns, t_ns, siaga_severity(code),
                                   detail)]
        if code < before:
            for target, name, pack_travel in self.links.get(device, []):
                refined = self.refined.get((device, target))
                travel = refined[0] if refined else pack_travel
                lo, hi = downstream_eta([cols.t[i]], travel)
                why = {} if refined is None else {
                    "travel_h_pack": list(pack_travel), "lag_h": round(refined[1], 3),
                    "lag_correlation": round(refined[2], 3)}
                out.append(self.episodes.point(
                    "flood_eta", device, t_ns, t_ns, siaga_severity(code),
                    {**detail, "downstream": target, "downstream_name": name,
                     "travel_h": list(travel), **why,
                     "expected_from": iso(int(lo[0] * 1e9)),
                     "expected_to": iso(int(hi[0] * 1e9))}, subject=target))
        return out
