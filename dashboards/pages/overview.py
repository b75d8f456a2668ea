"""City overview: the map with every sensor coloured by its latest state, headline
numbers per domain, the sensors that need attention, and a district filter.

Each tick patches the figure in place (``Patch``: the markers' colours and hover text,
not the district layers), so the map never reloads and keeps the user's pan and zoom.
"""

from __future__ import annotations

import time
from typing import Any

import dash
from dash import Input, Output, Patch, callback, dcc, html

from dashboards.alarmfeed import Unavailable, as_user, feed, problem
from dashboards.context import hub, lang, states_now
from dashboards.data.alarms import AlarmsError
from dashboards.figures import DOMAINS, Kpis, city_map, kpis, sensor_markers
from dashboards.i18n import N_, Lang
from dashboards.ids import Ids, query
from dashboards.status import SensorState
from dashboards.wording import COLOURS, detail, label

dash.register_page(  # type: ignore[no-untyped-call]
    __name__, path="/", name=N_("Overview"), title="City overview", order=0)

ID = Ids("overview")
_KPIS = ("reporting", "congested", "flood", "lamps", "lamp-faults", "heavy-rain")
_LEGEND = ("los_a", "los_c", "los_e", "los_f", "incident", "siaga_4", "siaga_3", "siaga_2",
           "siaga_1", "lamp_on", "lamp_off", "lamp_fault", "rain_heavy", "no_data", "offline")


def _kpi_labels(L: Lang) -> dict[str, str]:
    _ = L.gettext
    return {"reporting": _("Sensors reporting"),
            "congested": _("Congested roads (LOS E/F, incidents)"),
            "flood": _("Highest flood status"), "lamps": _("Lamps lit"),
            "lamp-faults": _("Lamp faults"), "heavy-rain": _("Gauges in heavy rain")}


def _kpi_values(k: Kpis, L: Lang) -> dict[str, str]:
    n = L.number
    return {"reporting": f"{n(k.reporting)}/{n(k.sensors)}", "congested": n(k.congested),
            "flood": label(L, k.worst_flood) if k.worst_flood else L.gettext("no data"),
            "lamps": f"{n(k.lamps_lit)}/{n(k.lamps)}", "lamp-faults": n(k.lamp_faults),
            "heavy-rain": n(k.heavy_rain)}


def layout(district: str | None = None, **_query: object) -> html.Div:
    """The page as it is now: the map, numbers and list are filled in here, so the first
    view needs no callback round trip; each tick then patches it."""
    h, L = hub(), lang()
    _ = L.gettext
    labels = _kpi_labels(L)
    states = states_now(district=district)
    values = _kpi_values(kpis(states), L)
    return html.Div(className="page overview", children=[
        dcc.Location(id=ID("url"), refresh=False),
        html.Div(className="overview-tools", children=[
            dcc.Dropdown(id=ID("district"), className="district-filter", clearable=True,
                         placeholder=_("All districts"), value=district,
                         options=[{"label": d.name, "value": d.id}
                                  for d in h.pack.districts]),
        ]),
        html.Div(className="kpis", children=[
            html.Div(className="kpi", children=[
                html.Div(values[key], id=ID(f"kpi-{key}"), className="kpi-value"),
                html.Div(labels[key], className="kpi-label"),
            ]) for key in _KPIS
        ]),
        html.Div(className="overview-body", children=[
            html.Div(className="map-panel", children=[
                dcc.Graph(id=ID("map"), className="city-map", config={"displaylogo": False},
                          figure=city_map(h.pack, states, L, tiles=h.settings.map_tiles,
                                          attribution=h.settings.map_attribution)),
                html.Div(className="legend", id=ID("legend"), children=[
                    html.Span(className="legend-item", children=[
                        html.Span(className="swatch", style={"background": COLOURS[c]}),
                        label(L, c)]) for c in _LEGEND]),
            ]),
            html.Aside(className="attention", children=[
                html.H2(dcc.Link(_("Live alarms"), href="/alarms")),
                html.Div(id=ID("alarms")),
                html.H2(_("Needs attention")),
                html.Ul(_attention(states, L), id=ID("attention")),
                html.Div(_updated(L), id=ID("updated"), className="updated-at"),
            ]),
        ]),
        dcc.Interval(id=ID("tick"), interval=int(h.settings.live_refresh_s * 1000)),
        dcc.Interval(id=ID("alarm-tick"), interval=int(h.settings.refresh_s * 1000)),
    ])


def _attention(states: list[SensorState], L: Lang) -> list[html.Li]:
    worst = sorted((s for s in states if s.severity > 0), key=lambda s: -s.severity)[:12]
    items = [html.Li(className=f"sev-{s.severity}", children=[
        html.Span(label(L, s.code), className="att-label"),
        dcc.Link(s.name, href=f"/sensor/{s.id}", className="att-name"),
        html.Span(detail(L, s.state), className="att-detail")]) for s in worst]
    return items or [html.Li(L.gettext("All sensors normal"), className="sev-0")]


@callback(
    output={"map": Output(ID("map"), "figure"),
            "kpis": [Output(ID(f"kpi-{key}"), "children") for key in _KPIS],
            "attention": Output(ID("attention"), "children"),
            "updated": Output(ID("updated"), "children")},
    inputs={"_tick": Input(ID("tick"), "n_intervals"),
            "district": Input(ID("district"), "value")},
    prevent_initial_call=True,  # the layout drew the page as it was
)
def refresh(_tick: int | None, district: str | None) -> dict[str, Any]:
    """Patch the markers of each domain (the same traces, in the same order, as
    :func:`city_map` draws) and update the numbers."""
    L = lang()
    states = states_now(district=district)
    values = _kpi_values(kpis(states), L)
    fig = Patch()
    for i, domain in enumerate(DOMAINS, start=1):  # trace 0: the districts
        trace = sensor_markers(domain, [s for s in states if s.domain == domain], L)
        for key in ("lat", "lon", "ids", "customdata"):
            fig["data"][i][key] = trace[key]
        fig["data"][i]["marker"]["color"] = trace["marker"]["color"]
    return {"map": fig, "kpis": [values[key] for key in _KPIS],
            "attention": _attention(states, L),
            "updated": _updated(L)}


def _updated(L: Lang) -> str:
    error = hub().data.store_error
    if error is not None:
        return L.gettext("The store does not answer ({error}): these are the last values "
                         "read.", error=error)
    return L.gettext("Updated {time}", time=L.when(time.time(), with_date=False))


@callback(Output(ID("url"), "search"), Input(ID("district"), "value"),
          prevent_initial_call=True)
def share(district: str | None) -> str:
    """The district filter in the URL, so the view can be shared."""
    return query(district=district)


@callback(Output(ID("alarms"), "children"), Input(ID("alarm-tick"), "n_intervals"))
def alarm_feed(_tick: int | None) -> Any:
    """The open and acknowledged alarms, newest first, from the alerts API as the
    logged-in user (every ``refresh_s``)."""
    L = lang()
    try:
        alarms = as_user(lambda c, token: c.alarms(token, state=("open", "acknowledged"),
                                                    limit=8))
    except (Unavailable, AlarmsError) as e:
        return html.Div(problem(e), className="notice")
    return feed(L, alarms, empty=L.gettext("No open alarm."))
