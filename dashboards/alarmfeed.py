"""The alarms as the logged-in user sees them: one way for every page to call the alerts
API with the user's session token (:func:`as_user`), and the compact alarm feed the
overview and the sensor page show (:func:`feed`).

The alarms page, the overview's live feed and the sensor page all go through
:func:`as_user`, so a missing API, a session without a token and an API error are worded
the same everywhere, and never reach the user as a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from dash import dcc, html

from dashboards import auth
from dashboards.components import api_problem, severity_label, state_label
from dashboards.context import hub, lang
from dashboards.data.alarms import AlarmsClient, AlarmsError
from dashboards.i18n import Lang

__all__ = ["Unavailable", "as_user", "feed", "problem"]

T = TypeVar("T")


class Unavailable(Exception):
    """The page cannot ask the alerts API: the message says why."""


def _client() -> AlarmsClient:
    h = hub()
    url = h.settings.alerts_api
    if url is None:
        raise Unavailable(lang().gettext(
            "The alerts API is not configured (start the dashboards with --alerts-api)."))
    return AlarmsClient(url, city=h.pack.city.id)


def _token() -> str:
    token = auth.api_token()
    if token is None:
        raise Unavailable(lang().gettext(
            "Your session has no token for the alerts API: log out and log in again."))
    return token


def as_user(make: Callable[[AlarmsClient, str], Awaitable[T]]) -> T:
    """Run one client call as the logged-in user, on the data's event loop. Raises
    :class:`Unavailable` or :class:`~dashboards.data.alarms.AlarmsError`."""
    client, token = _client(), _token()
    return hub().data.call(lambda: make(client, token))


def problem(e: Exception) -> str:
    """What to tell the user about ``e`` (an :class:`Unavailable` or an API error)."""
    return api_problem(lang(), e) if isinstance(e, AlarmsError) else str(e)


def feed(L: Lang, alarms: Sequence[Mapping[str, Any]], *, empty: str,
         now: float | None = None) -> html.Ul:
    """Alarms as a short list, newest first: severity, what, where, how long ago, state;
    each links to its sensor (or to the alarms page for a gateway alarm)."""
    now = time.time() if now is None else now
    if not alarms:
        return html.Ul([html.Li(empty, className="feed-empty")], className="alarm-feed")
    items = []
    for a in alarms:
        device = a.get("device") or ""
        where = dcc.Link(device, href=f"/sensor/{device}") if device else \
            dcc.Link(str(a.get("source", "")), href="/alarms")
        items.append(html.Li(className=f"feed-item sev-{a.get('severity')}", children=[
            html.Span(severity_label(L, str(a.get("severity", ""))), className="feed-sev"),
            html.Span(str(a.get("title") or a.get("rule", "")), className="feed-title"),
            html.Span([where, " · ", L.ago(now - float(a.get("opened_at", now))), " · ",
                       state_label(L, str(a.get("state", "")))], className="feed-meta"),
        ]))
    return html.Ul(items, className="alarm-feed")
