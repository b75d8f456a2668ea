"""Flood: every gauge's level against its Siaga bands, how fast it rises and when it
reaches the next level (the analytics' ``flood_state``), its level over the last six
hours, and where the water goes: for each river link of the pack whose upstream gauge
rises or stands at Siaga III or worse, when it is expected downstream (often a place
outside the city, such as Manggarai for Bogor's Katulampa weir).
"""

from __future__ import annotations

import time
from typing import Any

import dash
from dash import Input, Output, callback, dcc, html

from dashboards import events
from dashboards.chartdata import chart
from dashboards.charts import (
    DownstreamEta,
    Gauge,
    downstream_etas,
    gauge_figure,
    gauge_rows,
    gauges_now,
    grid,
    sparkline,
)
from dashboards.context import hub, lang
from dashboards.i18n import N_, Lang
from dashboards.ids import Ids, query
from dashboards.wording import COLOURS, label

dash.register_page(  # type: ignore[no-untyped-call]
    __name__, path="/flood", name=N_("Flood"), title="Flood", order=2)

ID = Ids("flood")
_SPARK_S = 6 * 3600
_SLOW_S = 60.0


def _columns(L: Lang) -> list[tuple[str, str]]:
    _ = L.gettext
    return [("sensor", _("Gauge")), ("district", _("District")), ("state", _("State")),
            ("level", _("Level (m)")), ("rise", _("Rise (m/h)")),
            ("next", _("Next level")), ("bands", _("Siaga III / II / I (m)")),
            ("updated", _("Updated"))]


def layout(district: str | None = None, **_query: object) -> html.Div:
    h, L = hub(), lang()
    _ = L.gettext
    return html.Div(className="page flood", children=[
        dcc.Location(id=ID("url"), refresh=False),
        html.Div(className="overview-tools", children=[
            dcc.Dropdown(id=ID("district"), className="district-filter", clearable=True,
                         placeholder=_("All districts"), value=district,
                         style={"maxWidth": "320px", "color": "#111827"},
                         options=[{"label": d.name, "value": d.id}
                                  for d in h.pack.districts]),
        ]),
        html.H2(_("Downstream"), className="section-title"),
        html.Div(id=ID("downstream")),
        *events.section(ID, L),
        html.H2(_("Water levels and Siaga bands"), className="section-title"),
        html.Div(id=ID("levels"), children=html.P("…")),
        html.H2(_("The last six hours"), className="section-title"),
        html.Div(id=ID("sparks"), style={"display": "grid", "gap": "10px",
                                         "gridTemplateColumns": "repeat(auto-fill, "
                                         "minmax(260px, 1fr))"}),
        html.Div(style={"display": "flex", "justifyContent": "space-between",
                        "alignItems": "center"}, children=[
            html.H2(_("Gauges"), className="section-title"),
            html.Button(_("Export CSV"), id=ID("export"), className="btn btn-sm "
                        "btn-outline-light"),
        ]),
        grid(ID("table"), _columns(L), "flood.csv", height_px=320),
        html.Div(id=ID("updated"), className="updated-at"),
        dcc.Interval(id=ID("tick"), interval=int(h.settings.refresh_s * 1000)),
        dcc.Interval(id=ID("slow"), interval=int(max(_SLOW_S, h.settings.refresh_s) * 1000)),
    ])


def _gauges(district: str | None) -> list[Gauge]:
    h = hub()
    return gauges_now(h.pack, h.data.latest(), now_s=time.time(),
                      stale_after_s=h.settings.stale_after_s, district=district)


def eta_item(e: DownstreamEta, L: Lang) -> html.Li:
    """"Expected at <place> between T1 and T2", and why."""
    _ = L.gettext
    why = (_("{gauge} is rising", gauge=e.upstream_name) if e.rising else
           _("{gauge} is at {level}", gauge=e.upstream_name, level=label(L, f"siaga_{e.siaga}")))
    if e.rising and e.siaga <= 3:
        why = _("{gauge} is rising, at {level}", gauge=e.upstream_name,
                level=label(L, f"siaga_{e.siaga}"))
    return html.Li(className=f"sev-{4 - e.siaga}", children=[
        html.Strong(_("Expected at {place} between {start} and {end}", place=e.place,
                      start=L.when(e.earliest_s), end=L.when(e.latest_s))),
        html.Span(f" ({e.river}: {why}, ", className="att-detail"),
        dcc.Link(e.upstream_name, href=f"/sensor/{e.upstream}"),
        html.Span(")", className="att-detail"),
    ])


def _downstream(gauges: list[Gauge], L: Lang) -> Any:
    _ = L.gettext
    pack = hub().pack
    if not pack.rivers:
        return html.P(_("The city pack has no river links: no downstream forecasts."))
    etas = downstream_etas(pack, gauges)
    if not etas:
        return html.P(_("No upstream gauge is rising or at Siaga III or worse: nothing "
                        "expected downstream."), className="no-data")
    return html.Ul([eta_item(e, L) for e in etas], id=ID("etas"), className="eta-list")


@callback(
    output={"rows": Output(ID("table"), "rowData"),
            "levels": Output(ID("levels"), "children"),
            "downstream": Output(ID("downstream"), "children"),
            "updated": Output(ID("updated"), "children")},
    inputs={"_tick": Input(ID("tick"), "n_intervals"),
            "district": Input(ID("district"), "value")},
)
def refresh(_tick: int | None, district: str | None) -> dict[str, Any]:
    h, L = hub(), lang()
    _ = L.gettext
    gauges = _gauges(district)
    names = {d.id: d.name for d in h.pack.districts}
    now = time.time()
    if not gauges:
        levels: Any = html.P(_("No flood gauges here."), className="no-data")
    elif all(g.level_m is None for g in gauges):
        levels = html.P(_("No data: no gauge here has reported."), className="no-data")
    else:
        levels = chart(gauge_figure(gauges, L), "flood-levels", L)
    # downstream forecasts look at every gauge: an upstream gauge may be in another district
    return {"rows": gauge_rows(gauges, L, names, now_s=now), "levels": levels,
            "downstream": _downstream(_gauges(None), L),
            "updated": _("Updated {time}", time=L.when(now, with_date=False))}


@callback(Output(ID("sparks"), "children"),
          Input(ID("slow"), "n_intervals"), Input(ID("district"), "value"))
def sparks(_slow: int | None, district: str | None) -> Any:
    h, L = hub(), lang()
    gauges = _gauges(district)
    stop_ns = time.time_ns()
    series = h.data.histories(measurement="flood", devices=[g.id for g in gauges],
                              field="currentLevel", start_ns=stop_ns - _SPARK_S * 10**9,
                              stop_ns=stop_ns, window_s=300)
    cards = []
    for g in gauges:
        points = series.get(g.id, [])
        body: Any = (dcc.Graph(figure=sparkline(points, COLOURS[g.code], L),
                               config={"displayModeBar": False}, style={"height": "70px"})
                     if points else html.P(L.gettext("No data for this range."),
                                           className="no-data"))
        cards.append(html.Div(className="kpi", children=[
            dcc.Link(g.name, href=f"/sensor/{g.id}"), body]))
    return cards or [html.P(L.gettext("No flood gauges here."), className="no-data")]


@callback(Output(ID("table"), "exportDataAsCsv"), Input(ID("export"), "n_clicks"),
          prevent_initial_call=True)
def export(_clicks: int | None) -> bool:
    return True


@callback(Output(ID("url"), "search"), Input(ID("district"), "value"),
          prevent_initial_call=True)
def share(district: str | None) -> str:
    """The district filter in the URL, so the view can be shared."""
    return query(district=district)


events.register(ID, "flood")
