"""``cityhub dashboard``: serve the command-centre pages of a city until stopped.

Registered in the ``cityhub.commands`` entry-point group; needs ``cityhub[dashboards]``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from accounts.cli import DB_ENV, DEFAULT_DB
from cityhub.config.packs import load_packs
from cityhub.secrets import secret
from cityhub.signals import wait_until_stopped
from cityhub.store.options import add_read_options, store_access

__all__ = ["register"]


def run(args: argparse.Namespace) -> int:
    """Serve the dashboards until SIGTERM or SIGINT; then stop serving and exit 0."""
    from accounts.store import Accounts
    from cityhub.store import Store
    from dashboards.app import create_app, freeze_startup_objects
    from dashboards.context import DashboardSettings
    from dashboards.data import CityData
    from dashboards.webserver import WebServer
    from stores import open_store

    packs = load_packs(args.city or ["bandung"])
    access = store_access(args)

    async def open_read_store() -> Store:
        return await open_store(access.settings, token=access.token, proxy=access.proxy)

    settings = DashboardSettings(
        refresh_s=args.refresh, live_refresh_s=args.live_refresh, language=args.language,
        map_tiles=args.map_tiles, map_attribution=args.map_attribution,
        session_hours=args.session_hours,
        wall_cycle_s=args.wall_cycle, secure_cookies=args.secure_cookies,
        secret_key=os.environ.get("CITYHUB_DASHBOARD_SECRET") or None,
        alerts_api=args.alerts_api,
        public_token=secret(args.public_token_env, what="the public view's API token")
        if args.public_token_env else None)
    accounts = Accounts(args.accounts or os.environ.get(DB_ENV) or DEFAULT_DB)
    feeds = []
    if args.broker_host:
        from cityhub.mqtt import BrokerSettings, TlsSettings
        from dashboards.data.live import LiveFeed

        broker = BrokerSettings(
            host=args.broker_host, port=args.broker_port, protocol=args.broker_protocol,
            username=args.broker_user, password_env=args.broker_password_env,
            tls=TlsSettings(ca_file=args.broker_ca) if args.broker_ca else None)
        password = secret(args.broker_password_env, what="the broker password") \
            if args.broker_password_env else None
        for pack in packs:
            feed = LiveFeed(pack.city.id, broker, password=password,
                            client_id=f"cityhub-dashboard-{pack.city.id}")
            feed.start()
            feeds.append(feed)
    cities = [CityData(pack, open_read_store) for pack in packs]
    try:
        app = create_app(cities, settings, accounts=accounts, live=feeds)
        freeze_startup_objects()
        with WebServer(app.server, args.host, args.port) as url:
            names = " · ".join(p.city.name for p in packs)
            print(f"cityhub dashboard: {names} at {url}", flush=True)
            sig = wait_until_stopped()
            print(f"cityhub dashboard: {sig.name}: stopping", flush=True)
    finally:
        for data in cities:
            data.close()
        accounts.close()
        for feed in feeds:
            feed.close()
    print("cityhub dashboard: stopped", flush=True)
    return 0


def register(sub: Any) -> None:
    """Add ``cityhub dashboard`` to the ``cityhub`` command."""
    p = sub.add_parser("dashboard", help="serve the dashboards",
                       description="Serve the command-centre dashboards of a city (or "
                       "several), reading from SQLite (default) or InfluxDB's v1 API, "
                       "until SIGTERM or SIGINT (Ctrl-C). Users log in with the hub's "
                       "accounts (`cityhub users add`); set CITYHUB_DASHBOARD_SECRET to "
                       "keep logins across restarts.")
    p.add_argument("--city", action="append", metavar="PACK",
                   help="pack name or directory; repeat it to serve several cities from one "
                   "command centre (users scoped to a city see theirs only); default bandung")
    add_read_options(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8050)
    p.add_argument("--accounts", default=None, metavar="PATH",
                   help="the users who may log in (`cityhub users`); default: "
                   f"${DB_ENV}, else {DEFAULT_DB}")
    p.add_argument("--alerts-api", default=None, metavar="URL",
                   help="the alerts service's API (e.g. http://127.0.0.1:8070), for the alarm "
                   "pages; without it they say it is not configured")
    p.add_argument("--public-token-env", default=None, metavar="VAR",
                   help="environment variable holding an API token of a viewer (`cityhub "
                   "users token`), with which the public view shows the departments' "
                   "response figures; without it they are left out")
    p.add_argument("--language", default="en", choices=("en", "id"),
                   help="language of a user who has not chosen one; default en")
    p.add_argument("--map-tiles", default=None, metavar="URL",
                   help="street basemap: an XYZ tile URL template with {z}/{x}/{y}; default: "
                   "none (the offline outline map)")
    p.add_argument("--map-attribution", default=None,
                   help="the tiles' attribution, shown on the map (their licence needs it)")
    p.add_argument("--secure-cookies", action="store_true",
                   help="send the session and language cookies over HTTPS only (set it "
                   "when the dashboards are served behind TLS)")
    p.add_argument("--session-hours", type=float, default=12.0,
                   help="how long a login lasts; default 12")
    b = p.add_argument_group("broker", "gateway statuses and analytics events, live")
    b.add_argument("--broker-host", default=None,
                   help="the MQTT broker (without it the gateways page says it has no broker)")
    b.add_argument("--broker-port", type=int, default=1883)
    b.add_argument("--broker-protocol", choices=("5", "3.1.1"), default="5")
    b.add_argument("--broker-user", default=None, help="e.g. cityhub-dashboard (cityhub broker "
                   "config makes this account)")
    b.add_argument("--broker-password-env", default=None, metavar="VAR",
                   help="environment variable holding the broker password")
    b.add_argument("--broker-ca", default=None, metavar="FILE", help="TLS: the broker's CA")
    p.add_argument("--wall-cycle", type=float, default=20.0, metavar="S",
                   help="wall mode (any page with ?wall=1): seconds per page; default 20")
    p.add_argument("--refresh", type=float, default=5.0,
                   help="seconds between updates of the pages; default 5")
    p.add_argument("--live-refresh", type=float, default=1.0, metavar="S",
                   help="seconds between updates of the overview's map and numbers (a new "
                   "reading shows within about two); default 1")
    p.set_defaults(handler=run, extra="dashboards", runs_until_stopped=True)
