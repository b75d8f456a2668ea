"""Street lighting: lamps on, dimmed, off and faulty per district, the faulty lamps (a
fault the lamp reports, or one the analytics found: burning by day, dark at night), the
energy used over the last day or week (from hourly means of ``activePower``) and how many
lit lamps keep the pack's dimming schedule (``light_state.on_schedule``).
"""

from __future__ import annotations

import time
from typing import Any

import dash
from dash import Input, Output, callback, dcc, html

from dashboards import events
from dashboards.chartdata import chart
from dashboards.charts import (
    LAMP_KINDS,
    PERIODS,
    compliance,
    derived_of,
    energy_kwh,
    faulty_rows,
    filters,
    grid,
    lamp_counts,
    lamp_figure,
)
from dashboards.context import hub, lang, states_now
from dashboards.i18n import N_, Lang
from dashboards.ids import Ids, query
from dashboards.wording import label

dash.register_page(  # type: ignore[no-untyped-call]
    __name__, path="/lighting", name=N_("Lighting"), title="Street lighting", order=3)

ID = Ids("lighting")
_SLOW_S = 60.0
_WINDOW_S = 3600.0
_KPIS = ("lit", "faulty", "compliance", "energy")


def _columns(L: Lang) -> list[tuple[str, str]]:
    _ = L.gettext
    return [("sensor", _("Lamp")), ("district", _("District")), ("fault", _("Fault")),
            ("updated", _("Updated"))]


def _kpi_labels(L: Lang) -> dict[str, str]:
    _ = L.gettext
    return {"lit": _("Lamps lit (on or dimmed)"), "faulty": _("Faulty lamps"),
            "compliance": _("Lit lamps on the dimming schedule"),
            "energy": _("Energy over the period (kWh)")}


def layout(district: str | None = None, period: str | None = None,
           **_query: object) -> html.Div:
    h, L = hub(), lang()
    _ = L.gettext
    labels = _kpi_labels(L)
    return html.Div(className="page lighting", children=[
        dcc.Location(id=ID("url"), refresh=False),
        filters(L, ID, h.pack, district, period),
        *events.section(ID, L),
        html.Div(className="kpis", style={"gridTemplateColumns": "repeat(4, 1fr)",
                                          "marginTop": "12px"}, children=[
            html.Div(className="kpi", children=[
                html.Div("…", id=ID(f"kpi-{key}"), className="kpi-value"),
                html.Div(labels[key], className="kpi-label")]) for key in _KPIS]),
        html.H2(_("Lamps per district"), className="section-title"),
        html.Div(id=ID("counts")),
        html.Div(id=ID("energy")),
        html.Div(style={"display": "flex", "justifyContent": "space-between",
                        "alignItems": "center"}, children=[
            html.H2(_("Faulty lamps"), className="section-title"),
            html.Button(_("Export CSV"), id=ID("export"), className="btn btn-sm "
                        "btn-outline-light"),
        ]),
        html.P(id=ID("faulty-none")),
        grid(ID("table"), _columns(L), "faulty-lamps.csv", height_px=300),
        html.Div(id=ID("updated"), className="updated-at"),
        dcc.Interval(id=ID("tick"), interval=int(h.settings.refresh_s * 1000)),
        dcc.Interval(id=ID("slow"), interval=int(max(_SLOW_S, h.settings.refresh_s) * 1000)),
    ])


def _count_table(counts: dict[str, dict[str, int]], names: dict[str, str], L: Lang
                 ) -> html.Table:
    _ = L.gettext
    head = html.Tr([html.Th(_("District")), *[html.Th(label(L, k)) for k in LAMP_KINDS]])
    body = [html.Tr([html.Td(names.get(d, d)),
                     *[html.Td(L.number(counts[d][k])) for k in LAMP_KINDS]])
            for d in sorted(counts, key=lambda d: names.get(d, d))]
    return html.Table(className="table table-sm table-dark", style={"alignSelf": "start"},
                      children=[
        html.Thead(head), html.Tbody(body)])


@callback(
    output={"counts": Output(ID("counts"), "children"),
            "rows": Output(ID("table"), "rowData"),
            "none": Output(ID("faulty-none"), "children"),
            "kpis": [Output(ID(f"kpi-{key}"), "children") for key in _KPIS[:3]],
            "updated": Output(ID("updated"), "children")},
    inputs={"_tick": Input(ID("tick"), "n_intervals"),
            "district": Input(ID("district"), "value")},
)
def refresh(_tick: int | None, district: str | None) -> dict[str, Any]:
    h, L = hub(), lang()
    _ = L.gettext
    states = states_now(domain="lighting", district=district)
    names = {d.id: d.name for d in h.pack.districts}
    counts = lamp_counts(states)
    rows = faulty_rows(states, L, names)
    n = L.number
    if not states:
        shown: Any = html.P(_("No street lights here."), className="no-data")
    elif all(s.code in ("no_data", "offline") for s in states):
        shown = html.P(_("No data: no lamp here has reported recently."), className="no-data")
    else:
        shown = html.Div(style={"display": "grid", "gridTemplateColumns": "1fr 1fr",
                                "gap": "14px"}, children=[
            chart(lamp_figure(counts, names, L), "lamps-per-district", L),
            _count_table(counts, names, L)])
    lit = sum(c["lamp_on"] + c["lamp_dimmed"] for c in counts.values())
    faulty = sum(c["lamp_fault"] for c in counts.values())
    mine = {s.id for s in states}
    flags = [row.fields.get("on_schedule") for d, row in
             derived_of(h.data.latest(), "light_state").items() if d in mine]
    kept, judged = compliance(flags)
    share = (_("{share} % ({kept} of {judged})", share=n(100 * kept / judged),
               kept=n(kept), judged=n(judged)) if judged else _("not judged now"))
    return {"counts": shown, "rows": rows,
            "none": "" if rows else _("No faulty lamps."),
            "kpis": [f"{n(lit)}/{n(len(states))}", n(faulty), share],
            "updated": _("Updated {time}", time=L.when(time.time(), with_date=False))}


@callback(Output(ID("kpi-energy"), "children"), Output(ID("energy"), "children"),
          Input(ID("slow"), "n_intervals"), Input(ID("district"), "value"),
          Input(ID("period"), "value"))
def energy(_slow: int | None, district: str | None, period: str) -> tuple[str, Any]:
    h, L = hub(), lang()
    _ = L.gettext
    stop_ns = time.time_ns()
    start_ns = stop_ns - int(PERIODS.get(period, 86400) * 1e9)
    lamps = [d for d, (_gw, s) in h.pack.sensors.items() if s.domain.value == "lighting"
             and (not district or h.pack.district_of[d] == district)]
    series = h.data.histories(measurement="lighting", devices=lamps, field="activePower",
                              start_ns=start_ns, stop_ns=stop_ns, window_s=_WINDOW_S)
    if not any(series.values()):
        return _("no data"), html.P(_("No power readings for this range."),
                                    className="no-data")
    per_district: dict[str, float] = {}
    for d, points in series.items():
        key = h.pack.district_of[d]
        per_district[key] = per_district.get(key, 0.0) + energy_kwh(points, _WINDOW_S)
    names = {d.id: d.name for d in h.pack.districts}
    total = sum(per_district.values())
    detail = html.P(", ".join(
        _("{district}: {kwh} kWh", district=names.get(d, d), kwh=L.number(v, 2))
        for d, v in sorted(per_district.items(), key=lambda x: names.get(x[0], x[0]))),
        className="att-detail")
    return L.number(total, 2), detail


@callback(Output(ID("table"), "exportDataAsCsv"), Input(ID("export"), "n_clicks"),
          prevent_initial_call=True)
def export(_clicks: int | None) -> bool:
    return True


@callback(Output(ID("url"), "search"), Input(ID("district"), "value"),
          Input(ID("period"), "value"), prevent_initial_call=True)
def share(district: str | None, period: str | None) -> str:
    """The district and the period in the URL, so the view can be shared."""
    return query(district=district, period=period)


events.register(ID, "lighting")
