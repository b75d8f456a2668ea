"""City overview: the map with every sensor coloured by its latest state, headline
numbers, and the sensors that need attention. Refreshes every few seconds."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import dash
from dash import Input, Output, callback, dcc, html

from dashboards.context import hub
from dashboards.figures import city_map, kpis
from dashboards.status import sensor_states

dash.register_page(  # type: ignore[no-untyped-call]
    __name__, path="/", name="Overview", title="City overview")

_KPI = [("reporting", "Sensors reporting"), ("congested", "Congested roads (LOS E/F, incidents)"),
        ("flood", "Highest flood status"), ("lamps_on", "Lamps lit"),
        ("lamp_faults", "Lamp faults"), ("heavy_rain", "Gauges in heavy rain")]


def layout(**_: object) -> html.Div:
    h = hub()
    return html.Div(className="page overview", children=[
        html.Div(className="kpis", children=[
            html.Div(className="kpi", children=[
                html.Div("…", id=f"kpi-{key}", className="kpi-value"),
                html.Div(label, className="kpi-label"),
            ]) for key, label in _KPI
        ]),
        html.Div(className="overview-body", children=[
            dcc.Graph(id="city-map", className="city-map", config={"displaylogo": False},
                      figure=city_map(h.pack, [], style=h.settings.map_style)),
            html.Aside(className="attention", children=[
                html.H2("Needs attention"),
                html.Ul(id="attention-list"),
                html.Div(id="updated-at", className="updated-at"),
            ]),
        ]),
        dcc.Interval(id="overview-tick", interval=int(h.settings.refresh_s * 1000)),
    ])


@callback(
    Output("city-map", "figure"),
    *[Output(f"kpi-{key}", "children") for key, _ in _KPI],
    Output("attention-list", "children"),
    Output("updated-at", "children"),
    Input("overview-tick", "n_intervals"),
)
def refresh(_: int | None) -> tuple[object, ...]:
    h = hub()
    now = time.time()
    states = sensor_states(h.pack, h.data.latest(), now_ns=int(now * 1e9),
                           stale_after_s=h.settings.stale_after_s)
    k = kpis(states)
    worst = sorted((s for s in states if s.severity > 0), key=lambda s: -s.severity)[:12]
    items = [html.Li(className=f"sev-{s.severity}", children=[
        html.Span(s.label, className="att-label"), html.Span(s.name, className="att-name"),
        html.Span(s.detail, className="att-detail")]) for s in worst]
    if not items:
        items = [html.Li("All sensors normal", className="sev-0")]
    local = datetime.fromtimestamp(now, ZoneInfo(h.pack.city.timezone))
    return (city_map(h.pack, states, style=h.settings.map_style),
            *[k[key] for key, _ in _KPI], items, f"Updated {local:%H:%M:%S} {local:%Z}")
