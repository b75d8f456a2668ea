"""``cityhub analytics report`` (a city's planning report for a period) and ``cityhub
analytics backfill`` (derived series recomputed from the stored history).

Registered in the ``cityhub.commands`` entry-point group; needs ``cityhub[analytics]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cityhub.config import load_pack
from cityhub.errors import ConfigError, ConfigProblem
from cityhub.proxies import proxy_for
from cityhub.secrets import secret
from cityhub.store.options import add_read_options, read_settings

__all__ = ["register"]


def _day(value: str, tz: ZoneInfo, what: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(value).replace(tzinfo=tz) \
            if "T" not in value else dt.datetime.fromisoformat(value).astimezone(tz)
    except ValueError:
        raise ConfigError([ConfigProblem("command line", what, f"not a date: {value!r} "
                                         "(YYYY-MM-DD, the city's local midnight)")]) from None


def report(args: argparse.Namespace) -> int:
    """Build and write the report; progress on stderr."""
    from analytics.report import build_report, write_report
    from stores import open_store

    pack = load_pack(args.city)
    tz = ZoneInfo(pack.city.timezone)
    start, stop = _day(args.start, tz, "--from"), _day(args.stop, tz, "--to")
    if stop <= start:
        raise ConfigError([ConfigProblem("command line", "--to", "must come after --from")])
    settings = read_settings(args)
    token = secret(settings.token_env, what="InfluxDB token")
    proxy = proxy_for(settings.url) if settings.kind != "sqlite" else None

    async def run() -> list[Path]:
        store = await open_store(settings, token=token, proxy=proxy)
        try:
            rep = await build_report(pack, store, start, stop, _progress("report"))
        finally:
            await store.aclose()
        return write_report(rep, Path(args.out))

    written = asyncio.run(run())
    print(file=sys.stderr)
    for path in written:
        print(path)
    return 0


def backfill(args: argparse.Namespace) -> int:
    """Recompute the derived series of the period; progress on stderr."""
    from analytics.backfill import backfill as run_backfill
    from stores import open_store

    pack = load_pack(args.city)
    tz = ZoneInfo(pack.city.timezone)
    start, stop = _day(args.start, tz, "--from"), _day(args.stop, tz, "--to")
    if stop <= start:
        raise ConfigError([ConfigProblem("command line", "--to", "must come after --from")])
    settings = read_settings(args)
    token = secret(settings.token_env, what="InfluxDB token")
    proxy = proxy_for(settings.url) if settings.kind != "sqlite" else None

    async def run() -> int:
        store = await open_store(settings, token=token, proxy=proxy)
        try:
            return await run_backfill(pack, store, start, stop, _progress("backfill"))
        finally:
            await store.aclose()

    n = asyncio.run(run())
    print(file=sys.stderr)
    print(f"cityhub analytics backfill: {n} derived points written for "
          f"{start.date()} to {stop.date()}")
    return 0


def _progress(what: str) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            print(f"\rcityhub analytics {what}: {done}/{total} sensors", end="",
                  file=sys.stderr, flush=True)
    return show


def register(sub: Any) -> None:
    """Add ``cityhub analytics`` to the ``cityhub`` command."""
    p = sub.add_parser("analytics", help="analytics: planning reports",
                       description="Analytics commands. The streaming service is to come.")
    asub = p.add_subparsers(dest="analytics_command", metavar="SUBCOMMAND", required=True)
    r = asub.add_parser(
        "report", help="a planning report for a period",
        description="Per district, over [--from, --to) in the city's local time: congestion "
        "hours by weekday and hour of the day, flood hours at each Siaga level, rain, "
        "street-lighting fault rate and energy, data completeness. Writes CSV files and "
        "one self-contained report.html (opens offline) into --out. Reads SQLite "
        "(default) or InfluxDB's v1 API. See docs/analytics.md.")
    r.add_argument("--city", default="bandung", help="pack name or directory")
    r.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD")
    r.add_argument("--to", dest="stop", required=True, metavar="YYYY-MM-DD",
                   help="the day after the last day reported")
    r.add_argument("--out", required=True, metavar="DIR")
    add_read_options(r)
    r.set_defaults(handler=report, extra="analytics")
    b = asub.add_parser(
        "backfill", help="recompute derived series from the stored history",
        description="For every sensor of the pack, read its readings of [--from, --to) "
        "from the store, run the analytics kernels and write the derived series back "
        "(traffic_state, flood_state, light_state, rain_state; docs/protocol.md). "
        "Idempotent: run it again and each point is stored once.")
    b.add_argument("--city", default="bandung", help="pack name or directory")
    b.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD")
    b.add_argument("--to", dest="stop", required=True, metavar="YYYY-MM-DD",
                   help="the day after the last day recomputed")
    add_read_options(b)
    b.set_defaults(handler=backfill, extra="analytics")
