"""Alarms: the alerts service's alarms, filtered (state, severity, domain, district; kept
in the URL so a view can be shared), refreshed live, exported as CSV, and a detail panel
for the selected one: its fields, comments, audit trail and deliveries, with the
operator's actions (acknowledge, assign, comment, resolve, close).

Everything goes through the alerts API (:class:`~dashboards.data.alarms.AlarmsClient`)
with the logged-in user's API token, so the API checks the user's role too and the audit
trail names them. An operator's action is checked here first
(``auth.require(Role.OPERATOR)``): a viewer's buttons are disabled, and a click that
reaches the server anyway is refused with the reason.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, dcc, html

from accounts import Role
from cityhub.levels import SEVERITIES
from dashboards import auth
from dashboards.alarmfeed import Unavailable, as_user, problem
from dashboards.components import (
    alarm_rows,
    alarm_table,
    csv_text,
    fields_list,
    notice,
    severity_label,
    simple_table,
    state_label,
)
from dashboards.context import hub, lang
from dashboards.data.alarms import AlarmsClient, AlarmsError
from dashboards.i18n import N_, Lang
from dashboards.ids import Ids, query

dash.register_page(  # type: ignore[no-untyped-call]
    __name__, path="/alarms", name=N_("Alarms"), title="Alarms", order=30)

ID = Ids("alarms")
STATES = ("open", "acknowledged", "resolved", "closed")
DOMAINS = ("flood", "traffic", "rain", "lighting", "gateway")
ACTIONS = ("acknowledge", "assign", "comment", "resolve", "close")
CSV_KEYS = ["id", "severity", "state", "rule", "device", "district", "opened", "assignee",
            "acknowledged_by"]




def _domain_label(L: Lang, domain: str) -> str:
    _ = L.gettext
    return {"flood": _("flood"), "traffic": _("traffic"), "rain": _("rain"),
            "lighting": _("street lighting"), "gateway": _("gateways")}.get(domain, domain)


def layout(state: str | None = None, severity: str | None = None, domain: str | None = None,
           district: str | None = None, **_query: object) -> html.Div:
    h, L = hub(), lang()
    _ = L.gettext
    user = auth.current()
    may_act = user is not None and user.allows(Role.OPERATOR)
    states = [s for s in (state or "").split(",") if s in STATES]
    configured = h.settings.alerts_api is not None
    return html.Div(className="page alarms", children=[
        dcc.Location(id=ID("url"), refresh=False),
        html.Div(className="alarms-tools", children=[
            dcc.Dropdown(id=ID("state"), multi=True, value=states, className="filter",
                         placeholder=_("Any state"),
                         options=[{"label": state_label(L, s), "value": s} for s in STATES]),
            dcc.Dropdown(id=ID("severity"), value=severity if severity in SEVERITIES
                         else None, className="filter", placeholder=_("Any severity"),
                         options=[{"label": severity_label(L, s), "value": s}
                                  for s in SEVERITIES]),
            dcc.Dropdown(id=ID("domain"), value=domain if domain in DOMAINS else None,
                         className="filter", placeholder=_("Any domain"),
                         options=[{"label": _domain_label(L, d), "value": d}
                                  for d in DOMAINS]),
            dcc.Dropdown(id=ID("district"), value=district, className="filter",
                         placeholder=_("All districts"),
                         options=[{"label": d.name, "value": d.id}
                                  for d in h.pack.districts]),
            html.Button(_("Export CSV"), id=ID("export"), className="btn btn-sm "
                        "btn-outline-light"),
            dcc.Download(id=ID("download")),
        ]),
        html.Div(id=ID("message"), children=notice(
            _("Loading alarms…") if configured else _(
                "The alerts API is not configured (start the dashboards with "
                "--alerts-api)."), "info" if configured else "warning")),
        html.Div(className="alarms-body", children=[
            html.Div(className="alarms-list", children=[alarm_table(ID("table"), L)]),
            html.Aside(className="alarm-detail", children=[
                html.Div(className="alarm-actions", children=[
                    html.Div(className="action-row", children=[
                        dbc.Button(_("Acknowledge"), id=ID("acknowledge"), size="sm",
                                   color="warning", disabled=True),
                        dbc.Button(_("Resolve"), id=ID("resolve"), size="sm",
                                   color="success", disabled=True),
                        dbc.Button(_("Close"), id=ID("close"), size="sm", color="secondary",
                                   disabled=True),
                    ]),
                    html.Div(className="action-row", children=[
                        dcc.Input(id=ID("assignee"), type="text", debounce=False,
                                  placeholder=_("User name"), className="form-control "
                                  "form-control-sm", disabled=not may_act),
                        dbc.Button(_("Assign"), id=ID("assign"), size="sm", color="info",
                                   disabled=True),
                    ]),
                    html.Div(className="action-row", children=[
                        dcc.Textarea(id=ID("comment-text"), placeholder=_("Comment"),
                                     className="form-control form-control-sm",
                                     disabled=not may_act),
                        dbc.Button(_("Comment"), id=ID("comment"), size="sm",
                                   color="primary", disabled=True),
                    ]),
                    html.Div(id=ID("feedback"), className="action-feedback",
                             children=None if may_act else notice(
                                 _("Acting on alarms needs the operator role."), "info")),
                ]),
                html.Div(id=ID("detail"), children=notice(_("Select an alarm to see it."))),
            ]),
        ]),
        dcc.Store(id=ID("changed"), data=0),
        dcc.Store(id=ID("rows-key")),
        dcc.Interval(id=ID("tick"), interval=int(h.settings.refresh_s * 1000)),
        # the selected alarm's own refresh, slower: Dash drops a callback's answer when
        # its Input fires again before it came (plotly/dash#1613), and the detail asks
        # the API three times; on the table's tick, under load it would never show
        dcc.Interval(id=ID("detail-tick"),
                     interval=int(max(4 * h.settings.refresh_s, 5.0) * 1000)),
    ])


@callback(
    Output(ID("table"), "rowData"), Output(ID("rows-key"), "data"),
    Output(ID("message"), "children"),
    Input(ID("tick"), "n_intervals"), Input(ID("changed"), "data"),
    Input(ID("state"), "value"), Input(ID("severity"), "value"),
    Input(ID("domain"), "value"), Input(ID("district"), "value"),
    State(ID("rows-key"), "data"),
)
def refresh(_tick: int | None, _changed: int | None, state: list[str] | None,
            severity: str | None, domain: str | None, district: str | None,
            shown: str | None) -> tuple[Any, Any, Any]:
    """The alarms matching the filters, newest first; the table is left alone when they
    are what it shows (``shown``: their key), so the detail follows only a change."""
    h, L = hub(), lang()
    try:
        alarms = as_user(lambda c, t: c.alarms(t, state=state or (), severity=severity,
                                            domain=domain, district=district, limit=500))
    except (AlarmsError, Unavailable) as e:
        return [], None, notice(problem(e), "error")
    names = {d.id: d.name for d in h.pack.districts}
    rows = alarm_rows(L, alarms, names)
    said = notice(L.gettext("Alarms: {n} · updated {time}", n=L.number(len(rows)),
                            time=L.when(time.time(), with_date=False)), "info")
    key = hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()
    if key == shown:
        return dash.no_update, dash.no_update, said
    return rows, key, said


@callback(Output(ID("url"), "search"),
          Input(ID("state"), "value"), Input(ID("severity"), "value"),
          Input(ID("domain"), "value"), Input(ID("district"), "value"),
          prevent_initial_call=True)
def share(state: list[str] | None, severity: str | None, domain: str | None,
          district: str | None) -> str:
    """The filters in the URL, so the view can be shared."""
    return query(state=",".join(state or []), severity=severity, domain=domain,
                 district=district)


def _selected(rows: list[dict[str, Any]] | None) -> str | None:
    return str(rows[0]["id"]) if rows else None


def _detail(L: Lang, alarm: dict[str, Any], audit: list[dict[str, Any]],
            deliveries: dict[str, list[dict[str, Any]]]) -> list[Any]:
    _ = L.gettext
    names = {d.id: d.name for d in hub().pack.districts}

    def at(t: float | None) -> str:
        return L.when(t) if t else ""

    value = alarm.get("value")
    device = alarm.get("device")
    fields = fields_list([
        (_("State"), state_label(L, alarm["state"])),
        (_("Severity"), severity_label(L, alarm["severity"])),
        (_("Rule"), alarm["rule"]),
        (_("Device"), dcc.Link(device, href=f"/sensor/{device}") if device else ""),
        (_("Gateway"), alarm.get("gateway") or ""),
        (_("District"), names.get(alarm.get("district") or "", alarm.get("district") or "")),
        (_("Value"), L.number(value, 2) if isinstance(value, int | float) else ""),
        (_("Times seen"), L.number(alarm["count"])),
        (_("Opened"), at(alarm["opened_at"])),
        (_("Last seen"), at(alarm["last_seen"])),
        (_("Acknowledged by"), f"{alarm['acknowledged_by']}, {at(alarm['acknowledged_at'])}"
         if alarm.get("acknowledged_by") else ""),
        (_("Resolved by"), f"{alarm['resolved_by']}, {at(alarm['resolved_at'])}"
         if alarm.get("resolved_by") else ""),
        (_("Closed"), at(alarm.get("closed_at"))),
        (_("Assignee"), alarm.get("assignee") or ""),
    ])
    comments = [(at(e["at"]), e["actor"], e["detail"].get("text") or e["detail"]["comment"])
                for e in audit if e["detail"].get("text") or e["detail"].get("comment")]
    trail = [(at(e["at"]), e["actor"], _action(L, e["action"]),
              ", ".join(f"{k}: {v}" for k, v in e["detail"].items()))
             for e in audit]
    notes = [(n["department"], n["contact"], n["change"], n["state"], n.get("reason") or "",
              at(n.get("sent_at"))) for n in deliveries["notifications"]]
    attempts = [(at(a["at"]), a["department"], a["contact"], a["channel"],
                 _("yes") if a["ok"] else _("no"), a["detail"])
                for a in deliveries["attempts"]]
    return [
        html.H3(alarm.get("title") or alarm["rule"], id=ID("detail-title")),
        html.Div(alarm["id"], className="alarm-id"),
        fields,
        html.H4(_("Comments")),
        simple_table([_("Time"), _("By"), _("Comment")], comments, id=ID("comments"),
                     empty=_("No comments yet.")),
        html.H4(_("Audit trail")),
        simple_table([_("Time"), _("By"), _("What"), _("Detail")], trail, id=ID("audit"),
                     empty=_("Nothing recorded yet.")),
        html.H4(_("Deliveries")),
        simple_table([_("Department"), _("Contact"), _("Change"), _("State"), _("Reason"),
                      _("Sent")], notes, id=ID("notifications"),
                     empty=_("No notifications for this alarm.")),
        simple_table([_("Time"), _("Department"), _("Contact"), _("Channel"), _("Delivered"),
                      _("Detail")], attempts, id=ID("attempts"),
                     empty=_("No delivery attempts yet.")),
    ]


def _action(L: Lang, action: str) -> str:
    _ = L.gettext
    return {"opened": _("opened"), "raised": _("raised"), "repeated": _("repeated"),
            "condition cleared": _("condition cleared"), "acknowledged": _("acknowledged"),
            "assigned": _("assigned"), "commented": _("commented"), "resolved": _("resolved"),
            "closed": _("closed"), "escalated": _("escalated")}.get(action, action)


@callback(
    Output(ID("detail"), "children"),
    *[Output(ID(a), "disabled") for a in ACTIONS],
    Input(ID("table"), "selectedRows"), Input(ID("table"), "rowData"),
    Input(ID("detail-tick"), "n_intervals"), Input(ID("changed"), "data"),
)
def detail(selected: list[dict[str, Any]] | None, _rows: Any, _tick: int | None,
           _changed: int | None) -> tuple[Any, ...]:
    """The selected alarm, with its comments, audit trail and deliveries; the actions its
    state allows, for an operator. Asked again when the selection, the table's rows or
    an action change, and on its own slower tick (new deliveries)."""
    L = lang()
    _ = L.gettext
    user = auth.current()
    may_act = user is not None and user.allows(Role.OPERATOR)
    aid = _selected(selected)
    none = (True,) * len(ACTIONS)
    if aid is None:
        return (notice(_("Select an alarm to see it.")), *none)
    try:
        alarm = as_user(lambda c, t: c.alarm(t, aid))
        audit = as_user(lambda c, t: c.audit(t, aid))
        deliveries = as_user(lambda c, t: c.deliveries(t, aid))
    except (AlarmsError, Unavailable) as e:
        return (notice(problem(e), "error"), *none)
    state = alarm["state"]
    allowed = {"acknowledge": state == "open",
               "assign": state in ("open", "acknowledged"),
               "comment": True,
               "resolve": state in ("open", "acknowledged"),
               "close": state == "resolved"}
    return (_detail(L, alarm, audit, deliveries),
            *[not (may_act and allowed[a]) for a in ACTIONS])


@callback(
    Output(ID("feedback"), "children"), Output(ID("changed"), "data"),
    *[Input(ID(a), "n_clicks") for a in ACTIONS],
    State(ID("table"), "selectedRows"), State(ID("assignee"), "value"),
    State(ID("comment-text"), "value"), State(ID("changed"), "data"),
    prevent_initial_call=True,
)
def act(*args: Any) -> tuple[Any, Any]:
    """Acknowledge, assign, comment, resolve or close the selected alarm, as the user."""
    selected, assignee, text, changed = args[len(ACTIONS):]
    L = lang()
    _ = L.gettext
    action = ctx.triggered_id
    try:
        auth.require(Role.OPERATOR)
    except auth.Refused as e:
        return notice(_("You are not allowed: {reason}", reason=str(e)), "error"), \
            dash.no_update
    aid = _selected(selected)
    if aid is None:
        return notice(_("Select an alarm first."), "warning"), dash.no_update
    calls: dict[str, Callable[[AlarmsClient, str], Awaitable[Any]]] = {
        ID("acknowledge"): lambda c, t: c.acknowledge(t, aid),
        ID("assign"): lambda c, t: c.assign(t, aid, (assignee or "").strip() or None),
        ID("comment"): lambda c, t: c.comment(t, aid, (text or "").strip()),
        ID("resolve"): lambda c, t: c.resolve(t, aid),
        ID("close"): lambda c, t: c.close(t, aid),
    }
    if action == ID("comment") and not (text or "").strip():
        return notice(_("Write a comment first."), "warning"), dash.no_update
    if action not in calls:
        return dash.no_update, dash.no_update
    try:
        as_user(calls[str(action)])
    except (AlarmsError, Unavailable) as e:
        return notice(problem(e), "error"), dash.no_update
    done = {ID("acknowledge"): _("Acknowledged."), ID("assign"): _("Assigned."),
            ID("comment"): _("Comment added."), ID("resolve"): _("Resolved."),
            ID("close"): _("Closed.")}[str(action)]
    return notice(done, "ok"), (changed or 0) + 1


@callback(Output(ID("download"), "data"), Input(ID("export"), "n_clicks"),
          State(ID("table"), "rowData"), prevent_initial_call=True)
def export(_clicks: int | None, rows: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The table as it is shown, as CSV."""
    _ = lang().gettext
    header = [_("Id"), _("Severity"), _("State"), _("Rule"), _("Device"), _("District"),
              _("Opened"), _("Assignee"), _("Acknowledged by")]
    return {"content": csv_text(CSV_KEYS, header, rows or []), "filename": "alarms.csv",
            "type": "text/csv"}
