"""One sensor: who and where it is, its state now, and the history of every numeric
field of its domain and of its derived series over a time range picked in the URL
(``/sensor/tfc-1?range=7d``), downsampled so that a year stays fast; zooming in reads
the zoomed range again at full resolution; the shown range's raw readings as CSV.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from cityhub.config.pack import CityPack
from dashboards.alarmfeed import Unavailable, as_user, feed, problem
from dashboards.context import hub, lang
from dashboards.data import CityData
from dashboards.data.alarms import AlarmsError
from dashboards.figures import domain_name
from dashboards.history import (
    bands_of,
    csv_text,
    history_figure,
    series_of,
    window_label,
    zoom_of,
)
from dashboards.i18n import N_, Lang
from dashboards.ids import Ids
from dashboards.status import SensorState, sensor_states
from dashboards.timerange import TimeRange, format_local, parse_query, picker, search_of
from dashboards.wording import COLOURS, detail, label

dash.register_page(  # type: ignore[no-untyped-call]
    __name__, path_template="/sensor/<device>", name=N_("Sensor"), title="Sensor",
    order=90, nav=False)

__all__ = ["chart", "chart_of", "download", "layout", "pick", "status"]

ID = Ids("sensor")
_NS = 1_000_000_000


def _names(L: Lang) -> dict[str, str]:
    _ = L.gettext
    return {"intensity": _("vehicles per minute"), "occupancy": _("occupancy"),
            "averageVehicleSpeed": _("average speed"), "currentLevel": _("water level"),
            "measuredDistance": _("distance to the water"),
            "illuminanceLevel": _("dimming level"), "activePower": _("power"),
            "precipitation": _("precipitation"), "rainRate": _("rain rate"),
            "traffic_state.tti": _("travel time index"),
            "flood_state.siaga": _("Siaga level (analytics)"),
            "flood_state.rise_m_per_h": _("rise rate"),
            "light_state.sun_elevation": _("sun elevation")}


def chart_of(data: CityData, pack: CityPack, device: str, start_ns: int, stop_ns: int,
             L: Lang, *, zoomed: bool = False) -> tuple[Any, str]:
    """The history figure of ``device`` over [start, stop) and a line that says what it
    shows (how many readings, raw or which mean)."""
    _, sensor = pack.sensors[device]
    series = data.sensor_series(sensor, start_ns, stop_ns)
    fig = history_figure(series, L, bands=bands_of(sensor, series, L), names=_names(L),
                         x_range=(start_ns, stop_ns) if zoomed else None,
                         revision=f"{device}-{start_ns}-{stop_ns}" if not zoomed
                         else f"{device}-zoom")
    read = sum(s.read for s in series)
    if not read:
        return fig, L.gettext("No data in this range")
    window = series[0].window_s
    return fig, L.gettext(
        "{when}: {n} points read ({how}), up to {k} drawn per series",
        when=f"{L.when(start_ns / _NS)} – {L.when(stop_ns / _NS)}", n=L.number(read),
        how=window_label(L, window), k=L.number(2000))


def _state(device: str) -> SensorState | None:
    h = hub()
    rows = h.data.device_latest(device)
    for st in sensor_states(h.pack, rows, now_ns=time.time_ns(),
                            stale_after_s=h.settings.stale_after_s):
        if st.id == device:
            return st
    return None


def _status(st: SensorState | None, L: Lang) -> tuple[Any, str, Any]:
    """The state (a swatch, its name and the values behind it), the last reading's
    time, and a banner when the sensor is silent."""
    _ = L.gettext
    if st is None:
        return "", "", None
    state = html.Span([
        html.Span(className="swatch", style={
            "display": "inline-block", "width": "14px", "height": "14px",
            "borderRadius": "3px", "marginRight": "6px", "background": COLOURS[st.code]}),
        html.B(label(L, st.code)), " ", html.Span(detail(L, st.state))])
    if st.time_ns is None:
        last = _("never")
    else:
        age = time.time() - st.time_ns / _NS
        last = _("{time} ({ago} ago)", time=L.when(st.time_ns / _NS), ago=L.ago(age))
    banner = None
    if st.code == "offline":
        banner = _("Sensor offline: its gateway is offline and it has sent nothing "
                   "recently.")
    elif st.code == "no_data":
        banner = (_("Sensor stale: no reading for {ago}.", ago=L.ago(
            time.time() - st.time_ns / _NS)) if st.time_ns is not None
            else _("Sensor offline: it has never sent a reading."))
    return state, last, dbc.Alert(banner, color="warning", className="mb-2") if banner \
        else None


def _fact(L: Lang, title: str, value: Any, name: str) -> html.Div:
    return html.Div(className="kpi", children=[
        html.Div(value, id=ID(name), className="sensor-fact"),
        html.Div(title, className="kpi-label")])


def layout(device: str | None = None, **query: Any) -> html.Div:
    h, L = hub(), lang()
    _ = L.gettext
    if device is not None and device not in h.pack.sensors:
        return html.Div(className="page sensor", children=[
            html.H1(_("Unknown sensor"), id=ID("title")),
            html.P(_("This city has no sensor with the id “{id}”.", id=device),
                   id=ID("unknown")),
            dcc.Link(_("Back to the overview"), href="/", id=ID("back")),
        ])
    tr, understood = parse_query(query, time.time(), h.pack.city.timezone)
    gw_sensor = h.pack.sensors.get(device) if device else None
    st = _state(device) if device else None
    state, last, banner = _status(st, L)
    districts = {d.id: d.name for d in h.pack.districts}
    if gw_sensor is not None:
        gw, s = gw_sensor
        title = s.name or s.id
        facts = [(_("Id"), s.id, "id"), (_("Kind"), domain_name(L, s.domain.value), "domain"),
                 (_("District"), districts.get(s.district or gw.district,
                                               s.district or gw.district), "district"),
                 (_("Gateway"), gw.name or gw.id, "gateway"), (_("State"), state, "state"),
                 (_("Last reading"), last, "last")]
    else:  # the app's validation layout: every component, no sensor
        title, facts = "", [("", "", n) for n in ("id", "domain", "district", "gateway",
                                                 "state", "last")]
    return html.Div(className="page sensor", children=[
        dcc.Location(id=ID("url"), refresh=False),
        dcc.Store(id=ID("device"), data=device),
        dcc.Store(id=ID("shown")),
        html.Div(className="sensor-head", children=[
            dcc.Link("← " + _("Overview"), href="/", className="text-info"),
            html.H1(title, id=ID("title")),
        ]),
        html.Div(className="kpis", children=[_fact(L, t, v, n) for t, v, n in facts]),
        html.Div(banner, id=ID("banner")),
        html.Div(className="sensor-tools mb-2", children=[
            picker(ID, tr, L),
            html.Div(None if understood else _(
                "The link's time range was not understood; showing the last 24 h."),
                id=ID("range-note"), className="text-warning"),
        ]),
        html.Div(_("Loading…"), id=ID("scale"), className="updated-at"),
        dcc.Graph(id=ID("history"), config={"displaylogo": False},
                  figure={"layout": {"paper_bgcolor": "#0b1220", "plot_bgcolor": "#111827",
                                     "height": 300}}),
        html.Div(className="mt-2", children=[
            html.Button(_("Download CSV of the shown range"), id=ID("csv"), n_clicks=0,
                        className="btn btn-sm btn-outline-info"),
            dcc.Download(id=ID("download")),
        ]),
        html.Section(className="sensor-alarms", children=[
            html.H2(_("Alarms of this sensor"), className="section-title"),
            html.Div(id=ID("alarms")),
        ]),
        dcc.Interval(id=ID("tick"), interval=int(h.settings.refresh_s * 1000)),
    ])


def _range(search: str | None) -> TimeRange:
    q = {k: v[0] for k, v in parse_qs((search or "").lstrip("?")).items()}
    return parse_query(q, time.time(), hub().pack.city.timezone)[0]


def _shown(duplicate: bool = False) -> list[Output]:
    """The chart's outputs: the figure, its scale note, the range it shows and the range
    inputs (``allow_duplicate`` for the second callback that writes them)."""
    return [Output(ID(name), prop, allow_duplicate=duplicate) for name, prop in (
        ("history", "figure"), ("scale", "children"), ("shown", "data"),
        ("range-start", "value"), ("range-end", "value"))]


def _drawn(device: str, start: int, stop: int, *, zoomed: bool) -> tuple[Any, ...]:
    h = hub()
    fig, note = chart_of(h.data, h.pack, device, start, stop, lang(), zoomed=zoomed)
    tz = h.pack.city.timezone  # the inputs show what is shown: "Apply" shares a zoom
    return (fig, note, [start, stop], format_local(start / _NS, tz)[:16],
            format_local(stop / _NS, tz)[:16])


# Two callbacks, not one with both inputs: Dash drops a callback's answer when its inputs
# fire again before the answer came (plotly/dash#1613), and a figure's first draw reports
# an autosize relayout about a second later. With one callback, a range picked in that
# second was read and then dropped for the "resize: nothing to do" answer (seen in CI:
# the week picked, its answer lost, the page still on the day).
@callback(*_shown(), Input(ID("url"), "search"), State(ID("device"), "data"))
def chart(search: str | None, device: str | None) -> tuple[Any, ...]:
    """The picked range's history."""
    if not device or device not in hub().pack.sensors:
        return (no_update,) * 5
    tr = _range(search)
    return _drawn(device, tr.start_ns, tr.stop_ns, zoomed=False)


@callback(*_shown(duplicate=True), Input(ID("history"), "relayoutData"),
          State(ID("url"), "search"), State(ID("device"), "data"),
          prevent_initial_call=True)
def zoom(relayout: dict[str, Any] | None, search: str | None, device: str | None
         ) -> tuple[Any, ...]:
    """On a zoom, the zoomed range read again (at full resolution where it then fits);
    on a reset of the axes, the picked range again."""
    if not device or device not in hub().pack.sensors:
        return (no_update,) * 5
    zoomed = zoom_of(relayout, hub().pack.city.timezone)
    if zoomed is not None:
        return _drawn(device, *zoomed, zoomed=True)
    if not (relayout and any(k.endswith("autorange") for k in relayout)):
        return (no_update,) * 5  # a resize, a hover mode: nothing to read
    tr = _range(search)
    return _drawn(device, tr.start_ns, tr.stop_ns, zoomed=False)


@callback(
    Output(ID("state"), "children"), Output(ID("last"), "children"),
    Output(ID("banner"), "children"),
    Input(ID("tick"), "n_intervals"), State(ID("device"), "data"),
    prevent_initial_call=True,
)
def status(_tick: int | None, device: str | None) -> tuple[Any, Any, Any]:
    """The state and the last reading, kept current."""
    if not device or device not in hub().pack.sensors:
        return no_update, no_update, no_update
    return _status(_state(device), lang())


@callback(
    Output(ID("url"), "search"), Output(ID("range-error"), "children"),
    Input(ID("range-preset"), "value"), Input(ID("range-apply"), "n_clicks"),
    State(ID("range-start"), "value"), State(ID("range-end"), "value"),
    prevent_initial_call=True,
)
def pick(preset: str | None, _apply: int | None, start: str | None, end: str | None
         ) -> tuple[Any, Any]:
    """The picked range into the URL (which the chart follows, and a link shares)."""
    L = lang()
    if ctx.triggered_id == ID("range-preset"):
        return (search_of(preset), None) if preset else (no_update, None)
    try:
        return search_of(None, start, end, hub().pack.city.timezone), None
    except ValueError:
        return no_update, L.gettext("Give a start and an end after it.")


@callback(
    Output(ID("download"), "data"), Input(ID("csv"), "n_clicks"),
    State(ID("shown"), "data"), State(ID("device"), "data"),
    prevent_initial_call=True,
)
def download(_n: int | None, shown: list[int] | None, device: str | None) -> Any:
    """The shown range's raw readings (every numeric field of the domain) as CSV."""
    h = hub()
    if not device or device not in h.pack.sensors or not shown:
        return no_update
    _, sensor = h.pack.sensors[device]
    specs = [s for s in series_of(sensor.domain.value) if not s.derived]
    rows = h.data.device_history(device=device, series=[(s.measurement, s.field)
                                                        for s in specs],
                                 start_ns=int(shown[0]), stop_ns=int(shown[1]))
    text = csv_text({s.field: rows[(s.measurement, s.field)] for s in specs},
                    h.pack.city.timezone)
    return {"content": text, "filename": f"{device}.csv", "type": "text/csv",
            "base64": False}



@callback(Output(ID("alarms"), "children"), Input(ID("device"), "data"),
          Input(ID("tick"), "n_intervals"))
def alarms_of_sensor(device: str | None, _tick: int | None) -> Any:
    """The sensor's alarms, newest first, from the alerts API as the logged-in user."""
    L = lang()
    if not device:
        return None
    try:
        alarms = as_user(lambda c, token: c.alarms(token, device=device, limit=20))
    except (Unavailable, AlarmsError) as e:
        return html.Div(problem(e), className="notice")
    return feed(L, alarms, empty=L.gettext("No alarm of this sensor."))
