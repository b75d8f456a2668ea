"""``cityhub dashboard``: serve the command-centre pages of a city until stopped.

Registered in the ``cityhub.commands`` entry-point group; needs ``cityhub[dashboards]``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from cityhub.config import load_pack
from cityhub.signals import wait_until_stopped
from cityhub.store.options import add_read_options, store_access

__all__ = ["register"]


def run(args: argparse.Namespace) -> int:
    """Serve the dashboards until SIGTERM or SIGINT; then stop serving and exit 0."""
    from accounts.store import Accounts
    from cityhub.store import Store
    from dashboards.app import create_app
    from dashboards.context import DashboardSettings
    from dashboards.data import CityData
    from dashboards.webserver import WebServer
    from stores import open_store

    pack = load_pack(args.city)
    access = store_access(args)

    async def open_read_store() -> Store:
        return await open_store(access.settings, token=access.token, proxy=access.proxy)

    settings = DashboardSettings(
        refresh_s=args.refresh, language=args.language, map_tiles=args.map_tiles,
        map_attribution=args.map_attribution, session_hours=args.session_hours,
        secret_key=os.environ.get("CITYHUB_DASHBOARD_SECRET") or None,
        alerts_api=args.alerts_api)
    accounts = Accounts(args.accounts)
    data = CityData(pack, open_read_store)
    try:
        app = create_app(data, settings, accounts=accounts)
        with WebServer(app.server, args.host, args.port) as url:
            print(f"cityhub dashboard: {pack.city.name} at {url}", flush=True)
            sig = wait_until_stopped()
            print(f"cityhub dashboard: {sig.name}: stopping", flush=True)
    finally:
        data.close()
        accounts.close()
    print("cityhub dashboard: stopped", flush=True)
    return 0


def register(sub: Any) -> None:
    """Add ``cityhub dashboard`` to the ``cityhub`` command."""
    p = sub.add_parser("dashboard", help="serve the dashboards",
                       description="Serve the command-centre dashboards of a city, reading "
                       "from SQLite (default) or InfluxDB's v1 API, until SIGTERM or "
                       "SIGINT (Ctrl-C). Users log in with the hub's accounts (`cityhub "
                       "users add`); set CITYHUB_DASHBOARD_SECRET to keep logins across "
                       "restarts.")
    p.add_argument("--city", default="bandung", help="pack name or directory")
    add_read_options(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8050)
    p.add_argument("--accounts", default="var/accounts.db",
                   help="the users who may log in (`cityhub users`); default var/accounts.db")
    p.add_argument("--alerts-api", default=None, metavar="URL",
                   help="the alerts service's API (e.g. http://127.0.0.1:8070), for the alarm "
                   "pages; without it they say it is not configured")
    p.add_argument("--language", default="en", choices=("en", "id"),
                   help="language of a user who has not chosen one; default en")
    p.add_argument("--map-tiles", default=None, metavar="URL",
                   help="street basemap: an XYZ tile URL template with {z}/{x}/{y}; default: "
                   "none (the offline outline map)")
    p.add_argument("--map-attribution", default=None,
                   help="the tiles' attribution, shown on the map (their licence needs it)")
    p.add_argument("--session-hours", type=float, default=12.0,
                   help="how long a login lasts; default 12")
    p.add_argument("--refresh", type=float, default=5.0,
                   help="seconds between live updates; default 5")
    p.set_defaults(handler=run, extra="dashboards", runs_until_stopped=True)
