"""``cityhub dashboard``: serve the command-centre pages of a city until stopped.

Registered in the ``cityhub.commands`` entry-point group; needs ``cityhub[dashboards]``.
"""

from __future__ import annotations

import argparse
from typing import Any

from cityhub.config import load_pack
from cityhub.signals import wait_until_stopped
from cityhub.store.options import add_read_options, store_access

__all__ = ["register"]


def run(args: argparse.Namespace) -> int:
    """Serve the dashboards until SIGTERM or SIGINT; then stop serving and exit 0."""
    from cityhub.store import Store
    from dashboards.app import create_app
    from dashboards.data import CityData
    from dashboards.webserver import WebServer
    from stores import open_store

    pack = load_pack(args.city)
    access = store_access(args)

    async def open_read_store() -> Store:
        return await open_store(access.settings, token=access.token, proxy=access.proxy)

    data = CityData(pack, open_read_store)
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
    add_read_options(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8050)
    p.set_defaults(handler=run, extra="dashboards", runs_until_stopped=True)
