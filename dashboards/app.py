"""The Dash app shell: header, navigation, and one module per page in ``pages/``."""

from __future__ import annotations

from pathlib import Path

import dash
from dash import Dash, dcc, html

from dashboards.context import DashboardSettings, Hub
from dashboards.data import CityData

__all__ = ["create_app"]

_HERE = Path(__file__).parent


def create_app(data: CityData, settings: DashboardSettings | None = None) -> Dash:
    """A Dash app for ``data``'s city. Serve ``app.server`` (a Flask app) with any WSGI
    server, or ``app.run()`` for one machine."""
    app = Dash(
        __name__, use_pages=True, pages_folder=str(_HERE / "pages"),
        assets_folder=str(_HERE / "assets"), title=f"{data.pack.city.name} command centre",
        suppress_callback_exceptions=True, update_title=None,  # type: ignore[arg-type]
    )
    app.server.config["CITYHUB"] = Hub(data.pack, data, settings or DashboardSettings())
    app.layout = html.Div(className="shell", children=[
        html.Header(className="topbar", children=[
            html.Div(className="brand", children=[
                html.Span("CITY HUB", className="brand-mark"),
                html.Span(data.pack.city.name, id="city-name", className="brand-city"),
            ]),
            html.Nav(className="nav", children=[
                dcc.Link(page["name"], href=page["relative_path"], className="nav-link")
                for page in dash.page_registry.values()
            ]),
        ]),
        dash.page_container,
    ])
    return app
