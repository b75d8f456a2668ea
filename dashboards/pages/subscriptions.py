"""Subscriptions: which alarms reach each department. The city pack's subscriptions (read
only: they change with the pack) and those a department added at run time, through the
alerts API, as the logged-in user.

A department's operators manage its own subscriptions (an admin any department's); the
page checks the role before it asks, and the alerts API checks the role and the
department again. Everyone logged in may read them.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, dcc, html

from accounts import Role
from cityhub.fields import Domain
from cityhub.levels import SEVERITIES
from dashboards import auth
from dashboards.alarmfeed import Unavailable, as_user, problem
from dashboards.components import severity_label
from dashboards.context import current_city, hub, lang
from dashboards.data.alarms import AlarmsError
from dashboards.grid import grid
from dashboards.i18n import N_, Lang
from dashboards.ids import SHELL_CITY, Ids, query

dash.register_page(  # type: ignore[no-untyped-call]
    __name__, path="/subscriptions", name=N_("Subscriptions"), title="Subscriptions",
    order=40)

ID = Ids("subscriptions")


def subscription_rows(L: Lang, subs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per subscription, in the user's words (all: the field was left empty)."""
    _ = L.gettext
    h = hub()
    districts = {d.id: d.name for d in h.pack.districts}
    every = _("all")
    rows = []
    for s in subs:
        rows.append({
            "id": s.get("id"), "department": s["department"],
            "source": _("city pack") if s.get("source") == "pack" else _("added"),
            "domains": ", ".join(s.get("domains") or []) or every,
            "districts": ", ".join(districts.get(d, d) for d in s.get("districts") or [])
            or every,
            "min_severity": severity_label(L, str(s.get("min_severity", ""))),
            "rules": ", ".join(s.get("rules") or []) or every,
            "created": (f"{s['created_by']}, {L.when(float(s['created_at']))}"
                        if s.get("created_by") and s.get("created_at") else "")})
    return rows


def _columns(L: Lang) -> list[dict[str, Any]]:
    _ = L.gettext
    return [{"field": "department", "headerName": _("Department")},
            {"field": "source", "headerName": _("Source"), "maxWidth": 130},
            {"field": "domains", "headerName": _("Domains")},
            {"field": "districts", "headerName": _("Districts")},
            {"field": "min_severity", "headerName": _("From severity"), "maxWidth": 150},
            {"field": "rules", "headerName": _("Rules")},
            {"field": "created", "headerName": _("Added by")}]


def _may_change(department: str | None, whoami: dict[str, Any] | None, city: str) -> bool:
    """What the API allows: an admin, or an operator of that department of ``city`` (a
    user's department is of their own city: the one they are scoped to, or the only
    one the alerts service serves)."""
    if not department or not whoami:
        return False
    role = Role(str(whoami.get("role", "viewer")))
    scoped = whoami.get("city")
    own = scoped == city if scoped else len(whoami.get("cities") or ()) <= 1
    return role.allows(Role.ADMIN) or (role.allows(Role.OPERATOR) and own
                                       and whoami.get("department") == department)


def layout(department: str | None = None, **_query: object) -> html.Div:
    h, L = hub(), lang()
    _ = L.gettext
    departments = [{"label": d.name, "value": d.id} for d in h.pack.alerts.departments]
    return html.Div(className="page subscriptions", children=[
        html.H1(_("Subscriptions")),
        html.P(_("Which alarms reach each department. The city pack's subscriptions change "
                 "with the pack; a department's operators add and remove their own here."),
               className="summary"),
        dcc.Location(id=ID("url"), refresh=False),
        dcc.Store(id=ID("whoami")),
        dcc.Store(id=ID("changed"), data=0),
        html.Div(className="alarms-tools", children=[
            dcc.Dropdown(id=ID("department"), options=departments, value=department,
                         placeholder=_("All departments"), className="filter"),
            html.Span(id=ID("who"), className="user-name"),
        ]),
        html.Div(id=ID("message")),
        grid(ID("table"), _columns(L), csv_name="subscriptions.csv",
             rowSelection={"mode": "singleRow", "checkboxes": False,
                           "enableClickSelection": True}),
        html.Div(className="action-row", children=[
            html.Button(_("Remove the selected subscription"), id=ID("remove"),
                        className="btn btn-sm btn-outline-danger", disabled=True),
            html.Button(_("Export CSV"), id=ID("csv"), className="btn btn-sm btn-secondary"),
        ]),
        html.H2(_("Add a subscription"), className="section-title"),
        dbc.Row(className="g-2", children=[
            dbc.Col(md=3, children=[
                html.Label(_("Domains (none ticked: all)")),
                dcc.Checklist(id=ID("domains"), options=[
                    {"label": " " + d.value, "value": d.value} for d in Domain], value=[],
                    labelStyle={"display": "block"})]),
            dbc.Col(md=3, children=[
                html.Label(_("Districts (none: all)")),
                dcc.Dropdown(id=ID("districts"), multi=True, className="filter",
                             options=[{"label": d.name, "value": d.id}
                                      for d in h.pack.districts])]),
            dbc.Col(md=2, children=[
                html.Label(_("From severity")),
                dcc.RadioItems(id=ID("severity"), value="warning", options=[
                    {"label": " " + severity_label(L, s), "value": s} for s in SEVERITIES],
                    labelStyle={"display": "block"})]),
            dbc.Col(md=4, children=[
                html.Label(_("Only these rules (none: all)")),
                dcc.Dropdown(id=ID("rules"), multi=True, className="filter",
                             options=[{"label": r.name or r.id, "value": r.id}
                                      for r in h.pack.alerts.rules])]),
        ]),
        html.Button(_("Add"), id=ID("add"), className="btn btn-sm btn-info mt-2",
                    disabled=True),
        html.Div(id=ID("feedback"), className="summary"),
    ])


@callback(Output(ID("whoami"), "data"), Output(ID("who"), "children"),
          Input(ID("url"), "pathname"))
def whoami(_path: str | None) -> tuple[Any, str]:
    """Who the API says the user is: their role and department decide the buttons."""
    L = lang()
    try:
        me = as_user(lambda c, token: c.whoami(token))
    except (Unavailable, AlarmsError):
        return None, ""
    dept = me.get("department")
    return me, (L.gettext("You act for {department}.", department=dept) if dept
                else L.gettext("Your account belongs to no department."))


@callback(Output(ID("table"), "rowData"), Output(ID("message"), "children"),
          Input(ID("department"), "value"), Input(ID("changed"), "data"))
def refresh(department: str | None, _changed: int) -> tuple[list[dict[str, Any]], Any]:
    L = lang()
    try:
        subs = as_user(lambda c, token: c.subscriptions(token, department))
    except (Unavailable, AlarmsError) as e:
        return [], html.Div(problem(e), className="notice")
    return subscription_rows(L, subs), None


@callback(Output(ID("url"), "search"), Input(ID("department"), "value"),
          prevent_initial_call=True)
def share(department: str | None) -> str:
    """The department in the URL, so the view can be shared."""
    return query(department=department)


@callback(Output(ID("add"), "disabled"), Output(ID("remove"), "disabled"),
          Input(ID("department"), "value"), Input(ID("whoami"), "data"),
          Input(ID("table"), "selectedRows"))
def buttons(department: str | None, me: dict[str, Any] | None,
            selected: list[dict[str, Any]] | None) -> tuple[bool, bool]:
    """Add needs a department picked that the user may change; remove, a selected
    subscription added at run time (the pack's are read only) of such a department."""
    row = selected[0] if selected else None
    removable = row is not None and row.get("id") is not None \
        and _may_change(row.get("department"), me, current_city())
    return not _may_change(department, me, current_city()), not removable


@callback(Output(ID("feedback"), "children"), Output(ID("changed"), "data"),
          Input(ID("add"), "n_clicks"), Input(ID("remove"), "n_clicks"),
          State(ID("department"), "value"), State(ID("domains"), "value"),
          State(ID("districts"), "value"), State(ID("severity"), "value"),
          State(ID("rules"), "value"), State(ID("table"), "selectedRows"),
          State(ID("changed"), "data"), State(SHELL_CITY, "data"), prevent_initial_call=True)
def change(_add: int | None, _remove: int | None, department: str | None,
           domains: list[str] | None, districts: list[str] | None, severity: str | None,
           rules: list[str] | None, selected: list[dict[str, Any]] | None,
           changed: int, shown: str | None) -> tuple[str, int]:
    """Add or remove, as the logged-in user; an operator at least (the API also checks
    the department). Only in the city the page shows: a subscription's id is its city's,
    and another tab may have switched the session to another city meanwhile."""
    L = lang()
    _ = L.gettext
    if shown is not None and shown != current_city():
        return _("The city was changed in another tab: reload this page first."), changed
    try:
        auth.require(Role.OPERATOR)
        if ctx.triggered_id == ID("add"):
            if not department:
                return _("Pick a department first."), changed
            as_user(lambda c, token: c.add_subscription(
                token, department, domains=domains or (), districts=districts or (),
                min_severity=severity or "warning", rules=rules or ()))
            return _("Added."), changed + 1
        row = selected[0] if selected else None
        if row is None or not str(row.get("id", "")).isdigit():
            return _("Select a subscription added here (the city pack's are read only)."), \
                changed
        as_user(lambda c, token: c.remove_subscription(token, int(row["id"])))
        return _("Removed."), changed + 1
    except auth.Refused as e:
        return _("You are not allowed: {reason}", reason=str(e)), changed
    except (Unavailable, AlarmsError) as e:
        return problem(e), changed


@callback(Output(ID("table"), "exportDataAsCsv"), Input(ID("csv"), "n_clicks"),
          prevent_initial_call=True)
def export(_clicks: int) -> bool:
    return True
