"""Traffic, live: travel-time index, level of service, congestion with hysteresis
(``congestion`` episodes), incidents against the seasonal baseline (``incident``
episodes), and an unusual flow (``anomaly`` episodes: vehicles per minute far from what
is normal for the slot of the week, for half an hour: an event's crowd, a closed road
nearby, a detector counting double), and a sensor drifting off its neighbours (``drift``
episodes); derived points in ``traffic_state``.

Congestion is decided on the TTI of the speed smoothed per device (an exponentially
weighted mean, ``congestion_smoothing``): a single slow or fast vehicle platoon moves one
reading's speed by a fifth, which would open and close a congestion every few minutes on
a road at its peak; the derived ``tti`` and ``los`` stay those of each reading.

Drift: a sensor's speed against its normal for the slot of the week, relative to its
corridor's (the city's where the pack names no corridor of it, or too few of its
corridor's sensors report), is the same ratio incidents are told on. Its median over
``drift_window_s`` (:class:`~analytics.live.levels.WindowMedian`, 6 h) sits near 1 on a
healthy sensor, whatever the weather or the hour: an incident or a short stuck spell
moves it little, since each lasts well under half the window. A median at least
``drift_traffic_ratio`` (0.2) off 1, in either direction, for ``drift_hold_s`` (2 h),
opens a ``drift``: a radar knocked out of alignment, a loop detector's failing
insulation, a camera's moved field of view; it closes once the median is back within
half that. While it drifts (or is stuck), a sensor tells no incident or unusual flow.
Readings flagged ``stuck`` are not learnt into the seasonal baselines; a drifting
sensor's are: a drift is found hours after it began, so its week is partly learnt
anyway, and a sensor judged drifting by mistake must not stop learning the normal that
would clear it (the baselines' median over weeks outvotes one bad week once three or
more are kept; until then a drift can echo a week later at the same hours).
Readings the quality rules flag ``stuck``, and those with no neighbours' median, count
for nothing in the window. A sensor needs the seasonal baseline of its slots (as
incidents do) before it can be judged; a long roadwork at one sensor reads as drift
too, which the event's detail (its ratio to its neighbours) lets an engineer tell."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from analytics.derived import build_points, traffic_columns
from analytics.incidents import Sustained, incident_conditions
from analytics.live.columns import Columns, Numbering
from analytics.live.detector import Detector, Output, utc_offset_s
from analytics.live.events import Episodes, Event
from analytics.live.levels import WindowMedian
from analytics.live.peers import PeerMedian
from analytics.seasonal import SeasonalBaseline
from analytics.settings import DetectionSettings
from analytics.streaming import StreamState
from analytics.traffic import congestion, level_of_service, travel_time_index
from cityhub.config.pack import CityPack, TrafficSensor

__all__ = ["TrafficDetector"]


class TrafficDetector(Detector):
    def __init__(self, pack: CityPack, numbering: Numbering, params: DetectionSettings,
                 episodes: Episodes) -> None:
        super().__init__(pack, numbering, params, episodes)
        n = len(numbering)
        self.free_flow = np.array([s.thresholds.free_flow_speed for s in self.sensors
                                   if isinstance(s, TrafficSensor)], dtype=np.float64)
        self.smooth = StreamState(n, alpha=params.congestion_smoothing)
        self.jam = np.zeros(n, dtype=np.bool_)
        self.jam_since = np.full(n, np.nan)
        offset = utc_offset_s(pack)
        self.speed_base, self.occupancy_base, self.flow_base = (
            SeasonalBaseline(n, offset, params.baseline_weeks, params.baseline_min_weeks,
                             params.baseline_slot_s) for _ in range(3))
        self.anomaly = Sustained(n, params.anomaly_hold_s)
        self.incident = Sustained(n, params.incident_hold_s)
        corridor = {d: k for k, c in enumerate(pack.corridors) for d in c.sensors}
        self.peers = PeerMedian(n, groups=np.array(
            [corridor.get(d, -1) for d in numbering.names], dtype=np.int64))
        self.relative = WindowMedian(n, params.drift_window_s)
        self.drift = Sustained(n, params.drift_hold_s)

    def state(self) -> dict[str, np.ndarray[Any, Any]]:
        out: dict[str, np.ndarray[Any, Any]] = {"jam": self.jam, "jam_since": self.jam_since}
        out |= {f"smooth_{k}": v for k, v in self.smooth.arrays().items()}
        for name, base in (("speed", self.speed_base), ("occupancy", self.occupancy_base),
                           ("flow", self.flow_base)):
            out |= {f"{name}_{k}": getattr(base, k)
                    for k in ("sums", "counts", "week_of", "last_t")}
        out |= {f"{name}_{k}": getattr(tracker, k)
                for name, tracker in (("incident", self.incident), ("anomaly", self.anomaly),
                                      ("drift", self.drift))
                for k in ("last_t", "since", "active", "start")}
        out |= {f"peers_{k}": v for k, v in self.peers.state().items()}
        out |= {f"relative_{k}": v for k, v in self.relative.state().items()}
        return out

    def step(self, cols: Columns) -> Output:
        p = self.params
        speed, occ = cols.get("averageVehicleSpeed"), cols.get("occupancy")
        ff = self.free_flow[cols.dev]
        tti = travel_time_index(speed, ff)
        los = level_of_service(speed, ff)
        smoothed = np.empty(len(cols))
        self.smooth.update(cols.dev, cols.t, speed, means=smoothed)
        jam_before = self.jam.copy()
        jam = congestion(cols.dev, travel_time_index(smoothed, ff), self.jam,
                         on=p.congestion_on, off=p.congestion_off)
        # the congestion's start: the reading whose TTI switched it on
        since = np.empty(len(cols))
        for i, (d, on) in enumerate(zip(cols.dev.tolist(), jam.tolist(), strict=True)):
            prev = jam_before[d] if i == 0 or cols.dev[i - 1] != d else jam[i - 1]
            if on and not prev:
                self.jam_since[d] = cols.t[i]
            since[i] = self.jam_since[d]
        # a stuck sensor is judged, not learnt from (its frozen values would become a later
        # week's normal)
        stuck = cols.flag("stuck")
        speed_score, speed_norm, _ = self.speed_base.update(cols.dev, cols.t, speed, ~stuck)
        occ_score, occ_norm, _ = self.occupancy_base.update(cols.dev, cols.t, occ, ~stuck)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(speed_norm > 0, speed / speed_norm, np.nan)
            city = self.peers.update(cols.dev, cols.t, ratio)
            unknown = np.isnan(city) | (city <= 0)
            # against its corridor's (or the city's) own slowdown (rain, a holiday)
            local = np.where(unknown, ratio, ratio / city)
            busier = np.where(occ_norm > 0, occ / occ_norm, np.nan)
        # drift first: stuck or drifting as of each reading (not as of the batch's start,
        # so the events do not depend on how the stream was cut into batches), a sensor
        # tells no incident or unusual flow
        events, drifting = self._drift(cols, np.where(unknown, np.nan, local), speed,
                                       speed_norm)
        suspect = stuck | drifting
        on, off = incident_conditions(speed_score, occ_score, local, z_on=p.incident_z_on,
                                      z_off=p.incident_z_off, min_drop=p.incident_min_drop,
                                      occupancy_ratio=busier, min_rise=p.incident_min_rise)
        on &= ~suspect  # a frozen sensor's old rush hour, a drifting one's speed: none
        incident_before = self.incident.active.copy()
        incident, start, _ = self.incident.update(cols.dev, cols.t, on, off)
        events += self.episodes_of(
            "congestion", cols, jam, since, jam_before, "warning",
            {"tti": tti, "speed_kmh": speed})
        events += self.episodes_of(
            "incident", cols, incident, start, incident_before, "critical",
            {"speed_kmh": speed, "normal_speed_kmh": speed_norm, "speed_score": speed_score,
             "occupancy": occ, "normal_occupancy": occ_norm, "occupancy_score": occ_score,
             "neighbours_speed_ratio": city})
        events += self._anomalies(cols, stuck, suspect)
        columns = traffic_columns(tti, los, jam, incident=[
            bool(x) if not np.isnan(s) else None
            for x, s in zip(incident.tolist(), speed.tolist(), strict=True)])
        points = build_points("traffic_state", self.row_tags(cols), cols.time_ns.tolist(),
                              columns)
        return points, events

    def _drift(self, cols: Columns, relative: Any, speed: Any, normal: Any
               ) -> tuple[list[Event], npt.NDArray[np.bool_]]:
        """``drift`` episodes (the module's docstring), and whether the sensor drifts as
        of each reading; ``relative``: per reading, its speed ratio over its neighbours'
        (NaN where they gave none)."""
        limit = self.params.drift_traffic_ratio
        median = self.relative.update(cols.dev, cols.t,
                                      np.where(cols.flag("stuck"), np.nan, relative))
        with np.errstate(invalid="ignore"):
            off_by = np.abs(median - 1)
            on, off = off_by >= limit, off_by < limit / 2
        before = self.drift.active.copy()
        active, start, _ = self.drift.update(cols.dev, cols.t, on, off)
        return self.episodes_of(
            "drift", cols, active, start, before, "warning",
            {"ratio_to_neighbours": median, "speed_kmh": speed, "normal_speed_kmh": normal,
             "window_h": np.full(len(cols), self.params.drift_window_s / 3600)}), active

    def _anomalies(self, cols: Columns, stuck: Any, suspect: Any) -> list[Event]:
        """``anomaly`` episodes: the flow far from its normal for the slot, held;
        ``stuck``, ``suspect``: the readings of a sensor stuck, and stuck or drifting."""
        p = self.params
        flow = cols.get("intensity")
        score, norm, _ = self.flow_base.update(cols.dev, cols.t, flow, ~stuck)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = flow / norm
            far = (np.abs(flow - norm) >= p.anomaly_min_flow) & (np.abs(score) >= p.anomaly_z)
            on = far & ((ratio >= 1 + p.anomaly_change) | (ratio <= 1 / (1 + p.anomaly_change)))
            on &= ~suspect
            near = (ratio < 1 + p.anomaly_change / 2) & (ratio > 1 / (1 + p.anomaly_change / 2))
            off = ~np.isnan(ratio) & near & ~on
        before = self.anomaly.active.copy()
        active, start, _ = self.anomaly.update(cols.dev, cols.t, on, off)
        return self.episodes_of("anomaly", cols, active, start, before, "info",
                                {"flow_per_min": flow, "normal_flow_per_min": norm,
                                 "flow_score": score})
