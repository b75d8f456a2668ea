"""Reports over a period (the last 7 or 30 days, or chosen days):

- the **planning report** (:func:`analytics.report.build_report`, read from the store
  through :class:`~dashboards.data.CityData`): congestion hours by weekday and hour, flood
  hours at each Siaga level, rain, street-lighting faults and energy, completeness;
- the **departments' response**: per department and severity, the alarms received and the
  median and p90 minutes to acknowledge and to resolve. The alerts API has no report
  endpoint, so they are computed here from the alarms it lists (``GET /api/alarms``), each
  counted for the departments whose subscriptions in the city pack match it
  (:func:`dashboards.data.alarms.response_rows`).

Each as tables or charts, each table downloadable as CSV.
"""

from __future__ import annotations

import time
from typing import Any

import dash
from dash import Input, Output, State, callback, dcc, html

from analytics.report import build_report
from dashboards.alarmfeed import Unavailable, as_user
from dashboards.chartdata import chart
from dashboards.components import (
    Table,
    api_problem,
    csv_text,
    notice,
    period_bounds,
    planning_figures,
    planning_tables,
    response_figure,
    response_table,
    simple_table,
)
from dashboards.context import hub, lang
from dashboards.data.alarms import AlarmsError, response_rows
from dashboards.i18n import N_, Lang
from dashboards.ids import Ids

dash.register_page(  # type: ignore[no-untyped-call]
    __name__, path="/reports", name=N_("Reports"), title="Reports", order=80)

ID = Ids("reports")
TABLES = ("congestion", "flood", "rain", "lighting", "completeness")


def _table_names(L: Lang) -> dict[str, str]:
    _ = L.gettext
    return {"congestion": _("Congestion hours"), "flood": _("Flood hours"),
            "rain": _("Rain"), "lighting": _("Street lighting"),
            "completeness": _("Data completeness")}


def layout(period: str | None = None, **_query: object) -> html.Div:
    L = lang()
    _ = L.gettext
    names = _table_names(L)
    return html.Div(className="page reports", children=[
        html.Div(className="reports-tools", children=[
            dcc.RadioItems(id=ID("period"), value=period if period in ("7d", "30d", "custom")
                           else "7d", inline=True, className="radio", options=[
                               {"label": _("Last 7 days"), "value": "7d"},
                               {"label": _("Last 30 days"), "value": "30d"},
                               {"label": _("Chosen days"), "value": "custom"}]),
            dcc.DatePickerRange(id=ID("dates"), display_format="YYYY-MM-DD",
                                className="dates"),
            dcc.RadioItems(id=ID("view"), value="tables", inline=True, className="radio",
                           options=[{"label": _("Tables"), "value": "tables"},
                                    {"label": _("Charts"), "value": "charts"}]),
        ]),
        html.Section(className="report-section", children=[
            html.H2(_("Planning report")),
            html.Div(className="report-tools", children=[
                dcc.Dropdown(id=ID("table"), value="congestion", clearable=False,
                             className="filter", options=[
                                 {"label": names[t], "value": t} for t in TABLES]),
                html.Button(_("Download CSV"), id=ID("planning-csv"),
                            className="btn btn-sm btn-outline-light"),
                dcc.Download(id=ID("planning-download")),
            ]),
            dcc.Loading(html.Div(id=ID("planning"), children=notice(_("Building the "
                                                                         "report…")))),
        ]),
        html.Section(className="report-section", children=[
            html.H2(_("Departments' response")),
            html.Div(className="report-tools", children=[
                html.Button(_("Download CSV"), id=ID("response-csv"),
                            className="btn btn-sm btn-outline-light"),
                dcc.Download(id=ID("response-download")),
            ]),
            dcc.Loading(html.Div(id=ID("response"), children=notice(_("Building the "
                                                                         "report…")))),
        ]),
        dcc.Store(id=ID("data")),
    ])


def _show(L: Lang, table: Table, view_id: str) -> Any:
    keys, header, rows = table
    return simple_table(header, [[("" if r.get(k) is None else r.get(k)) for k in keys]
                                 for r in rows], id=view_id,
                        empty=L.gettext("No data for this period."))


@callback(
    Output(ID("planning"), "children"), Output(ID("response"), "children"),
    Output(ID("data"), "data"),
    Input(ID("period"), "value"), Input(ID("dates"), "start_date"),
    Input(ID("dates"), "end_date"), Input(ID("view"), "value"), Input(ID("table"), "value"),
)
def build(period: str, start_date: str | None, end_date: str | None, view: str,
          table: str) -> tuple[Any, Any, Any]:
    """Both reports of the period, as tables or charts; their tables kept for download."""
    h, L = hub(), lang()
    _ = L.gettext
    bounds = period_bounds(period, start_date, end_date, now=time.time(),
                           timezone=h.pack.city.timezone)
    if bounds is None:
        said = notice(_("Choose the first and the last day of the period."), "warning")
        return said, said, None
    start, stop = bounds
    names = {d.id: d.name for d in h.pack.districts}
    pack = h.pack
    rep = h.data.with_store(lambda store: build_report(pack, store, start, stop))
    tables = planning_tables(L, rep, names)
    if not any(rep.received.values()):
        planning: Any = notice(_("No data for this period."), "warning")
    elif view == "charts":
        planning = [chart(fig, f"planning-{name}", L, id=ID(f"chart-{name}"))
                    for name, fig in planning_figures(L, rep, names).items()]
    else:
        planning = _show(L, tables[table], ID("planning-table"))
    stored: dict[str, Any] = {"planning": {k: list(v) for k, v in tables.items()}}
    response: Any
    try:  # the alerts API as the logged-in user (dashboards/alarmfeed.py)
        alarms = as_user(lambda c, token: c.all_alarms(
            token, since=start.timestamp(), until=stop.timestamp()))
    except Unavailable as e:
        response = notice(str(e), "warning")
    except AlarmsError as e:
        response = notice(api_problem(L, e), "error")
    else:
        rows = response_rows(h.pack, alarms, start.timestamp(), stop.timestamp())
        rt = response_table(L, rows)
        stored["response"] = list(rt)
        if not rows:
            response = notice(_("No alarm reached a department in this period."))
        elif view == "charts":
            response = chart(response_figure(L, rows), "response", L,
                             id=ID("chart-response"))
        else:
            response = _show(L, rt, ID("response-table"))
    return planning, response, stored


@callback(Output(ID("planning-download"), "data"), Input(ID("planning-csv"), "n_clicks"),
          State(ID("data"), "data"), State(ID("table"), "value"), prevent_initial_call=True)
def download_planning(_clicks: int | None, data: dict[str, Any] | None, table: str
                      ) -> Any:
    if not data or table not in data.get("planning", {}):
        return dash.no_update
    keys, header, rows = data["planning"][table]
    return {"content": csv_text(keys, header, rows), "filename": f"planning-{table}.csv",
            "type": "text/csv"}


@callback(Output(ID("response-download"), "data"), Input(ID("response-csv"), "n_clicks"),
          State(ID("data"), "data"), prevent_initial_call=True)
def download_response(_clicks: int | None, data: dict[str, Any] | None) -> Any:
    if not data or "response" not in data:
        return dash.no_update
    keys, header, rows = data["response"]
    return {"content": csv_text(keys, header, rows), "filename": "response.csv",
            "type": "text/csv"}
