"""Gateways: which are online, when each was last heard, what it has queued (backlog and
its oldest reading's age), what it dropped, which version it runs and which of its sensors
its drivers report faulty. From the gateways' retained status messages
(:class:`~dashboards.data.live.LiveFeed`); every gateway of the pack is listed, those
never heard from too."""

from __future__ import annotations

import time
from typing import Any

import dash
from dash import Input, Output, callback, dcc, html

from dashboards.context import hub, lang
from dashboards.data.live import GatewayStatus
from dashboards.grid import grid
from dashboards.i18n import N_, Lang
from dashboards.ids import Ids

dash.register_page(  # type: ignore[no-untyped-call]
    __name__, path="/gateways", name=N_("Gateways"), title="Gateways", order=60)

ID = Ids("gateways")


def gateway_rows(L: Lang, statuses: dict[str, GatewayStatus], now: float,
                 silent_after_s: float) -> list[dict[str, Any]]:
    """One row per gateway of the pack, worst first (offline, silent, then by backlog)."""
    _ = L.gettext
    h = hub()
    rows = []
    for gw in h.pack.gateways:
        s = statuses.get(gw.id)
        if s is None:
            state, rank = _("never heard from"), 1
        elif s.state == "offline":
            state, rank = _("offline"), 0
        elif now - s.received_at > silent_after_s:
            state, rank = _("silent"), 1
        else:
            state, rank = _("online"), 3 if not s.faulty_sensors else 2
        rows.append({
            "gateway": gw.id, "name": gw.name or gw.id, "district": gw.district or "",
            "state": state, "rank": rank, "sensors": len(gw.sensors),
            "last_seen": L.ago(now - s.received_at) if s else "",
            "backlog": s.backlog if s and s.backlog is not None else None,
            "oldest": L.ago(s.oldest_age_s) if s and s.oldest_age_s else "",
            "dropped": s.dropped if s else None, "version": s.version if s else "",
            "faulty": ", ".join(s.faulty_sensors) if s else "",
            "error": s.broker_error or "" if s else ""})
    return sorted(rows, key=lambda r: (r["rank"], -(r["backlog"] or 0), r["gateway"]))


def _columns(L: Lang) -> list[dict[str, Any]]:
    _ = L.gettext
    return [
        {"field": "gateway", "headerName": _("Gateway"), "pinned": "left"},
        {"field": "name", "headerName": _("Name")},
        {"field": "district", "headerName": _("District")},
        {"field": "state", "headerName": _("State"),
         "cellClassRules": {"cell-bad": "params.data.rank == 0",
                            "cell-warn": "params.data.rank == 1 || params.data.rank == 2"}},
        {"field": "last_seen", "headerName": _("Last heard")},
        {"field": "backlog", "headerName": _("Queued readings"), "type": "numericColumn"},
        {"field": "oldest", "headerName": _("Oldest queued")},
        {"field": "dropped", "headerName": _("Dropped"), "type": "numericColumn"},
        {"field": "sensors", "headerName": _("Sensors"), "type": "numericColumn"},
        {"field": "faulty", "headerName": _("Faulty sensors")},
        {"field": "version", "headerName": _("Version")},
        {"field": "error", "headerName": _("Broker error")},
    ]


def layout(**_query: object) -> html.Div:
    h, L = hub(), lang()
    _ = L.gettext
    missing = None if h.live is not None else _(
        "No broker is configured for the dashboards, so gateway statuses are unknown: "
        "start them with --broker-host (cityhub dashboard --help).")
    return html.Div(className="page gateways", children=[
        html.H1(_("Gateways")),
        html.Div(missing, id=ID("missing"), className="notice" if missing else "hidden"),
        html.Div(id=ID("summary"), className="summary"),
        html.Button(_("Export CSV"), id=ID("csv"), className="btn btn-sm btn-secondary"),
        grid(ID("table"), _columns(L), csv_name="gateways.csv"),
        dcc.Interval(id=ID("tick"), interval=int(h.settings.refresh_s * 1000)),
    ])


@callback(Output(ID("table"), "rowData"), Output(ID("summary"), "children"),
          Input(ID("tick"), "n_intervals"))
def refresh(_tick: int | None) -> tuple[list[dict[str, Any]], str]:
    h, L = hub(), lang()
    statuses = h.live.gateways() if h.live else {}
    rows = gateway_rows(L, statuses, time.time(), h.settings.stale_after_s)
    online = sum(1 for r in rows if r["rank"] >= 2)
    queued = sum(r["backlog"] or 0 for r in rows)
    return rows, L.gettext("{online} of {total} gateways online; {queued} readings queued",
                           online=L.number(online), total=L.number(len(rows)),
                           queued=L.number(queued))


@callback(Output(ID("table"), "exportDataAsCsv"), Input(ID("csv"), "n_clicks"),
          prevent_initial_call=True)
def export(_clicks: int) -> bool:
    return True
