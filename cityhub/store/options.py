"""The command-line options of a command that reads the store (``cityhub dashboard``,
``cityhub analytics report``): one set, turned into the :class:`StoreSettings` that
``stores.open_store`` opens."""

from __future__ import annotations

import argparse
from typing import Any

from cityhub.store.settings import StoreSettings

__all__ = ["add_read_options", "read_settings"]


def add_read_options(p: Any) -> None:
    """Add ``--sqlite``, ``--influx-url``, ``--database`` and ``--token-env`` to ``p``."""
    p.add_argument("--sqlite", default="var/cityhub.db", help="SQLite store file "
                   "(default var/cityhub.db; the demo's: var/demo/CITY/readings.db)")
    p.add_argument("--influx-url", help="read InfluxDB (v1 API) at this URL instead of SQLite")
    p.add_argument("--database", default="cityhub", help="InfluxDB database; default cityhub")
    p.add_argument("--token-env", help="environment variable holding an InfluxDB token")


def read_settings(args: argparse.Namespace) -> StoreSettings:
    """The store those options name."""
    if args.influx_url:
        return StoreSettings(kind="influxdb-v1", url=args.influx_url, database=args.database,
                             token_env=args.token_env)
    return StoreSettings(kind="sqlite", path=args.sqlite)
