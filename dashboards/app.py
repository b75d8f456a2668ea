"""The Dash app shell: navigation bar (pages, language, user), login in front of it all,
and one module per page in ``pages/``."""

from __future__ import annotations

import gc
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import dash
import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, dcc, html
from flask import Flask, Response, redirect, render_template_string, request, session

from accounts import Role
from dashboards import auth, public
from dashboards.context import (
    CITY_COOKIE,
    CITY_SESSION,
    LANGUAGE_COOKIE,
    DashboardSettings,
    Hub,
    current_city,
    hub,
    hubs,
    lang,
)
from dashboards.data import CityData
from dashboards.i18n import LANGUAGES, Lang
from dashboards.ids import SHELL_CITY, Ids

if TYPE_CHECKING:
    from accounts.store import Accounts
    from dashboards.data.live import LiveFeed

__all__ = ["create_app", "freeze_startup_objects"]

_HERE = Path(__file__).parent
ID = Ids("shell")


def create_app(data: CityData | Sequence[CityData], settings: DashboardSettings | None = None,
               *, accounts: Accounts, live: LiveFeed | Sequence[LiveFeed] | None = None
               ) -> Dash:
    """A Dash app for ``data``'s city (or cities: one :class:`CityData` each), behind a
    login with ``accounts``; ``live``: the gateways' statuses and the analytics' events
    from the broker (one feed per city; the pages say what is missing without it). Serve
    ``app.server`` (a Flask app) with any WSGI server, or ``app.run()`` for one machine."""
    settings = settings or DashboardSettings()
    cities = [data] if isinstance(data, CityData) else list(data)
    feeds = {f.city: f for f in ([] if live is None else [live] if not isinstance(live, Sequence)
                                 else live)}
    hubs = {d.pack.city.id: Hub(d.pack, d, settings, accounts, feeds.get(d.pack.city.id))
            for d in cities}
    if len(hubs) != len(cities) or not hubs:
        raise ValueError("the dashboards need one CityData per city, and at least one")
    names = " · ".join(d.pack.city.name for d in cities)
    app = Dash(
        __name__, use_pages=True, pages_folder=str(_HERE / "pages"),
        assets_folder=str(_HERE / "assets"), title=f"{names} command centre",
        update_title=None,  # type: ignore[arg-type]
    )
    app.server.config["CITYHUB"] = hubs
    auth.install(app.server, accounts, session_hours=settings.session_hours,
                 secret_key=settings.secret_key, login_page=_login_page,
                 issue_api_tokens=settings.alerts_api is not None,
                 secure_cookies=settings.secure_cookies, cities=hubs)
    _language_route(app)
    _city_route(app)
    public.install(app.server)
    _wall_mode(app)
    with app.server.test_request_context("/"):  # Dash calls the layouts to check them
        app.layout = _shell
        app.validation_layout = html.Div([  # type: ignore[assignment]
            _shell(), *[page["layout"]() if callable(page["layout"]) else page["layout"]
                        for page in dash.page_registry.values()]])
    return app


def freeze_startup_objects() -> None:
    """Move everything made at start-up (the pack, Dash's registry, the app) out of the
    garbage collector's sight (``gc.freeze``), once the app is built: a refresh of 5,000
    sensors allocates enough to trigger full collections, which otherwise walk all of it
    and take the refresh from about 120 to 200 ms (bench/dashboards.py)."""
    gc.collect()
    gc.freeze()


def _shell() -> html.Div:
    h, L = hub(), lang()
    _ = L.gettext
    user = auth.current()
    pages = [p for p in dash.page_registry.values() if p.get("nav", True)]
    return html.Div(className="shell", children=[
        dbc.Navbar(className="topbar", dark=True, children=[
            html.Div(className="brand", children=[
                html.Span("CITY HUB", className="brand-mark"),
                _city_menu(h, user),
            ]),
            dbc.Nav(className="nav", children=[
                dbc.NavLink(_(page["name"]), href=page["relative_path"], active="exact",
                            className="nav-link") for page in pages
            ]),
            html.Div(className="user-menu", children=[
                dbc.DropdownMenu(label=LANGUAGES[L.code], id=ID("language"), size="sm",
                                 color="secondary", children=[
                    dbc.DropdownMenuItem(name, href=f"/language/{code}", external_link=True,
                                         id=ID(f"language-{code}"))
                    for code, name in LANGUAGES.items()]),
                html.Span(f"{user.name} ({role_name(L, user.role)})" if user else "",
                          id=ID("user"), className="user-name"),
                html.Form(action="/logout", method="post", className="logout", children=[
                    html.Button(_("Log out"), id=ID("logout"), className="btn btn-sm "
                                "btn-outline-light", type="submit")]) if user else None,
            ]),
        ]),
        dash.page_container,
        dcc.Location(id=ID("url"), refresh=False),
        dcc.Interval(id=ID("wall-tick"), interval=int(h.settings.wall_cycle_s * 1000),
                     disabled=True),
        # the city this page shows: actions check it against the session's (another tab
        # may have switched it), and the page reloads when the session's city changes
        dcc.Store(id=SHELL_CITY, data=h.pack.city.id),
        dcc.Interval(id=ID("city-watch"), interval=2000,
                     disabled=not _sees_several(user)),
    ])


def _sees_several(user: auth.LoginUser | None) -> bool:
    return user is not None and sum(user.sees(c) for c in hubs()) > 1


def _city_menu(h: Hub, user: auth.LoginUser | None) -> Any:
    """The current city's name; a menu of the others where the user may see several."""
    others = [o.pack.city for o in hubs().values()
              if o.pack.city.id != h.pack.city.id and (user is None or user.sees(o.pack.city.id))]
    if not others or user is None:
        return html.Span(h.pack.city.name, id=ID("city"), className="brand-city")
    return dbc.DropdownMenu(label=h.pack.city.name, id=ID("city"), size="sm", color="dark",
                            className="brand-city", children=[
        dbc.DropdownMenuItem(c.name, href=f"/city/{c.id}", external_link=True,
                             id=ID(f"city-{c.id}")) for c in others])


def _back(server: Flask, *, leaving_city: bool = False) -> Any:
    """A redirect back to the page the request came from (on this server only; the
    overview for a sensor's page when the city changes: its sensors are another's)."""
    back = urlsplit(request.referrer or "")
    same = back.netloc == request.host and back.path.startswith("/")
    if not same or (leaving_city and back.path.startswith("/sensor/")):
        return redirect("/")
    return redirect(back.path + (f"?{back.query}" if back.query else ""))


def _city_route(app: Dash) -> None:
    """``/city/<id>`` switches the session's city; ``?city=<id>`` on a page's link (an
    alarm's sensor link) does too; a page of another city than the session's reloads."""
    server: Flask = app.server

    def page(path: str) -> bool:
        return request.method == "GET" and not path.startswith(
            ("/_dash-", "/assets/", "/_reload-hash", "/city/", "/language/", "/public",
             "/login", "/logout", "/healthz", "/_favicon"))

    @server.before_request
    def city_from_link() -> None:
        asked = request.args.get("city")
        user = auth.current()
        if asked and user is not None and asked in hubs() and user.sees(asked) \
                and page(request.path):
            session[CITY_SESSION] = asked

    @server.after_request
    def city_cookie(response: Response) -> Response:
        user = auth.current()
        if page(request.path) and _sees_several(user):
            response.set_cookie(CITY_COOKIE, current_city(), httponly=False, samesite="Lax",
                                secure=bool(server.config.get("SESSION_COOKIE_SECURE")))
        return response

    app.clientside_callback(  # type: ignore[no-untyped-call]
        f"""function(n, shown) {{
            const m = document.cookie.match(/(?:^|; ){CITY_COOKIE}=([^;]*)/);
            if (n && m && shown && decodeURIComponent(m[1]) !== shown) {{
                window.location.reload();
            }}
            return window.dash_clientside.no_update;
        }}""",
        Output(ID("city-watch"), "disabled"), Input(ID("city-watch"), "n_intervals"),
        State(SHELL_CITY, "data"), prevent_initial_call=True)

    @server.route("/city/<city>")
    def choose_city(city: str) -> Any:
        """Switch the city this session shows (a user scoped to one keeps theirs)."""
        user = auth.current()
        if city not in hubs() or user is None or not user.sees(city):
            return Response("no such city here, or not one of yours\n", 404,
                            mimetype="text/plain")
        session[CITY_SESSION] = city
        answer = _back(server, leaving_city=True)
        answer.set_cookie(CITY_COOKIE, city, httponly=False, samesite="Lax",
                          secure=bool(server.config.get("SESSION_COOKIE_SECURE")))
        return answer


#: The pages a wall display cycles through (``?wall=1`` on any of them).
WALL_PAGES = ("/", "/traffic", "/flood", "/lighting", "/gateways")


def _wall_mode(app: Dash) -> None:
    """Wall mode: ``?wall=1`` hides the controls, enlarges the type and cycles through
    :data:`WALL_PAGES` every ``wall_cycle_s`` (in the browser: no server round trip)."""
    app.clientside_callback(  # type: ignore[no-untyped-call]
        """function(search) {
            const wall = (search || "").includes("wall=1");
            document.body.classList.toggle("wall", wall);
            return !wall;
        }""",
        Output(ID("wall-tick"), "disabled"), Input(ID("url"), "search"))
    app.clientside_callback(  # type: ignore[no-untyped-call]
        f"""function(n, pathname) {{
            const pages = {json.dumps(list(WALL_PAGES))};
            if (!n) {{ return window.dash_clientside.no_update; }}
            return pages[(pages.indexOf(pathname) + 1) % pages.length];
        }}""",
        Output(ID("url"), "pathname"), Input(ID("wall-tick"), "n_intervals"),
        State(ID("url"), "pathname"), prevent_initial_call=True)


def role_name(L: Lang, role: Role) -> str:
    _ = L.gettext
    return {Role.VIEWER: _("viewer"), Role.OPERATOR: _("operator"), Role.ADMIN: _("admin")
            }[role]


def _language_route(app: Dash) -> None:
    server: Flask = app.server

    @server.route("/language/<code>")
    def choose_language(code: str) -> Any:
        """Switch this browser's language: in the session, and in a cookie kept for a
        year, so the choice outlives logout and session expiry."""
        answer = _back(server)
        if code in LANGUAGES:
            session["lang"] = code
            answer.set_cookie(LANGUAGE_COOKIE, code, max_age=365 * 86400, httponly=True,
                              samesite="Lax",
                              secure=bool(server.config.get("SESSION_COOKIE_SECURE")))
        return answer


_LOGIN = """<!doctype html>
<html lang="{{ code }}"><head><meta charset="utf-8"><title>{{ title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/00-bootswatch-darkly.min.css">
<link rel="stylesheet" href="/assets/style.css"></head>
<body class="login-body"><main class="login-box">
<h1><span class="brand-mark">CITY HUB</span> {{ city }}</h1>
<form method="post" action="/login" id="login-form">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="next" value="{{ next }}">
<label for="username">{{ user_label }}</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">{{ password_label }}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
{% if error %}<p class="login-error" id="login-error">{{ error }}</p>{% endif %}
<button type="submit" id="login-submit">{{ submit }}</button>
</form>
<p class="login-public"><a href="/public">{{ public }}</a> ·
{% for c, n in languages %}<a href="/language/{{ c }}">{{ n }}</a> {% endfor %}</p>
</main></body></html>"""


def _login_page(error: str | None, csrf: str, nxt: str) -> str:
    L = lang()
    _ = L.gettext
    message = {None: None, "wrong": _("Wrong user name or password."),
               "expired": _("The form expired; please try again."),
               "elsewhere": _("Your account is for a city this command centre does not "
                              "serve.")}[error]
    city = " · ".join(o.pack.city.name for o in hubs().values())
    return render_template_string(
        _LOGIN, code=L.code, title=_("Log in"), city=city, csrf=csrf, next=nxt,
        user_label=_("User name"), password_label=_("Password"), submit=_("Log in"),
        error=message, public=_("Public view (no login)"), languages=LANGUAGES.items())

