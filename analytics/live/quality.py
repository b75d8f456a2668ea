"""Data quality, live, for every sensor on its main reading (:data:`SOURCE_FIELD`):
``stuck`` episodes (``stuck_min_run`` identical readings in a row, until the value moves)
and ``gap`` events (an interval over ``gap_factor`` times the sensor's ``interval_s`` and
at least ``gap_min_s``); derived points in ``quality``, only for the readings flagged
(``stuck`` true, or ``gap_s``: the interval before the reading).

A sensor at rest repeats one value by design and is not stuck: a rain gauge's 0 (dry)
and a lamp's 0 W (switched off by day) never make a stuck run (:data:`AT_REST`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.derived import SOURCE_FIELD, build_points
from analytics.live.columns import Columns, Numbering
from analytics.live.detector import Detector, Output, ns
from analytics.live.events import Episodes
from analytics.quality import StuckRuns
from analytics.settings import DetectionSettings
from cityhub.config.pack import CityPack

__all__ = ["AT_REST", "QualityDetector"]

# The value a sensor of the domain repeats by design when nothing happens.
AT_REST = {"rain": 0.0, "lighting": 0.0}


class QualityDetector(Detector):
    def __init__(self, pack: CityPack, numbering: Numbering, params: DetectionSettings,
                 episodes: Episodes) -> None:
        super().__init__(pack, numbering, params, episodes)
        n = len(numbering)
        self.field = {SOURCE_FIELD[type(s)][1] for s in self.sensors}.pop() if n else ""
        domains = {s.domain.value for s in self.sensors}
        self.rest = AT_REST.get(domains.pop(), np.nan) if n else np.nan
        interval = np.array([s.interval_s for s in self.sensors], dtype=np.float64)
        self.gap_after = np.maximum(interval * params.gap_factor, params.gap_min_s)
        self.runs = StuckRuns(n)
        self.stuck = np.zeros(n, dtype=np.bool_)
        self.last_t = np.full(n, np.nan)
        self.stuck_rows = np.zeros(0, dtype=np.bool_)  # of the last batch, for the others

    def state(self) -> dict[str, np.ndarray[Any, Any]]:
        return {"stuck": self.stuck, "last_t": self.last_t, "runs_last_t": self.runs.last_t,
                "runs_last_v": self.runs.last_v, "runs_run": self.runs.run,
                "runs_since": self.runs.since}

    def step(self, cols: Columns) -> Output:
        value = cols.get(self.field)
        before = self.stuck.copy()
        run, since, _ = self.runs.update(cols.dev, cols.t, value)
        stuck = (run >= self.params.stuck_min_run) & (value != self.rest)
        self.stuck_rows = stuck
        for d, _a, b in cols.groups():
            self.stuck[d] = stuck[b - 1]
        events = self.episodes_of("stuck", cols, stuck, since, before, "warning",
                                  {"value": value, "readings": run})
        prev = np.empty(len(cols))
        prev[1:] = cols.t[:-1]
        for d, a, b in cols.groups():
            prev[a] = self.last_t[d]
            self.last_t[d] = cols.t[b - 1]
        gap = cols.t - prev
        flagged = np.nan_to_num(gap) > self.gap_after[cols.dev]
        names = self.numbering.names
        for i in np.flatnonzero(flagged).tolist():
            t_ns = int(cols.time_ns[i])
            events.append(self.episodes.point(
                "gap", names[int(cols.dev[i])], ns(float(prev[i])), t_ns, "info",
                {"seconds": round(float(gap[i]), 3),
                 "expected_interval_s": self.sensors[int(cols.dev[i])].interval_s}))
        rows = np.flatnonzero(stuck | flagged)
        tags = self.row_tags(cols)
        points = build_points(
            "quality", [tags[i] for i in rows.tolist()], cols.time_ns[rows].tolist(),
            {"stuck": [True if stuck[i] else None for i in rows.tolist()],
             "gap_s": [round(float(gap[i]), 3) if flagged[i] else None
                       for i in rows.tolist()]})
        return points, events



