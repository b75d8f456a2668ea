"""Traffic: mean speed per district and hour of the day over the last day or week, the
roads (the pack's corridors, else the sensors of each district) coloured by their level
of service now, and a table of every traffic sensor, current incidents first.

The table and the roads follow every tick; the heatmap (a week of hourly window means
per sensor) is read again when the period or the district changes, and once a minute.
"""

from __future__ import annotations

import time
from typing import Any

import dash
from dash import Input, Output, callback, dcc, html

from dashboards import events
from dashboards.chartdata import chart
from dashboards.charts import (
    PERIODS,
    corridor_groups,
    filters,
    grid,
    heatmap_figure,
    hour_of_day_means,
    traffic_rows,
)
from dashboards.context import hub, lang, states_now
from dashboards.i18n import N_, Lang
from dashboards.ids import Ids, query
from dashboards.status import SensorState
from dashboards.wording import COLOURS, detail, label

dash.register_page(  # type: ignore[no-untyped-call]
    __name__, path="/traffic", name=N_("Traffic"), title="Traffic", order=1)

ID = Ids("traffic")
_SLOW_S = 60.0


def _columns(L: Lang) -> list[tuple[str, str]]:
    _ = L.gettext
    return [("sensor", _("Sensor")), ("district", _("District")), ("state", _("State")),
            ("speed", _("Speed (km/h)")), ("flow", _("Flow (veh/min)")),
            ("los", _("LOS")), ("tti", _("Travel-time index")),
            ("congested", _("Congested")), ("incident", _("Incident")),
            ("updated", _("Updated"))]


def layout(district: str | None = None, period: str | None = None,
           **_query: object) -> html.Div:
    h, L = hub(), lang()
    _ = L.gettext
    return html.Div(className="page traffic", children=[
        dcc.Location(id=ID("url"), refresh=False),
        filters(L, ID, h.pack, district, period),
        html.H2(_("Mean speed by hour of the day"), className="section-title"),
        html.Div(id=ID("heatmap"), children=html.P("…")),
        html.H2(_("Roads now"), className="section-title"),
        html.Div(id=ID("roads")),
        *events.section(ID, L),
        html.Div(style={"display": "flex", "justifyContent": "space-between",
                        "alignItems": "center"}, children=[
            html.H2(_("Traffic sensors"), className="section-title"),
            html.Button(_("Export CSV"), id=ID("export"), className="btn btn-sm "
                        "btn-outline-light"),
        ]),
        html.P(id=ID("summary")),
        grid(ID("table"), _columns(L), "traffic.csv"),
        html.Div(id=ID("updated"), className="updated-at"),
        dcc.Interval(id=ID("tick"), interval=int(h.settings.refresh_s * 1000)),
        dcc.Interval(id=ID("slow"), interval=int(max(_SLOW_S, h.settings.refresh_s) * 1000)),
    ])


def _roads(states: list[SensorState], L: Lang, district: str | None) -> list[Any]:
    by_id = {s.id: s for s in states}
    roads = []
    for name, devices in corridor_groups(hub().pack, district):
        chips = [dcc.Link(
            by_id[d].name, href=f"/sensor/{d}", title=f"{label(L, by_id[d].code)}: "
            f"{detail(L, by_id[d].state)}", className="road-chip",
            style={"background": COLOURS[by_id[d].code], "color": "#0b1220",
                   "padding": "4px 10px", "borderRadius": "6px", "fontWeight": 600,
                   "textDecoration": "none"}) for d in devices if d in by_id]
        roads.append(html.Div(className="road", style={"display": "flex", "gap": "8px",
                                                       "flexWrap": "wrap",
                                                       "alignItems": "center",
                                                       "marginBottom": "8px"},
                              children=[html.Strong(name, style={"minWidth": "220px"}),
                                        *chips]))
    return roads or [html.P(L.gettext("No traffic sensors here."))]


@callback(
    output={"rows": Output(ID("table"), "rowData"), "roads": Output(ID("roads"), "children"),
            "summary": Output(ID("summary"), "children"),
            "updated": Output(ID("updated"), "children")},
    inputs={"_tick": Input(ID("tick"), "n_intervals"),
            "district": Input(ID("district"), "value")},
)
def refresh(_tick: int | None, district: str | None) -> dict[str, Any]:
    h, L = hub(), lang()
    _ = L.gettext
    states = states_now(domain="traffic", district=district)
    names = {d.id: d.name for d in h.pack.districts}
    rows = traffic_rows(states, h.data.latest(), L, names)
    reporting = [s for s in states if s.code not in ("no_data", "offline")]
    incidents = sum(1 for s in states if s.code == "incident")
    congested = sum(1 for s in states if s.code in ("los_e", "los_f", "incident"))
    if not reporting:
        summary = _("No data: no traffic sensor here has reported recently.")
    else:
        summary = _("{reporting} of {sensors} sensors reporting; {congested} congested, "
                    "{incidents} incidents.", reporting=L.number(len(reporting)),
                    sensors=L.number(len(states)), congested=L.number(congested),
                    incidents=L.number(incidents))
    return {"rows": rows, "roads": _roads(states, L, district), "summary": summary,
            "updated": _("Updated {time}", time=L.when(time.time(), with_date=False))}


def heatmap_matrix(district: str | None, period: str) -> tuple[list[str], list[list[float | None]]]:
    """District names and their 24 hourly mean speeds over ``period`` (rows without any
    data left out)."""
    h = hub()
    stop_ns = time.time_ns()
    start_ns = stop_ns - int(PERIODS.get(period, 86400) * 1e9)
    devices = [d for d, (_, s) in h.pack.sensors.items() if s.domain.value == "traffic"
               and (not district or h.pack.district_of[d] == district)]
    series = h.data.histories(measurement="traffic", devices=devices,
                              field="averageVehicleSpeed", start_ns=start_ns,
                              stop_ns=stop_ns, window_s=3600)
    groups: dict[str, list[tuple[int, float]]] = {}
    for d, points in series.items():
        groups.setdefault(h.pack.district_of[d], []).extend(points)
    means = hour_of_day_means(groups, h.pack.city.timezone)
    rows = [(d.name, means[d.id]) for d in h.pack.districts
            if d.id in means and any(v is not None for v in means[d.id])]
    return [n for n, _ in rows], [m for _, m in rows]


@callback(Output(ID("heatmap"), "children"),
          Input(ID("slow"), "n_intervals"), Input(ID("district"), "value"),
          Input(ID("period"), "value"))
def heatmap(_slow: int | None, district: str | None, period: str) -> Any:
    L = lang()
    names, matrix = heatmap_matrix(district, period)
    if not names:
        return html.P(L.gettext("No data for this range."), className="no-data")
    return chart(heatmap_figure(names, matrix, L), "traffic-speed-by-hour", L)


@callback(Output(ID("table"), "exportDataAsCsv"), Input(ID("export"), "n_clicks"),
          prevent_initial_call=True)
def export(_clicks: int | None) -> bool:
    return True


@callback(Output(ID("url"), "search"), Input(ID("district"), "value"),
          Input(ID("period"), "value"), prevent_initial_call=True)
def share(district: str | None, period: str | None) -> str:
    """The district and the period in the URL, so the view can be shared."""
    return query(district=district, period=period)


events.register(ID, "traffic")
