"""Planning reports (the seed's e-Planning): per district, over a period, from the store.

For each sensor of the city pack, its readings of the period are read from the store (raw,
:meth:`~cityhub.store.base.Store.history`) and run through the kernels; each reading
stands for its sensor's sampling interval (``interval_s`` in the pack), so counts become
hours. Per district:

- **congestion hours** by weekday and hour of the day (local time): readings at level of
  service E or F (:func:`analytics.level_of_service`, the pack's free-flow speed);
- **flood hours at each Siaga level** (:func:`analytics.siaga`, each gauge's levels);
- **rain**: the sum of ``precipitation`` (mm since the previous reading);
- **street lighting**: the share of lamp readings flagged day-burning or dark-at-night
  (:func:`analytics.lamp_faults`, the sun at the city's coordinates) and the energy in kWh
  (:func:`analytics.energy_kwh` of ``activePower``);
- **completeness**: readings received against readings expected (period / interval).

Written as CSV files and one self-contained HTML page (plotly's script inline: it opens
offline). Local time is the city's UTC offset at the start of the period (Indonesia keeps
no daylight saving time).
"""

from __future__ import annotations

import csv
import datetime as dt
import html
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from analytics.flood import siaga
from analytics.history import Progress, period_ns, readings
from analytics.lighting import energy_kwh, lamp_faults, sun_elevation
from analytics.traffic import level_of_service
from cityhub.config.pack import (
    CityPack,
    FloodSensor,
    LightingSensor,
    RainSensor,
    TrafficSensor,
)
from cityhub.store.base import Store

__all__ = ["Report", "build_report", "write_report"]

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
CONGESTED_FROM = 4  # level of service E
SIAGA_COLOURS = {4: "#22c55e", 3: "#eab308", 2: "#f97316", 1: "#dc2626"}  # as the map


@dataclass
class Report:
    """What :func:`build_report` found, per district."""

    city: str  # its name, for people
    start: dt.datetime
    stop: dt.datetime
    congestion_h: dict[str, np.ndarray] = field(default_factory=dict)  # district: 7 x 24
    flood_h: dict[str, dict[int, float]] = field(default_factory=dict)  # Siaga 1..4: hours
    rain_mm: dict[str, float] = field(default_factory=dict)
    lamp_readings: dict[str, int] = field(default_factory=dict)
    lamp_faults: dict[str, int] = field(default_factory=dict)
    energy_kwh: dict[str, float] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)


async def build_report(pack: CityPack, store: Store, start: dt.datetime, stop: dt.datetime,
                       progress: Progress | None = None) -> Report:
    """Read the period's readings of every sensor of ``pack`` and sum them per district."""
    t0, t1 = period_ns(start, stop)
    tz = ZoneInfo(pack.city.timezone)
    offset = tz.utcoffset(start.astimezone(tz)) or dt.timedelta()
    seconds = (t1 - t0) / 1e9
    rep = Report(pack.city.name, start, stop)
    sensors = list(pack.sensors.items())
    for k, (device, (_gw, s)) in enumerate(sensors):
        district = pack.district_of[device]
        rep.expected[district] = rep.expected.get(district, 0) + int(seconds // s.interval_s)
        got = 0
        hours = s.interval_s / 3600.0

        async def read(measurement: str, name: str, device: str = device
                       ) -> tuple[np.ndarray, np.ndarray]:
            time_ns, values = await readings(store, measurement, device, name, t0, t1,
                                              city=pack.city.id)
            return time_ns / 1e9, values

        if isinstance(s, TrafficSensor):
            t, speed = await read("traffic", "averageVehicleSpeed")
            got = t.size
            los = level_of_service(speed, s.thresholds.free_flow_speed)
            local = t[los >= CONGESTED_FROM] + offset.total_seconds()
            grid = rep.congestion_h.setdefault(district, np.zeros((7, 24)))
            days = np.floor(local / 86400)
            np.add.at(grid, ((days.astype(np.int64) + 3) % 7,
                             ((local - days * 86400) // 3600).astype(np.int64)), hours)
        elif isinstance(s, FloodSensor):
            t, level = await read("flood", "currentLevel")
            got = t.size
            th = s.thresholds
            codes = siaga(level, th.siaga_3, th.siaga_2, th.siaga_1)
            by = rep.flood_h.setdefault(district, {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0})
            for code in (1, 2, 3, 4):
                by[code] += float(np.count_nonzero(codes == code)) * hours
        elif isinstance(s, RainSensor):
            t, mm = await read("rain", "precipitation")
            got = t.size
            rep.rain_mm[district] = rep.rain_mm.get(district, 0.0) + float(np.nansum(mm))
        elif isinstance(s, LightingSensor):
            t, power = await read("lighting", "activePower")
            got = t.size
            loc = s.location
            flags = lamp_faults(sun_elevation(loc.lat, loc.lon, t), power,
                                s.thresholds.rated_power, s.thresholds.switch_elevation)
            rep.lamp_readings[district] = rep.lamp_readings.get(district, 0) + int(t.size)
            rep.lamp_faults[district] = (rep.lamp_faults.get(district, 0)
                                         + int(np.count_nonzero(flags)))
            if t.size:
                kwh, _gaps = energy_kwh(t, power, max_gap_s=3 * s.interval_s)
                rep.energy_kwh[district] = rep.energy_kwh.get(district, 0.0) + kwh
        rep.received[district] = rep.received.get(district, 0) + got
        if progress is not None:
            progress(k + 1, len(sensors))
    return rep


def _rows(rep: Report) -> dict[str, tuple[list[str], list[list[object]]]]:
    """Each CSV file's header and rows."""
    districts = sorted(set(rep.expected))
    return {
        "congestion_hours.csv": (["district", "weekday", "hour", "hours"], [
            [d, WEEKDAYS[w], h, round(float(g[w, h]), 3)]
            for d, g in sorted(rep.congestion_h.items())
            for w in range(7) for h in range(24)]),
        "flood_hours.csv": (["district", "siaga", "hours"], [
            [d, lvl, round(by[lvl], 3)] for d, by in sorted(rep.flood_h.items())
            for lvl in (4, 3, 2, 1)]),
        "rain.csv": (["district", "mm"], [[d, round(v, 2)] for d, v in
                                          sorted(rep.rain_mm.items())]),
        "lighting.csv": (["district", "lamp_readings", "fault_readings", "fault_rate",
                          "energy_kwh"], [
            [d, n, rep.lamp_faults.get(d, 0), round(rep.lamp_faults.get(d, 0) / n, 4),
             round(rep.energy_kwh.get(d, 0.0), 3)]
            for d, n in sorted(rep.lamp_readings.items()) if n]),
        "completeness.csv": (["district", "expected", "received", "completeness"], [
            [d, rep.expected[d], rep.received.get(d, 0),
             round(rep.received.get(d, 0) / rep.expected[d], 4) if rep.expected[d] else ""]
            for d in districts]),
    }


def write_report(rep: Report, out: Path) -> list[Path]:
    """Write the CSV files and ``report.html`` into ``out``; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (header, rows) in _rows(rep).items():
        path = out / name
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
        written.append(path)
    page = out / "report.html"
    page.write_text(_html(rep), encoding="utf-8")
    written.append(page)
    return written


def _html(rep: Report) -> str:
    import plotly.graph_objects as go
    from plotly.offline import get_plotlyjs

    total = sum(rep.congestion_h.values(), np.zeros((7, 24)))
    figures = [
        ("Congestion hours (LOS E-F) by weekday and hour, the whole city",
         go.Figure(go.Heatmap(z=total, x=list(range(24)), y=list(WEEKDAYS),
                              colorscale="Reds"))),
        ("Congestion hours per district",
         go.Figure(go.Bar(x=sorted(rep.congestion_h),
                          y=[float(rep.congestion_h[d].sum()) for d in
                             sorted(rep.congestion_h)]))),
        ("Flood hours at each Siaga level per district", go.Figure([
            go.Bar(name=f"Siaga {['IV', 'III', 'II', 'I'][4 - lvl]}", x=sorted(rep.flood_h),
                   y=[rep.flood_h[d][lvl] for d in sorted(rep.flood_h)])
            for lvl in (4, 3, 2, 1)], layout={"barmode": "stack"})),
        ("Rain per district (mm)",
         go.Figure(go.Bar(x=sorted(rep.rain_mm), y=[rep.rain_mm[d]
                                                    for d in sorted(rep.rain_mm)]))),
        ("Street-lighting fault rate per district",
         go.Figure(go.Bar(x=sorted(rep.lamp_readings), y=[
             rep.lamp_faults.get(d, 0) / n if n else 0
             for d, n in sorted(rep.lamp_readings.items())]))),
        ("Data completeness per district",
         go.Figure(go.Bar(x=sorted(rep.expected), y=[
             rep.received.get(d, 0) / n if n else 0 for d, n in sorted(rep.expected.items())]))),
    ]
    parts = [f"<h2>{html.escape(title)}</h2>"
             + fig.to_html(full_html=False, include_plotlyjs=False) for title, fig in figures]
    return ("<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(rep.city)} planning report</title>"
            f"<script>{get_plotlyjs()}</script></head><body>"
            f"<h1>{html.escape(rep.city)}: {rep.start.date()} to {rep.stop.date()}</h1>"
            + "".join(parts) + "</body></html>")
