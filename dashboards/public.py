"""The public view (``/public``): what the city is doing, for anyone, without a login.

Active flood warnings (gauges at Siaga III or worse, and the analytics' downstream
forecasts: "expected at Manggarai between 16:00 and 22:00"), congestion now, per
district, and how fast the departments respond to alarms (median minutes, from the alerts
API with the token of ``--public-token-env``, asked at most every ``public_cache_s``).

Server-rendered HTML that refreshes itself every 30 s: no Dash callbacks, so an anonymous
visitor reaches no callback endpoint at all, and nothing on it names a person, a contact
or an action.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter
from typing import Any

from flask import Flask, render_template_string

from dashboards.components import severity_label
from dashboards.context import current_city, hub, hubs, lang, states_now
from dashboards.data.alarms import AlarmsClient, AlarmsError, ResponseRow, response_rows
from dashboards.i18n import LANGUAGES, Lang
from dashboards.status import SensorState
from dashboards.wording import COLOURS, label

__all__ = ["flood_forecasts", "install", "public_view", "response_view"]

log = logging.getLogger("cityhub.dashboards.public")

_PAGE = """<!doctype html>
<html lang="{{ code }}"><head><meta charset="utf-8"><title>{{ title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="30">
<link rel="stylesheet" href="/assets/00-bootswatch-darkly.min.css">
<link rel="stylesheet" href="/assets/style.css"></head>
<body class="public-body"><main class="public">
<header class="public-head"><h1><span class="brand-mark">CITY HUB</span> {{ city }}</h1>
<p>{{ subtitle }} · {{ updated }} ·
{% for c, n in cities %}<a href="/public?city={{ c }}" id="public-city-{{ c }}">{{ n }}</a>
{% endfor %}{% if cities %}·{% endif %}
{% for c, n in languages %}<a href="/language/{{ c }}">{{ n }}</a> {% endfor %}·
<a href="/login">{{ login }}</a></p></header>
<section id="public-flood"><h2>{{ flood_title }}</h2>
{% if gauges %}<table class="table"><thead><tr><th>{{ gauge_h }}</th><th>{{ district_h }}</th>
<th>{{ status_h }}</th><th>{{ level_h }}</th></tr></thead><tbody>
{% for g in gauges %}<tr><td>{{ g.name }}</td><td>{{ g.district }}</td>
<td><span class="pill" style="background: {{ g.colour }}">{{ g.status }}</span></td>
<td>{{ g.level }}</td></tr>{% endfor %}</tbody></table>
{% else %}<p class="calm" id="public-no-flood">{{ no_flood }}</p>{% endif %}
{% if forecasts %}<h3>{{ forecast_title }}</h3><ul class="forecasts">
{% for f in forecasts %}<li>{{ f }}</li>{% endfor %}</ul>{% endif %}</section>
<section id="public-traffic"><h2>{{ traffic_title }}</h2>
<table class="table"><thead><tr><th>{{ district_h }}</th><th>{{ congested_h }}</th>
<th>{{ roads_h }}</th></tr></thead><tbody>
{% for d in districts %}<tr><td>{{ d.name }}</td><td>{{ d.congested }}</td>
<td>{{ d.roads }}</td></tr>{% endfor %}</tbody></table></section>
<section id="public-response"><h2>{{ response_title }}</h2>
{% if response %}<p>{{ response_note }}</p><table class="table"><thead><tr><th>{{ dept_h }}</th>
<th>{{ severity_h }}</th><th>{{ received_h }}</th><th>{{ ack_h }}</th><th>{{ resolve_h }}</th>
</tr></thead><tbody>{% for r in response %}<tr><td>{{ r.department }}</td>
<td>{{ r.severity }}</td><td>{{ r.received }}</td><td>{{ r.ack }}</td><td>{{ r.resolve }}</td>
</tr>{% endfor %}</tbody></table>
{% else %}<p class="calm" id="public-no-response">{{ no_response }}</p>{% endif %}</section>
{% if missing %}<p class="notice">{{ missing }}</p>{% endif %}
</main></body></html>"""


def flood_forecasts(L: Lang, events: list[dict[str, Any]], now: float) -> list[str]:
    """The analytics' downstream forecasts (``flood_eta`` events) still ahead or under way,
    worded: "Manggarai: expected between 16:00 and 22:00 (from Katulampa)"."""
    out = []
    for e in events:
        d = e.get("detail") or {}
        try:
            until = dt.datetime.fromisoformat(str(d["expected_to"]).replace("Z", "+00:00"))
            since = dt.datetime.fromisoformat(str(d["expected_from"]).replace("Z", "+00:00"))
        except (KeyError, ValueError):
            continue
        if until.timestamp() < now:
            continue
        out.append(L.gettext("{place}: expected between {start} and {end} (from {gauge})",
                             place=str(d.get("downstream_name") or d.get("downstream", "?")),
                             start=L.when(since.timestamp()), end=L.when(until.timestamp()),
                             gauge=str(e.get("device", "?"))))
    return out


def public_view(states: list[SensorState], events: list[dict[str, Any]], now: float,
                L: Lang) -> dict[str, Any]:
    """What the public page shows (pure: states, events and a time in; values out)."""
    h = hub()
    n = L.number
    names = {d.id: d.name for d in h.pack.districts}
    gauges = [{"name": s.name, "district": names.get(s.district, s.district),
               "colour": s.colour,
               "status": label(L, s.code), "level": f"{n(float(s.state.facts['level_m']), 2)} m"}
              for s in sorted(states, key=lambda s: -s.severity)
              if s.code in ("siaga_3", "siaga_2", "siaga_1")]
    roads = Counter(s.district for s in states if s.domain == "traffic")
    congested = Counter(s.district for s in states
                        if s.code in ("los_e", "los_f", "incident"))
    districts = [{"name": d.name, "congested": n(congested[d.id]), "roads": n(roads[d.id])}
                 for d in h.pack.districts if roads[d.id]]
    return {"gauges": gauges, "forecasts": flood_forecasts(L, events, now),
            "districts": districts}


def response_view(L: Lang, rows: list[ResponseRow]) -> list[dict[str, str]]:
    """The departments' response figures as the public sees them: counts and median
    minutes, nothing that names a person."""
    def minutes(v: float | None) -> str:
        return "–" if v is None else L.gettext("{n} min", n=L.number(v))

    return [{"department": r.department, "severity": severity_label(L, r.severity),
             "received": L.number(r.received), "ack": minutes(r.ack_median_min),
             "resolve": minutes(r.resolve_median_min)} for r in rows]


class _ResponseCache:
    """The last 30 days' response figures, asked of the alerts API at most once per
    ``public_cache_s`` whatever the number of anonymous visitors."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._at = -1e18
        self._rows: list[ResponseRow] | None = None

    def rows(self, now: float) -> list[ResponseRow] | None:
        """The figures; one visitor's request refreshes them when they are old, the
        others meanwhile get the ones there are (never a queue behind a slow API)."""
        h = hub()
        url, token = h.settings.alerts_api, h.settings.public_token
        if url is None or token is None:
            return None
        with self._lock:
            if now - self._at < h.settings.public_cache_s:
                return self._rows
            self._at = now  # claimed: the others take the old figures meanwhile
            old = self._rows
        since = now - 30 * 86400
        client = AlarmsClient(url, city=h.pack.city.id)
        try:
            alarms = h.data.call(lambda: client.all_alarms(token, since=since, until=now))
            rows: list[ResponseRow] | None = response_rows(h.pack, alarms, since, now)
        except AlarmsError as e:
            log.warning("dashboards: the public view's response figures: %s", e)
            rows = old
        with self._lock:
            self._rows = rows
        return rows


def install(server: Flask) -> None:
    """Serve ``/public`` on the dashboards' Flask server (open: see dashboards.auth)."""
    responses: dict[str, _ResponseCache] = {}  # per city
    # (city, language) -> (when, page): anonymous visitors share one rendering a few seconds
    views: dict[tuple[str, str], tuple[float, str]] = {}
    lock = threading.Lock()

    @server.route("/public")
    def public() -> str:
        L, key = lang(), (current_city(), lang().code)
        now = time.time()
        with lock:
            at, page = views.get(key, (-1e18, ""))
            if now - at < hub().settings.public_page_s:
                return page
        page = render(L, now)
        with lock:
            views[key] = (now, page)
        return page

    def render(L: Lang, now: float) -> str:
        h = hub()
        _ = L.gettext
        states = states_now()
        events = h.live.events(domain="flood", kinds=("flood_eta",)) if h.live else []
        view = public_view(states, events, now, L)
        with lock:
            cache = responses.setdefault(h.pack.city.id, _ResponseCache())
        rows = cache.rows(now)
        return render_template_string(
            _PAGE, code=L.code, title=_("{city}: the city now", city=h.pack.city.name),
            city=h.pack.city.name, subtitle=_("Public view"),
            updated=_("Updated {time}", time=L.when(now)), languages=LANGUAGES.items(),
            cities=[(c, o.pack.city.name) for c, o in hubs().items()
                    if c != h.pack.city.id],
            login=_("Log in"), flood_title=_("Flood warnings"), gauge_h=_("Gauge"),
            district_h=_("District"), status_h=_("Status"), level_h=_("Water level"),
            no_flood=_("No flood warning: every gauge is below Siaga III."),
            forecast_title=_("Expected downstream"), traffic_title=_("Congestion now"),
            congested_h=_("Congested roads"), roads_h=_("Roads measured"),
            missing=None if h.live else _("Downstream forecasts are not shown: the "
                                          "dashboards have no broker connection."),
            response_title=_("How fast the departments respond"),
            response_note=_("Alarms of the last 30 days, per department: the median time "
                            "to take an alarm in hand and to resolve it."),
            dept_h=_("Department"), severity_h=_("Severity"), received_h=_("Alarms"),
            ack_h=_("Taken in hand"), resolve_h=_("Resolved"),
            response=response_view(L, rows) if rows else [],
            no_response=_("No response figures to show.") if rows is not None else _(
                "Response figures are not published here."),
            colours=COLOURS, **view)
