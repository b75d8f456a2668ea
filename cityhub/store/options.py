"""The command-line options of a command that reads the store (``cityhub dashboard``,
``cityhub analytics report`` and ``backfill``): one set, turned into the
:class:`StoreSettings` that ``stores.open_store`` opens, with the token and the proxy it
needs resolved from the environment here, at the edge of the process."""

from __future__ import annotations

import argparse
from typing import Any, NamedTuple

from cityhub.proxies import proxy_for
from cityhub.secrets import secret
from cityhub.store.settings import StoreSettings

__all__ = ["StoreAccess", "add_read_options", "read_settings", "store_access"]


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


class StoreAccess(NamedTuple):
    """What ``stores.open_store(settings, token=token, proxy=proxy)`` takes."""

    settings: StoreSettings
    token: str | None
    proxy: str | None


def store_access(args: argparse.Namespace) -> StoreAccess:
    """The store the options name, its token (from ``--token-env``) and the proxy for its
    URL; a :class:`~cityhub.errors.ConfigError` names a token variable that is not set."""
    settings = read_settings(args)
    return StoreAccess(settings, secret(settings.token_env, what="InfluxDB token"),
                       proxy_for(settings.url) if settings.kind != "sqlite" else None)
