"""``cityhub dashboard``: serve the command-centre pages."""

from __future__ import annotations

import argparse
import time
from typing import Any

from cityhub.cli.secrets import secret
from cityhub.config import load_pack


def run(args: argparse.Namespace) -> int:
    from cityhub.cli.webserver import WebServer
    from cityhub.store import InfluxV1Store, SQLiteStore, Store
    from dashboards.app import create_app
    from dashboards.data import CityData

    pack = load_pack(args.city)

    async def open_store() -> Store:
        if args.influx_url:
            return InfluxV1Store(args.influx_url, args.database,
                                 token=secret(args.token_env, what="InfluxDB token"))
        return SQLiteStore(args.sqlite)

    data = CityData(pack, open_store)
    try:
        with WebServer(create_app(data).server, args.host, args.port) as url:
            print(f"cityhub dashboard: {pack.city.name} at {url}", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        data.close()
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("dashboard", help="serve the dashboards",
                       description="Serve the command-centre dashboards of a city, reading "
                       "from SQLite (default) or InfluxDB's v1 API.")
    p.add_argument("--city", default="bandung", help="pack name or directory")
    p.add_argument("--sqlite", default="var/cityhub.db", help="SQLite store file")
    p.add_argument("--influx-url", help="read InfluxDB at this URL instead of SQLite")
    p.add_argument("--database", default="cityhub", help="InfluxDB database")
    p.add_argument("--token-env", help="environment variable holding an InfluxDB token")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8050)
    p.set_defaults(handler=run)
