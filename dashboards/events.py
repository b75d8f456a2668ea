"""What the analytics see under way in a domain, for the domain pages: their events
(docs/protocol.md, "Events") as the broker delivers them to the dashboards' live feed.

An episode is shown while it lasts (``end`` null); a point event (a Siaga change, a
downstream forecast, a gap) for an hour after its reading. A page adds :func:`section`
to its layout and calls :func:`register` once, with its ids (it needs the page's ``tick``
interval and ``district`` filter).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import Any

from dash import Input, Output, callback, dcc, html

from dashboards.components import severity_label
from dashboards.context import hub, lang
from dashboards.i18n import Lang
from dashboards.ids import Ids

__all__ = ["POINT_EVENTS_S", "kind_label", "recent", "register", "section"]

#: how long a point event (one with ``end`` set at once) stays on the page
POINT_EVENTS_S = 3600.0


def kind_label(L: Lang, kind: str) -> str:
    _ = L.gettext
    return {"incident": _("incident"), "congestion": _("congestion"),
            "anomaly": _("unusual reading"), "siaga_change": _("Siaga level changed"),
            "flood_eta": _("flood expected downstream"), "day_burning": _("burning by day"),
            "lamp_out": _("dark at night"), "dimming": _("off its dimming schedule"),
            "heavy_rain": _("heavy rain"), "drift": _("drifting from its neighbours"),
            "stuck": _("stuck"), "gap": _("gap in its readings")}.get(kind, kind)


def _time(iso: object) -> float | None:
    try:
        return dt.datetime.fromisoformat(str(iso).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def recent(events: Sequence[Mapping[str, Any]], now: float, *, district: str | None = None
           ) -> list[Mapping[str, Any]]:
    """The episodes under way and the point events of the last hour (of ``district``),
    newest start first."""
    out = []
    for e in events:
        if district and e.get("district") != district:
            continue
        end = _time(e["end"]) if e.get("end") is not None else None
        if e.get("end") is None or (end is not None and now - end <= POINT_EVENTS_S
                                    and _time(e.get("start")) == end):
            out.append(e)
    return sorted(out, key=lambda e: _time(e.get("start")) or 0.0, reverse=True)


def event_list(L: Lang, events: Sequence[Mapping[str, Any]], now: float) -> html.Ul:
    """Events as a short list: what, where, since when, how severe."""
    if not events:
        return html.Ul([html.Li(L.gettext("Nothing under way."), className="feed-empty")],
                       className="alarm-feed")
    names = {d.id: d.name for d in hub().pack.districts}
    items = []
    for e in events[:20]:
        device = str(e.get("device", ""))
        started = _time(e.get("start"))
        items.append(html.Li(className=f"feed-item sev-{e.get('severity')}", children=[
            html.Span(severity_label(L, str(e.get("severity", ""))), className="feed-sev"),
            html.Span(kind_label(L, str(e.get("kind", ""))), className="feed-title"),
            html.Span([dcc.Link(device, href=f"/sensor/{device}"), " · ",
                       names.get(str(e.get("district")), str(e.get("district", ""))), " · ",
                       L.ago(now - started) if started else ""], className="feed-meta"),
        ]))
    return html.Ul(items, className="alarm-feed")


def section(ids: Ids, L: Lang) -> list[Any]:
    """The page's events heading and list (filled by the callback :func:`register` adds)."""
    return [html.H2(L.gettext("What the analytics see"), className="section-title"),
            html.Div(id=ids("events"))]


def register(ids: Ids, domain: str) -> None:
    """The callback that fills the page's events list each tick."""

    @callback(Output(ids("events"), "children"), Input(ids("tick"), "n_intervals"),
              Input(ids("district"), "value"))
    def events(_tick: int | None, district: str | None) -> Any:
        h, L = hub(), lang()
        if h.live is None:
            return html.Div(L.gettext("The dashboards have no broker connection, so the "
                                      "analytics' events are not shown."), className="notice")
        now = time.time()
        return event_list(L, recent(h.live.events(domain=domain), now, district=district),
                          now)
