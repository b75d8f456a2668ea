"""Reusable page pieces, pure (data in, components, rows or figures out; no requests):

- :func:`notice`: the line a page shows instead of a blank area;
- :func:`api_problem`: what to tell the user of a failed alerts API call;
- :func:`alarm_rows`, :func:`alarm_table`: a list of alarms (the API's JSON) as a table;
- :func:`fields_list`, :func:`simple_table`: small read-only tables of a detail panel;
- :func:`csv_text`: rows as CSV, for ``dcc.Download``;
- the reports' tables and figures: :func:`planning_tables`, :func:`planning_figures`,
  :func:`response_table`, :func:`response_figure`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import plotly.graph_objects as go
from dash import html

from analytics.report import WEEKDAYS, Report
from dashboards.charts import sensor_link
from dashboards.data.alarms import AlarmsError, ResponseRow
from dashboards.grid import grid
from dashboards.i18n import Lang

__all__ = ["Table", "alarm_columns", "alarm_rows", "alarm_table", "api_problem",
           "csv_text", "fields_list", "notice", "period_bounds", "planning_figures",
           "planning_tables", "response_figure", "response_table", "severity_label",
           "simple_table", "state_label"]

#: a table: its column keys, their headers, its rows (dicts by key)
Table = tuple[list[str], list[str], list[dict[str, Any]]]


def notice(text: str, kind: str = "info", id: str | None = None) -> html.Div:
    """One line that says what is missing or what happened (``kind``: info, warning,
    error, ok), never a blank area."""
    props: dict[str, Any] = {"id": id} if id else {}
    return html.Div(text, className=f"notice notice-{kind}", role="status", **props)


def api_problem(L: Lang, error: AlarmsError) -> str:
    """What a failed alerts API call means to the user."""
    _ = L.gettext
    if error.kind == "unreachable":
        return _("The alerts service is not reachable ({url}).", url=error.url)
    if error.kind == "refused":
        return _("You are not allowed: {reason}", reason=error.message)
    return error.message


def state_label(L: Lang, state: str) -> str:
    _ = L.gettext
    return {"open": _("open"), "acknowledged": _("acknowledged"), "resolved": _("resolved"),
            "closed": _("closed")}.get(state, state)


def severity_label(L: Lang, severity: str) -> str:
    _ = L.gettext
    return {"info": _("info"), "warning": _("warning"), "critical": _("critical")
            }.get(severity, severity)


def alarm_rows(L: Lang, alarms: Iterable[Mapping[str, Any]],
               districts: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per alarm, in the user's words and the city's time (``districts``: names
    by id)."""
    names = districts or {}
    rows = []
    for a in alarms:
        device = a.get("device") or ""
        rows.append({
            "id": a["id"], "severity": severity_label(L, str(a["severity"])),
            "severity_code": a["severity"], "state": state_label(L, str(a["state"])),
            "rule": a.get("title") or a["rule"], "device": device,
            "device_link": sensor_link(device, device) if device else "",
            "district": names.get(a.get("district") or "", a.get("district") or ""),
            "opened": L.when(float(a["opened_at"])), "opened_at": float(a["opened_at"]),
            "assignee": a.get("assignee") or "",
            "acknowledged_by": a.get("acknowledged_by") or ""})
    return rows


def alarm_columns(L: Lang) -> list[dict[str, Any]]:
    _ = L.gettext
    return [
        {"field": "severity", "headerName": _("Severity"), "maxWidth": 130,
         "cellClass": {"function": "'sev-cell sev-' + params.data.severity_code"}},
        {"field": "state", "headerName": _("State"), "maxWidth": 150},
        {"field": "rule", "headerName": _("Rule")},
        {"field": "device_link", "headerName": _("Device"), "cellRenderer": "markdown"},
        {"field": "district", "headerName": _("District")},
        {"field": "opened", "headerName": _("Opened"), "sort": "desc",
         "comparator": {"function": "nodeA.data.opened_at - nodeB.data.opened_at"}},
        {"field": "assignee", "headerName": _("Assignee")},
        {"field": "acknowledged_by", "headerName": _("Acknowledged by")},
    ]


def alarm_table(id: str, L: Lang, rows: list[dict[str, Any]] | None = None, *,
                csv_name: str = "alarms.csv") -> Any:
    """A sortable, filterable alarm table; a click selects one row (``selectedRows``),
    kept across refreshes (rows are known by the alarm's id)."""
    table = grid(id, alarm_columns(L), csv_name=csv_name, rows=rows,
                 rowSelection={"mode": "singleRow", "checkboxes": False,
                               "enableClickSelection": True})
    table.getRowId = "params.data.id"
    return table


def fields_list(items: Sequence[tuple[str, Any]], className: str = "fields") -> html.Dl:
    """Label / value pairs (those with an empty value are left out)."""
    children: list[Any] = []
    for label, value in items:
        if not (value is None or (isinstance(value, str) and not value)):
            children += [html.Dt(label), html.Dd(value)]
    return html.Dl(children, className=className)


def simple_table(header: Sequence[str], rows: Iterable[Sequence[Any]], *,
                 empty: str, className: str = "simple-table", id: str | None = None
                 ) -> html.Div | html.Table:
    """A small read-only HTML table, or ``empty`` said when there are no rows."""
    body = [html.Tr([html.Td(str(c)) for c in r]) for r in rows]
    props: dict[str, Any] = {"id": id} if id else {}
    if not body:
        return html.Div(empty, className="empty", **props)
    return html.Table([html.Thead(html.Tr([html.Th(h) for h in header])), html.Tbody(body)],
                      className=className, **props)


def csv_text(keys: Sequence[str], header: Sequence[str], rows: Iterable[Mapping[str, Any]]
             ) -> str:
    """The rows' ``keys`` as CSV, under ``header``."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for r in rows:
        w.writerow(["" if r.get(k) is None else r.get(k) for k in keys])
    return buf.getvalue()


# -- reports ---------------------------------------------------------------------------------


def period_bounds(choice: str, start_date: str | None, end_date: str | None, *,
                  now: float, timezone: str) -> tuple[dt.datetime, dt.datetime] | None:
    """The period a report covers: the last 7 or 30 days up to ``now`` ("7d", "30d"), or
    the city's local calendar days ``start_date`` to ``end_date`` inclusive ("custom",
    ISO dates); None when a custom period is incomplete or ends before it starts."""
    zone = ZoneInfo(timezone)
    stop = dt.datetime.fromtimestamp(now, zone)
    if choice in ("7d", "30d"):
        return stop - dt.timedelta(days=int(choice[:-1])), stop
    if not start_date or not end_date:
        return None
    first = dt.date.fromisoformat(start_date[:10])
    last = dt.date.fromisoformat(end_date[:10])
    if last < first:
        return None
    return (dt.datetime.combine(first, dt.time(), zone),
            dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone))


def _r(x: float | None, digits: int = 1) -> float | None:
    return None if x is None else round(float(x), digits)


def planning_tables(L: Lang, rep: Report, districts: Mapping[str, str] | None = None
                    ) -> dict[str, Table]:
    """The planning report as tables (by name: congestion, flood, rain, lighting,
    completeness), district by district."""
    _ = L.gettext
    names = districts or {}

    def name(d: str) -> str:
        return names.get(d, d)

    congestion = [{"district": name(d), "weekday": WEEKDAYS[w], "hour": h,
                   "hours": round(float(g[w, h]), 3)}
                  for d, g in sorted(rep.congestion_h.items())
                  for w in range(7) for h in range(24) if g[w, h] > 0]
    flood = [{"district": name(d), **{f"siaga_{lvl}": round(by.get(lvl, 0.0), 3)
                                      for lvl in (4, 3, 2, 1)}}
             for d, by in sorted(rep.flood_h.items())]
    rain = [{"district": name(d), "mm": round(v, 2)} for d, v in sorted(rep.rain_mm.items())]
    lighting = [{"district": name(d), "readings": n, "faults": rep.lamp_faults.get(d, 0),
                 "fault_rate": round(rep.lamp_faults.get(d, 0) / n, 4),
                 "energy_kwh": round(rep.energy_kwh.get(d, 0.0), 3)}
                for d, n in sorted(rep.lamp_readings.items()) if n]
    complete = [{"district": name(d), "expected": rep.expected[d],
                 "received": rep.received.get(d, 0),
                 "completeness": round(rep.received.get(d, 0) / rep.expected[d], 4)
                 if rep.expected[d] else None} for d in sorted(rep.expected)]
    return {
        "congestion": (["district", "weekday", "hour", "hours"],
                       [_("District"), _("Weekday"), _("Hour"), _("Congestion hours")],
                       congestion),
        "flood": (["district", "siaga_4", "siaga_3", "siaga_2", "siaga_1"],
                  [_("District"), "Siaga IV (h)", "Siaga III (h)", "Siaga II (h)",
                   "Siaga I (h)"], flood),
        "rain": (["district", "mm"], [_("District"), _("Rain (mm)")], rain),
        "lighting": (["district", "readings", "faults", "fault_rate", "energy_kwh"],
                     [_("District"), _("Lamp readings"), _("Fault readings"),
                      _("Fault rate"), _("Energy (kWh)")], lighting),
        "completeness": (["district", "expected", "received", "completeness"],
                         [_("District"), _("Expected"), _("Received"), _("Completeness")],
                         complete),
    }


def _dark(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title=title, template="plotly_dark", paper_bgcolor="rgba(0,0,0,0)",
                      plot_bgcolor="rgba(0,0,0,0)", margin={"l": 50, "r": 20, "t": 50,
                                                            "b": 40}, height=320)
    return fig


def planning_figures(L: Lang, rep: Report, districts: Mapping[str, str] | None = None
                     ) -> dict[str, go.Figure]:
    """The planning report as charts (by name: congestion, flood, lighting,
    completeness)."""
    _ = L.gettext
    names = districts or {}
    total = sum(rep.congestion_h.values(), np.zeros((7, 24)))
    flood_d = sorted(rep.flood_h)
    lamp_d = sorted(d for d, n in rep.lamp_readings.items() if n)
    done_d = sorted(rep.expected)
    return {
        "congestion": _dark(go.Figure(go.Heatmap(
            z=total.tolist(), x=list(range(24)), y=list(WEEKDAYS), colorscale="Reds",
            hovertemplate="%{y} %{x}:00: %{z:.1f} h<extra></extra>")),
            _("Congestion hours (LOS E-F) by weekday and hour")),
        "flood": _dark(go.Figure([
            go.Bar(name=f"Siaga {roman}", x=[names.get(d, d) for d in flood_d],
                   y=[rep.flood_h[d].get(lvl, 0.0) for d in flood_d], marker_color=colour)
            for lvl, roman, colour in ((4, "IV", "#22c55e"), (3, "III", "#eab308"),
                                       (2, "II", "#f97316"), (1, "I", "#dc2626"))],
            layout={"barmode": "stack"}), _("Flood hours at each Siaga level")),
        "lighting": _dark(go.Figure(go.Bar(
            x=[names.get(d, d) for d in lamp_d],
            y=[rep.energy_kwh.get(d, 0.0) for d in lamp_d], marker_color="#facc15")),
            _("Street-lighting energy (kWh)")),
        "completeness": _dark(go.Figure(go.Bar(
            x=[names.get(d, d) for d in done_d],
            y=[rep.received.get(d, 0) / rep.expected[d] if rep.expected[d] else 0
               for d in done_d], marker_color="#38bdf8")), _("Data completeness")),
    }


def response_table(L: Lang, rows: Sequence[ResponseRow]) -> Table:
    """The departments' response figures as a table (minutes)."""
    _ = L.gettext
    keys = ["department", "severity", "received", "acknowledged", "ack_median_min",
            "ack_p90_min", "resolved", "resolve_median_min", "resolve_p90_min",
            "open_at_end"]
    header = [_("Department"), _("Severity"), _("Received"), _("Acknowledged"),
              _("Acknowledge, median (min)"), _("Acknowledge, p90 (min)"), _("Resolved"),
              _("Resolve, median (min)"), _("Resolve, p90 (min)"), _("Open at the end")]
    out = [{"department": r.department, "severity": severity_label(L, r.severity),
            "received": r.received, "acknowledged": r.acknowledged,
            "ack_median_min": _r(r.ack_median_min), "ack_p90_min": _r(r.ack_p90_min),
            "resolved": r.resolved, "resolve_median_min": _r(r.resolve_median_min),
            "resolve_p90_min": _r(r.resolve_p90_min), "open_at_end": r.open_at_end}
           for r in rows]
    return keys, header, out


def response_figure(L: Lang, rows: Sequence[ResponseRow]) -> go.Figure:
    """Median minutes to acknowledge and to resolve, per department and severity."""
    _ = L.gettext
    x = [f"{r.department} · {severity_label(L, r.severity)}" for r in rows]
    return _dark(go.Figure([
        go.Bar(name=_("Acknowledge, median (min)"), x=x,
               y=[r.ack_median_min for r in rows], marker_color="#38bdf8"),
        go.Bar(name=_("Resolve, median (min)"), x=x,
               y=[r.resolve_median_min for r in rows], marker_color="#a78bfa")],
        layout={"barmode": "group"}), _("Response times per department"))
