"""``cityhub dashboard``: serve the command-centre pages of a city until stopped.

Registered in the ``cityhub.commands`` entry-point group; needs ``cityhub[dashboards]``.
"""

from __future__ import annotations

import argparse
from typing import Any

from cityhub.config import load_pack
from cityhub.proxies import proxy_for
from cityhub.secrets import secret
from cityhub.signals import wait_until_stopped

__all__ = ["register"]


def run(args: argparse.Namespace) -> int:
    """Serve the dashboards until SIGTERM or SIGINT; then stop serving and exit 0."""
    from cityhub.store import SQLiteStore, Store
    from dashboards.app import create_app
    from dashboards.data import CityData
    from dashboards.webserver import WebServer
    from stores import InfluxV1Store

    pack = load_pack(args.city)
    token = secret(args.token_env, what="InfluxDB token")
    proxy = proxy_for(args.influx_url) if args.influx_url else None

    async def open_store() -> Store:
        if args.influx_url:
            return InfluxV1Store(args.influx_url, args.database, token=token, proxy=proxy)
        return SQLiteStore(args.sqlite)

    data = CityData(pack, open_store)
    try:
        with WebServer(create_app(data).server, args.host, args.port) as url:
            print(f"cityhub dashboard: {pack.city.name} at {url}", flush=True)
            sig = wait_until_stopped()
            print(f"cityhub dashboard: {sig.name}: stopping", flush=True)
    finally:
        data.close()
    print("cityhub dashboard: stopped", flush=True)
    return 0


def register(sub: Any) -> None:
    """Add ``cityhub dashboard`` to the ``cityhub`` command."""
    p = sub.add_parser("dashboard", help="serve the dashboards",
                       description="Serve the command-centre dashboards of a city, reading "
                       "from SQLite (default) or InfluxDB's v1 API, until SIGTERM or "
                       "SIGINT (Ctrl-C).")
    p.add_argument("--city", default="bandung", help="pack name or directory")
    p.add_argument("--sqlite", default="var/cityhub.db", help="SQLite store file")
    p.add_argument("--influx-url", help="read InfluxDB at this URL instead of SQLite")
    p.add_argument("--database", default="cityhub", help="InfluxDB database")
    p.add_argument("--token-env", help="environment variable holding an InfluxDB token")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8050)
    p.set_defaults(handler=run, extra="dashboards", runs_until_stopped=True)
