"""A sensor's history for the sensor page: which series its domain has, how finely to
read them, downsampling, the chart and the CSV. Pure (no Dash, no I/O).

A year of 1-minute readings is 525,600 points per field; a browser draws about 2,000 per
trace as well as all of them. So a range is read raw when the sensor's interval says it
holds at most :data:`RAW_MAX` points, else as window means (the store's ``window_s``,
about :data:`WINDOWS_TARGET` windows: "1-h mean"); either way it is then thinned with
tsdownsample's MinMax-LTTB, which keeps each stretch's extremes (a flood peak is never
smoothed away), the first and the last point.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from tsdownsample import MinMaxLTTBDownsampler

from cityhub.config.pack import AnySensor, FloodSensor, TrafficSensor
from cityhub.fields import DOMAINS, Domain, Kind
from dashboards.i18n import Lang
from dashboards.wording import COLOURS

__all__ = [
    "DERIVED",
    "N_OUT",
    "RAW_MAX",
    "WINDOWS",
    "WINDOWS_TARGET",
    "Band",
    "Series",
    "SeriesSpec",
    "bands_of",
    "choose_window",
    "csv_text",
    "downsample",
    "history_figure",
    "local_times",
    "series_of",
    "siaga_bands",
    "to_arrays",
    "window_label",
    "zoom_of",
]

#: points per trace the chart gets
N_OUT = 2000
#: read raw up to this many points (expected from the sensor's interval)
RAW_MAX = 100_000
#: else about this many window means
WINDOWS_TARGET = 10_000
#: the window lengths offered, seconds
WINDOWS = (60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
_NS = 1_000_000_000
_MINMAX_LTTB = MinMaxLTTBDownsampler()  # type: ignore[no-untyped-call]

Times = npt.NDArray[np.int64]
Values = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """One numeric series of a sensor: a measurement's field, and its unit."""

    measurement: str
    field: str
    unit: str | None
    derived: bool = False

    @property
    def key(self) -> str:
        return self.field if not self.derived else f"{self.measurement}.{self.field}"


#: The analytics' numeric derived series per domain (docs/protocol.md, "Derived series").
DERIVED: dict[str, tuple[SeriesSpec, ...]] = {
    "traffic": (SeriesSpec("traffic_state", "tti", None, True),),
    "flood": (SeriesSpec("flood_state", "siaga", None, True),
              SeriesSpec("flood_state", "rise_m_per_h", "m/h", True)),
    "lighting": (SeriesSpec("light_state", "sun_elevation", "°", True),),
    "rain": (),
}


def series_of(domain: str) -> tuple[SeriesSpec, ...]:
    """Every numeric field of ``domain``'s readings, then its derived series."""
    readings = tuple(SeriesSpec(domain, f.name, f.unit)
                     for f in DOMAINS[Domain(domain)].values() if f.kind is Kind.NUMBER)
    return readings + DERIVED[domain]


def choose_window(span_s: float, interval_s: float, *, raw_max: int = RAW_MAX,
                  target: int = WINDOWS_TARGET) -> float | None:
    """None (read raw) when a range of ``span_s`` holds at most ``raw_max`` readings
    ``interval_s`` apart, else the shortest window of :data:`WINDOWS` that gives at most
    about ``target`` means."""
    if span_s / max(interval_s, 1e-3) <= raw_max:
        return None
    for w in WINDOWS:
        if span_s / w <= target:
            return float(w)
    return float(WINDOWS[-1])


def window_label(lang: Lang, window_s: float | None) -> str:
    """"raw", "1-min mean", "3-h mean", "1-d mean"."""
    _ = lang.gettext
    if window_s is None:
        return _("raw")
    if window_s % 86400 == 0:
        return _("{n}-d mean", n=lang.number(window_s / 86400))
    if window_s % 3600 == 0:
        return _("{n}-h mean", n=lang.number(window_s / 3600))
    if window_s % 60 == 0:
        return _("{n}-min mean", n=lang.number(window_s / 60))
    return _("{n}-s mean", n=lang.number(window_s))


def to_arrays(rows: Sequence[tuple[int, float]]) -> tuple[Times, Values]:
    """The store's (time_ns, value) rows as two arrays (times exactly, as int64)."""
    if not rows:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    a = np.array(rows, dtype=[("t", np.int64), ("v", np.float64)])
    return np.ascontiguousarray(a["t"]), np.ascontiguousarray(a["v"])


def downsample(t: Times, v: Values, n_out: int = N_OUT) -> tuple[Times, Values]:
    """At most ``n_out`` of the points (MinMax-LTTB): the first and the last, and each
    bucket's extremes, so the global minimum and maximum stay. NaNs are dropped first."""
    keep = ~np.isnan(v)
    if not keep.all():
        t, v = t[keep], v[keep]
    if len(t) <= n_out:
        return t, v
    idx = _MINMAX_LTTB.downsample(t, v, n_out=max(n_out, 4)).astype(np.int64)
    return t[idx], v[idx]


@dataclass(frozen=True, slots=True)
class Series:
    """One series as the chart gets it."""

    spec: SeriesSpec
    t: Times
    v: Values
    #: how many points were read (before downsampling)
    read: int
    window_s: float | None


def local_times(t_ns: Times, tz: str) -> npt.NDArray[np.datetime64]:
    """Times as the city's wall-clock time (Plotly draws dates without a timezone)."""
    if len(t_ns) == 0:
        return np.empty(0, "datetime64[ms]")
    zone = ZoneInfo(tz)

    def offset_ns(ns: int) -> int:
        off = dt.datetime.fromtimestamp(ns / _NS, zone).utcoffset()
        return int(off.total_seconds() * _NS) if off else 0

    first, last = offset_ns(int(t_ns[0])), offset_ns(int(t_ns[-1]))
    if first == last:  # no change of offset in range (always so where there is no DST)
        shifted = t_ns + first
    else:
        shifted = np.array([ns + offset_ns(int(ns)) for ns in t_ns], np.int64)
    return shifted.astype("datetime64[ns]").astype("datetime64[ms]")


@dataclass(frozen=True, slots=True)
class Band:
    """A horizontal band on one series' panel (a Siaga level), or a line when
    ``y1`` is None (the free-flow speed)."""

    key: str
    y0: float
    y1: float | None
    colour: str
    text: str


def history_figure(series: Sequence[Series], lang: Lang, *,
                   bands: Sequence[Band] = (), names: Mapping[str, str] | None = None,
                   x_range: tuple[int, int] | None = None, revision: str = "") -> go.Figure:
    """One panel per series that has points (readings first, then derived series),
    sharing the time axis; ``bands`` on their series' panel. ``names``: a series key ->
    its label. With no points at all, an empty chart that says so."""
    _ = lang.gettext
    shown = [s for s in series if len(s.t)]
    if not shown:
        fig = go.Figure()
        fig.add_annotation(text=_("No data in this range"), showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5, font={"size": 20})
        fig.update_layout(xaxis={"visible": False}, yaxis={"visible": False}, height=260)
        return _dark(fig, revision)
    titles = []
    for s in shown:
        name = (names or {}).get(s.spec.key, s.spec.key)
        unit = f" ({s.spec.unit})" if s.spec.unit and s.spec.unit != "/" else ""
        titles.append(f"{name}{unit} · {window_label(lang, s.window_s)}")
    fig = make_subplots(rows=len(shown), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=titles)
    palette = ("#38bdf8", "#a78bfa", "#34d399", "#f472b6", "#fbbf24", "#f87171")
    row_of: dict[str, int] = {}
    for i, s in enumerate(shown, start=1):
        row_of[s.spec.key] = i
        fig.add_trace(go.Scatter(
            x=local_times(s.t, lang.timezone), y=s.v, mode="lines",
            name=(names or {}).get(s.spec.key, s.spec.key),
            line={"color": palette[(i - 1) % len(palette)], "width": 1.5},
            hovertemplate="%{x|%d %b %Y %H:%M:%S}<br>%{y}<extra></extra>"), row=i, col=1)
    for b in bands:
        row = row_of.get(b.key)
        if row is None:
            continue
        if b.y1 is None:
            fig.add_hline(y=b.y0, row=row, col=1, line={"color": b.colour, "dash": "dash"},
                          annotation_text=b.text, annotation_position="top left")
        else:
            fig.add_hrect(y0=b.y0, y1=b.y1, row=row, col=1, fillcolor=b.colour,
                          opacity=0.18, line_width=0, annotation_text=b.text,
                          annotation_position="top left", layer="below")
    fig.update_layout(height=max(260, 210 * len(shown) + 40), showlegend=False)
    if x_range is not None:
        start, stop = local_times(np.array(x_range, np.int64), lang.timezone)
        fig.update_xaxes(range=[str(start), str(stop)])
    return _dark(fig, revision)


def _dark(fig: go.Figure, revision: str) -> go.Figure:
    fig.update_layout(paper_bgcolor="#0b1220", plot_bgcolor="#111827",
                      font={"color": "#e5e7eb", "size": 14}, uirevision=revision,
                      margin={"l": 60, "r": 20, "t": 40, "b": 40})
    fig.update_xaxes(gridcolor="#1f2937")
    fig.update_yaxes(gridcolor="#1f2937")
    return fig


def siaga_bands(siaga_3: float, siaga_2: float, siaga_1: float, top: float,
                key: str = "currentLevel") -> list[Band]:
    """The Siaga III, II and I bands of a gauge's level panel, I up to ``top``."""
    return [Band(key, siaga_3, siaga_2, COLOURS["siaga_3"], "Siaga III"),
            Band(key, siaga_2, siaga_1, COLOURS["siaga_2"], "Siaga II"),
            Band(key, siaga_1, max(top, siaga_1 + (siaga_1 - siaga_2)),
                 COLOURS["siaga_1"], "Siaga I")]


def bands_of(sensor: AnySensor, series: Sequence[Series], lang: Lang) -> list[Band]:
    """A gauge's Siaga bands (up to its highest level shown); a road's free-flow speed."""
    if isinstance(sensor, FloodSensor):
        t = sensor.thresholds
        levels = [float(s.v.max()) for s in series
                  if s.spec.key == "currentLevel" and len(s.v)]
        return siaga_bands(t.siaga_3, t.siaga_2, t.siaga_1, max(levels, default=0.0))
    if isinstance(sensor, TrafficSensor):
        ffs = sensor.thresholds.free_flow_speed
        return [Band("averageVehicleSpeed", ffs, None, "#94a3b8", lang.gettext(
            "free-flow speed {speed} km/h", speed=lang.number(ffs)))]
    return []


def csv_text(columns: Mapping[str, Sequence[tuple[int, float]]], tz: str) -> str:
    """Raw readings as CSV: a ``time`` column (ISO 8601 in the city's offset) and one
    column per field; a row per time any field has, empty where a field has none."""
    zone = ZoneInfo(tz)
    names = list(columns)
    rows: dict[int, dict[str, float]] = {}
    for name, points in columns.items():
        for t, v in points:
            rows.setdefault(t, {})[name] = v
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["time", *names])
    for t in sorted(rows):
        when = dt.datetime.fromtimestamp(t // _NS, zone) + dt.timedelta(
            microseconds=(t % _NS) // 1000)
        stamp = when.isoformat(timespec="seconds" if t % _NS == 0 else "milliseconds")
        values: list[Any] = [repr(rows[t][n]) if n in rows[t] else "" for n in names]
        w.writerow([stamp, *values])
    return out.getvalue()


_RANGE_KEY = re.compile(r"^xaxis\d*\.range(\[[01]\])?$")
_AUTO_KEY = re.compile(r"^xaxis\d*\.autorange$")


def zoom_of(relayout: Mapping[str, Any] | None, tz: str) -> tuple[int, int] | None:
    """The time range (ns) a chart was zoomed to, from Plotly's ``relayoutData``
    (its x-axis range as the city's wall-clock times), or None when it was not zoomed
    (autorange, a resize, nothing)."""
    if not relayout or any(_AUTO_KEY.match(k) for k in relayout):
        return None
    ends: dict[int, object] = {}
    for key, value in relayout.items():
        m = _RANGE_KEY.match(key)
        if not m:
            continue
        if m.group(1):
            ends[int(m.group(1)[1])] = value
        elif isinstance(value, list | tuple) and len(value) == 2:
            ends = {0: value[0], 1: value[1]}
    if set(ends) != {0, 1}:
        return None
    try:
        zone = ZoneInfo(tz)
        t0, t1 = (dt.datetime.fromisoformat(str(ends[i])).replace(tzinfo=zone).timestamp()
                  for i in (0, 1))
    except ValueError:
        return None
    return (int(t0 * _NS), int(t1 * _NS)) if t1 > t0 else None
