"""Pure builders of the domain pages (traffic, flood, lighting): numbers, table rows and
Plotly figures from the city pack and the store's points. No Dash callbacks, no I/O, so
each is unit tested directly (``tests/dashboards/test_charts.py``).

- traffic: the district x hour-of-day heatmap of mean speed (:func:`hour_of_day_means`,
  :func:`heatmap_figure`), the corridors (:func:`corridor_groups`) and the table rows
  (:func:`traffic_rows`, current incidents first);
- flood: each gauge now (:func:`gauges_now`) against its Siaga bands
  (:func:`gauge_figure`), its level over the last hours (:func:`sparkline`), and the
  water's expected arrival downstream along the pack's river links
  (:func:`eta_window`, :func:`downstream_etas`);
- lighting: lamps per state and district (:func:`lamp_counts`, :func:`lamp_figure`),
  energy from power window means (:func:`energy_kwh`), dimming compliance
  (:func:`compliance`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import dash_ag_grid as dag
import plotly.graph_objects as go
from dash import dcc, html

from cityhub.config.pack import CityPack, FloodSensor
from cityhub.levels import number_field, siaga
from cityhub.store.base import Latest
from dashboards.i18n import Lang
from dashboards.ids import Ids
from dashboards.status import SensorState
from dashboards.wording import COLOURS, detail, label

__all__ = [
    "LAMP_KINDS", "PERIODS", "RISING_M_PER_H", "DownstreamEta", "Gauge", "compliance",
    "corridor_groups", "derived_of", "downstream_etas", "energy_kwh", "eta_window",
    "faulty_rows", "filters", "gauge_figure", "gauge_rows", "gauges_now", "grid", "heatmap_figure",
    "hour_of_day_means", "lamp_counts", "lamp_figure", "sensor_link", "sparkline",
    "traffic_rows",
]

_BG = "#111827"
_FONT = {"color": "#e5e7eb", "size": 14}
_GRID_THEME = ("themeQuartz.withParams({backgroundColor: '#111827', foregroundColor: "
               "'#e5e7eb', headerBackgroundColor: '#1f2937', borderColor: '#334155', "
               "fontSize: 15})")


def _dark(fig: go.Figure, **layout: Any) -> go.Figure:
    layout.setdefault("margin", {"l": 10, "r": 10, "t": 10, "b": 10})
    fig.update_layout(paper_bgcolor=_BG, plot_bgcolor=_BG, font=_FONT, **layout)
    return fig


def sensor_link(name: str, device: str) -> str:
    """A markdown link to the sensor's page (the grids render it): the name with no
    brackets, the id URL-quoted, so neither can make a link or an image of its own."""
    safe = name.replace("[", "(").replace("]", ")")
    return f"[{safe}](/sensor/{quote(device, safe='')})"


def grid(grid_id: str, columns: Sequence[tuple[str, str]], file_name: str, *,
         height_px: int = 420) -> dag.AgGrid:
    """A dark, sortable table: ``columns`` are (field, header) pairs; a field named
    ``sensor`` holds :func:`sensor_link` markdown, and each row an ``id`` (so a refresh
    updates rows in place). ``file_name`` names its CSV export."""
    defs: list[dict[str, Any]] = []
    for field, header in columns:
        col: dict[str, Any] = {"field": field, "headerName": header}
        if field == "sensor":
            col.update(cellRenderer="markdown", pinned="left", minWidth=180)
        defs.append(col)
    return dag.AgGrid(
        id=grid_id, rowData=[], columnDefs=defs, getRowId="params.data.id",
        columnSize="responsiveSizeToFit",
        defaultColDef={"sortable": True, "resizable": True, "filter": True},
        dashGridOptions={"theme": {"function": _GRID_THEME}, "animateRows": False},
        csvExportParams={"fileName": file_name}, style={"height": f"{height_px}px"})


#: The periods a page looks back over, in seconds.
PERIODS = {"24h": 86400, "7d": 7 * 86400}


def filters(L: Lang, ids: Ids, pack: CityPack, district: str | None,
            period: str | None) -> html.Div:
    """A page's district filter and period choice (ids ``<page>-district`` and
    ``<page>-period``; the page keeps both in its URL)."""
    _ = L.gettext
    return html.Div(className="overview-tools", style={
        "display": "flex", "gap": "24px", "alignItems": "center"}, children=[
        dcc.Dropdown(id=ids("district"), className="district-filter", clearable=True,
                     placeholder=_("All districts"), value=district,
                     style={"minWidth": "260px", "color": "#111827"},
                     options=[{"label": d.name, "value": d.id} for d in pack.districts]),
        dcc.RadioItems(id=ids("period"), value=period if period in PERIODS else "24h",
                       inline=True, inputStyle={"marginRight": "6px", "marginLeft": "14px"},
                       labelStyle={"color": "#e5e7eb"},
                       options=[{"label": _("last 24 hours"), "value": "24h"},
                                {"label": _("last 7 days"), "value": "7d"}]),
    ])


def derived_of(latest: Iterable[Latest], measurement: str) -> dict[str, Latest]:
    """The newest point of ``measurement`` (a reading or a derived series) per device."""
    return {row.device: row for row in latest if row.measurement == measurement}


# -- traffic --------------------------------------------------------------------------------


def hour_of_day_means(groups: Mapping[str, Iterable[tuple[int, float]]], timezone: str
                      ) -> dict[str, list[float | None]]:
    """Per group (a district): the mean of the window means (``(time_ns, mean)``, e.g.
    hourly, of all its sensors) that start in each hour of the day, 0..23, local time;
    None where no window does."""
    zone = ZoneInfo(timezone)
    out: dict[str, list[float | None]] = {}
    for key, windows in groups.items():
        sums, counts = [0.0] * 24, [0] * 24
        for t_ns, v in windows:
            hour = dt.datetime.fromtimestamp(t_ns / 1e9, zone).hour
            sums[hour] += v
            counts[hour] += 1
        out[key] = [s / c if c else None for s, c in zip(sums, counts, strict=True)]
    return out


def heatmap_figure(rows: Sequence[str], matrix: Sequence[Sequence[float | None]],
                   lang: Lang, *, unit: str = "km/h") -> go.Figure:
    """Rows (district names) x hours of the day, coloured by the mean (slow: red)."""
    hours = [f"{h:02d}" for h in range(24)]
    text = [["" if v is None else lang.number(v) for v in row] for row in matrix]
    fig = go.Figure(go.Heatmap(
        z=[list(r) for r in matrix], x=hours, y=list(rows), text=text,
        texttemplate="%{text}", colorscale="RdYlGn", zmin=0, hoverongaps=False,
        colorbar={"title": {"text": unit}},
        hovertemplate="%{y} %{x}h: %{text} " + unit + "<extra></extra>"))
    return _dark(fig, xaxis={"title": {"text": lang.gettext("hour of the day")},
                             "type": "category"},
                 yaxis={"autorange": "reversed"}, height=max(180, 60 + 42 * len(rows)))


def corridor_groups(pack: CityPack, district: str | None = None
                    ) -> list[tuple[str, list[str]]]:
    """The roads to show, each (name, traffic sensors in order): the pack's corridors,
    or, where it has none, the traffic sensors of each district. With ``district``, only
    the sensors there (and the groups that keep any)."""
    def keep(devices: Iterable[str]) -> list[str]:
        return [d for d in devices if not district or pack.district_of[d] == district]

    traffic = [d for d, (_, s) in pack.sensors.items() if s.domain.value == "traffic"]
    if pack.corridors:
        groups = [(c.name, keep(c.sensors)) for c in pack.corridors]
    else:
        groups = [(d.name, keep(x for x in traffic if pack.district_of[x] == d.id))
                  for d in pack.districts]
    return [(name, devices) for name, devices in groups if devices]


def traffic_rows(states: Sequence[SensorState], latest: Sequence[Latest], lang: Lang,
                 district_names: Mapping[str, str]) -> list[dict[str, Any]]:
    """One table row per traffic sensor: speed, flow, level of service, travel-time
    index, congested and incident flags; current incidents first, then the worst, the
    silent last."""
    _, n = lang.gettext, lang.number
    readings, derived = derived_of(latest, "traffic"), derived_of(latest, "traffic_state")
    rows: list[tuple[tuple[bool, int, bool, str], dict[str, Any]]] = []
    for s in states:
        if s.domain != "traffic":
            continue
        r, d = readings.get(s.id), derived.get(s.id)
        fields = dict(r.fields) if r else {}
        dfields = dict(d.fields) if d and r and d.time_ns >= r.time_ns else {}
        speed, flow, tti = (number_field(fields, "averageVehicleSpeed"),
                            number_field(fields, "intensity"), number_field(dfields, "tti"))
        incident = s.code == "incident"
        congested = dfields.get("congested")
        rows.append(((not incident, -s.severity, s.code in ("no_data", "offline"), s.name), {
            "sensor": sensor_link(s.name, s.id), "id": s.id,
            "district": district_names.get(s.district, s.district),
            "state": label(lang, s.code),
            "speed": "" if speed is None else n(speed),
            "flow": "" if flow is None else n(flow),
            "los": str(dfields.get("los") or (s.code[-1].upper()
                                              if s.code.startswith("los_") else "")),
            "tti": "" if tti is None else n(tti, 2),
            "congested": "" if congested is None else (_("yes") if congested else _("no")),
            "incident": _("yes") if incident else _("no"),
            "updated": lang.when(s.time_ns / 1e9) if s.time_ns else "",
        }))
    return [row for _order, row in sorted(rows, key=lambda r: r[0])]


# -- flood ----------------------------------------------------------------------------------

#: A gauge rises (and its links forecast downstream) from this rate on.
RISING_M_PER_H = 0.05


@dataclass(frozen=True, slots=True)
class Gauge:
    """A flood gauge now: its newest level and the analytics' view of it."""

    id: str
    name: str
    district: str
    siaga_3: float
    siaga_2: float
    siaga_1: float
    level_m: float | None
    time_s: float | None
    rise_m_per_h: float | None
    eta_next_level_s: float | None
    fresh: bool

    @property
    def siaga(self) -> int | None:
        """4 (normal) .. 1 (danger); None without a reading."""
        if self.level_m is None:
            return None
        return siaga(self.level_m, self.siaga_3, self.siaga_2, self.siaga_1)

    @property
    def code(self) -> str:
        return "no_data" if self.siaga is None or not self.fresh else f"siaga_{self.siaga}"

    @property
    def rising(self) -> bool:
        return self.rise_m_per_h is not None and self.rise_m_per_h >= RISING_M_PER_H


def gauges_now(pack: CityPack, latest: Sequence[Latest], *, now_s: float,
               stale_after_s: float, district: str | None = None) -> list[Gauge]:
    """Every flood gauge of the pack (of ``district``), with its newest reading and the
    ``flood_state`` derived from that same reading (an older one is not shown)."""
    readings, derived = derived_of(latest, "flood"), derived_of(latest, "flood_state")
    out = []
    for device, (_gw, s) in pack.sensors.items():
        if not isinstance(s, FloodSensor) or (district and pack.district_of[device] != district):
            continue
        r, d = readings.get(device), derived.get(device)
        level = number_field(r.fields, "currentLevel") if r else None
        dfields = dict(d.fields) if d and r and d.time_ns >= r.time_ns else {}
        t = s.thresholds
        out.append(Gauge(
            device, s.name or device, pack.district_of[device], t.siaga_3, t.siaga_2,
            t.siaga_1, level, r.time_ns / 1e9 if r else None,
            number_field(dfields, "rise_m_per_h"), number_field(dfields, "eta_next_level_s"),
            r is not None and now_s - r.time_ns / 1e9 <= stale_after_s))
    return out


def gauge_rows(gauges: Sequence[Gauge], lang: Lang, district_names: Mapping[str, str],
               *, now_s: float) -> list[dict[str, Any]]:
    """One table row per gauge, the most severe first."""
    _, n = lang.gettext, lang.number
    rows = []
    for g in sorted(gauges, key=lambda g: (g.siaga or 5, g.name)):
        eta = ""
        if g.eta_next_level_s is not None and g.siaga not in (None, 1):
            left = g.eta_next_level_s - (now_s - (g.time_s or now_s))
            eta = _("in {time}", time=lang.ago(left))
        rows.append({
            "sensor": sensor_link(g.name, g.id), "id": g.id,
            "district": district_names.get(g.district, g.district),
            "level": "" if g.level_m is None else n(g.level_m, 2),
            "state": label(lang, g.code),
            "rise": "" if g.rise_m_per_h is None else n(g.rise_m_per_h, 2),
            "next": eta,
            "bands": f"{n(g.siaga_3, 2)} / {n(g.siaga_2, 2)} / {n(g.siaga_1, 2)}",
            "updated": lang.when(g.time_s) if g.time_s else "",
        })
    return rows


def gauge_figure(gauges: Sequence[Gauge], lang: Lang) -> go.Figure:
    """Each gauge's level (a bar in its Siaga colour) against its own three thresholds
    (ticks where Siaga III, II and I begin)."""
    _ = lang.gettext
    shown = [g for g in gauges if g.level_m is not None]
    names = [g.name for g in shown]
    fig = go.Figure(go.Bar(
        x=[g.level_m for g in shown], y=names, orientation="h", name=_("water level"),
        marker={"color": [COLOURS[g.code] for g in shown]},
        text=[f"{lang.number(g.level_m or 0, 2)} m" for g in shown], textposition="auto",
        hovertemplate="%{y}: %{x:.2f} m<extra></extra>"))
    for attr, code in (("siaga_3", "siaga_3"), ("siaga_2", "siaga_2"), ("siaga_1", "siaga_1")):
        fig.add_trace(go.Scatter(
            x=[getattr(g, attr) for g in shown], y=names, mode="markers",
            name=_("{level} begins", level=label(lang, code)),
            marker={"symbol": "line-ns", "size": 30, "line": {"width": 4,
                                                              "color": COLOURS[code]}},
            hovertemplate="%{y}: %{x:.2f} m<extra>" + label(lang, code) + "</extra>"))
    return _dark(fig, xaxis={"title": {"text": _("water level (m)")}, "rangemode": "tozero"},
                 yaxis={"autorange": "reversed"}, height=max(200, 90 + 56 * len(shown)),
                 legend={"orientation": "h", "y": -0.25}, barmode="overlay")


def sparkline(points: Sequence[tuple[int, float]], colour: str, lang: Lang) -> go.Figure:
    """A small line of a level over time (city time on hover)."""
    zone = ZoneInfo(lang.timezone)
    fig = go.Figure(go.Scatter(
        x=[dt.datetime.fromtimestamp(t / 1e9, zone) for t, _ in points],
        y=[v for _, v in points], mode="lines+markers", line={"color": colour, "width": 2},
        marker={"size": 4},
        hovertemplate="%{x|%H:%M}: %{y:.2f} m<extra></extra>"))
    return _dark(fig, height=70, showlegend=False, xaxis={"visible": False},
                 yaxis={"visible": False}, margin={"l": 0, "r": 0, "t": 4, "b": 4})


def eta_window(upstream_time_s: float, travel_h: tuple[float, float]) -> tuple[float, float]:
    """When water seen upstream at ``upstream_time_s`` (UNIX seconds) reaches the link's
    downstream end: (earliest, latest) UNIX seconds."""
    lo, hi = travel_h
    if not 0 < lo <= hi:
        raise ValueError(f"travel_h: (shortest, longest) with 0 < shortest <= longest, "
                         f"got {travel_h}")
    return upstream_time_s + lo * 3600.0, upstream_time_s + hi * 3600.0


@dataclass(frozen=True, slots=True)
class DownstreamEta:
    """Water of ``upstream`` expected at ``downstream`` (a gauge or a forecast point)."""

    river: str
    upstream: str
    upstream_name: str
    downstream: str
    place: str
    earliest_s: float
    latest_s: float
    rising: bool
    siaga: int


def downstream_etas(pack: CityPack, gauges: Sequence[Gauge]) -> list[DownstreamEta]:
    """For every river link whose upstream gauge reports (freshly) a rise or Siaga III or
    worse: when its water is expected downstream, from the upstream reading's time and
    the link's travel time. Soonest first."""
    by_id = {g.id: g for g in gauges}
    out = []
    for river in pack.rivers:
        places = {p.id: p.name for p in river.forecast_points}
        for link in river.links:
            g = by_id.get(link.upstream)
            if g is None or not g.fresh or g.time_s is None or g.siaga is None:
                continue
            if not (g.rising or g.siaga <= 3):
                continue
            if link.downstream in places:
                place = places[link.downstream]
            else:
                _gw, s = pack.sensors[link.downstream]
                place = s.name or link.downstream
            t1, t2 = eta_window(g.time_s, link.travel_h)
            out.append(DownstreamEta(river.name, g.id, g.name, link.downstream, place, t1,
                                     t2, g.rising, g.siaga))
    return sorted(out, key=lambda e: (e.earliest_s, e.place))


# -- lighting -------------------------------------------------------------------------------

#: The lamp states counted per district, in the order the chart stacks them.
LAMP_KINDS = ("lamp_on", "lamp_dimmed", "lamp_off", "lamp_fault", "no_data")


def lamp_counts(states: Sequence[SensorState]) -> dict[str, dict[str, int]]:
    """Per district: how many lamps are on, dimmed, off, faulty, or without data (a
    gateway offline counts as no data)."""
    out: dict[str, dict[str, int]] = {}
    for s in states:
        if s.domain != "lighting":
            continue
        row = out.setdefault(s.district, dict.fromkeys(LAMP_KINDS, 0))
        row[s.code if s.code in LAMP_KINDS else "no_data"] += 1
    return out


def lamp_figure(counts: Mapping[str, Mapping[str, int]], district_names: Mapping[str, str],
                lang: Lang) -> go.Figure:
    """Lamps per district, stacked by state."""
    districts = sorted(counts, key=lambda d: district_names.get(d, d))
    names = [district_names.get(d, d) for d in districts]
    fig = go.Figure([go.Bar(x=names, y=[counts[d][kind] for d in districts],
                            name=label(lang, kind), marker={"color": COLOURS[kind]})
                     for kind in LAMP_KINDS])
    return _dark(fig, barmode="stack", height=300, legend={"orientation": "h", "y": -0.2},
                 yaxis={"title": {"text": lang.gettext("lamps")}})


def energy_kwh(window_means: Iterable[tuple[int, float]], window_s: float) -> float:
    """Energy in kWh from a lamp's ``activePower`` window means (W): each window's mean
    power over the whole window (W x h / 1000). Windows without data count nothing."""
    if window_s <= 0:
        raise ValueError("window_s must be positive")
    return sum(max(w, 0.0) for _, w in window_means) * window_s / 3600.0 / 1000.0


def compliance(on_schedule: Iterable[object]) -> tuple[int, int]:
    """(lamps on schedule, lamps judged) from the ``light_state.on_schedule`` flags that
    are present (a lamp that is off by day is not judged: the flag is absent)."""
    flags = [v for v in on_schedule if isinstance(v, bool)]
    return sum(flags), len(flags)


def faulty_rows(states: Sequence[SensorState], lang: Lang,
                district_names: Mapping[str, str]) -> list[dict[str, Any]]:
    """One row per faulty lamp (a reported fault or one the analytics found)."""
    return [{"sensor": sensor_link(s.name, s.id), "id": s.id,
             "district": district_names.get(s.district, s.district),
             "fault": detail(lang, s.state),
             "updated": lang.when(s.time_ns / 1e9) if s.time_ns else ""}
            for s in sorted(states, key=lambda s: s.name)
            if s.domain == "lighting" and s.code == "lamp_fault"]
