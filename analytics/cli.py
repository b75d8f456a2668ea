"""``cityhub analytics run`` (the streaming service, of one city or several:
:mod:`analytics.cities`), ``cityhub analytics report`` (a city's planning report for a
period), ``cityhub analytics backfill`` (a city's derived series recomputed from the
stored history) and ``cityhub analytics rivers``.

Registered in the ``cityhub.commands`` entry-point group; needs ``cityhub[analytics]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from cityhub.config import load_pack, load_settings
from cityhub.config.pack import CityPack
from cityhub.errors import ConfigError, ConfigProblem
from cityhub.store import Store
from cityhub.store.options import StoreAccess, add_read_options, store_access

__all__ = ["register"]

T = TypeVar("T")


def _day(value: str, tz: ZoneInfo, what: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(value).replace(tzinfo=tz) \
            if "T" not in value else dt.datetime.fromisoformat(value).astimezone(tz)
    except ValueError:
        raise ConfigError([ConfigProblem("command line", what, f"not a date: {value!r} "
                                         "(YYYY-MM-DD, the city's local midnight)")]) from None


class _Job(NamedTuple):
    pack: CityPack
    start: dt.datetime
    stop: dt.datetime
    access: StoreAccess


def _job(args: argparse.Namespace) -> _Job:
    """The pack, the period (the city's local midnights) and the store a command names;
    every problem a :class:`ConfigError`."""
    pack = load_pack(args.city)
    tz = ZoneInfo(pack.city.timezone)
    start, stop = _day(args.start, tz, "--from"), _day(args.stop, tz, "--to")
    if stop <= start:
        raise ConfigError([ConfigProblem("command line", "--to", "must come after --from")])
    return _Job(pack, start, stop, store_access(args))


async def _with_store(job: _Job, work: Callable[[Store], Awaitable[T]]) -> T:
    """Open the job's store, run ``work`` on it, close it."""
    from stores import open_store

    a = job.access
    store = await open_store(a.settings, token=a.token, proxy=a.proxy)
    try:
        return await work(store)
    finally:
        await store.aclose()


def report(args: argparse.Namespace) -> int:
    """Build and write the report; progress on stderr."""
    from analytics.report import build_report, write_report

    job = _job(args)
    rep = asyncio.run(_with_store(job, lambda store: build_report(
        job.pack, store, job.start, job.stop, _progress("report"))))
    print(file=sys.stderr)
    for path in write_report(rep, Path(args.out)):
        print(path)
    return 0


def backfill(args: argparse.Namespace) -> int:
    """Recompute the derived series of the period; progress on stderr."""
    from analytics.backfill import backfill as run_backfill

    job = _job(args)
    n = asyncio.run(_with_store(job, lambda store: run_backfill(
        job.pack, store, job.start, job.stop, _progress("backfill"))))
    print(file=sys.stderr)
    print(f"cityhub analytics backfill: {n} derived points written for "
          f"{job.start.date()} to {job.stop.date()}")
    return 0


async def _serve(settings: Any) -> None:
    """Every city of the settings' ``pack`` / ``packs``, one store client between them."""
    from analytics.cities import AnalyticsCities
    from cityhub.config.packs import load_packs
    from cityhub.proxies import proxy_for
    from cityhub.secrets import secret
    from stores import open_store

    packs = load_packs(settings.pack_names)
    password = secret(settings.broker.password_env, what="MQTT password")
    store = await open_store(
        settings.store, password=secret(settings.store.password_env, what="InfluxDB password"),
        token=secret(settings.store.token_env, what="InfluxDB token"),
        proxy=proxy_for(settings.store.url))
    try:
        await AnalyticsCities(settings, packs, store, password=password).run()
    finally:
        await store.aclose()


def run(args: argparse.Namespace) -> int:
    """Run the streaming service until SIGTERM / SIGINT."""
    from analytics.settings import AnalyticsSettings
    from cityhub.signals import run_until_stopped

    settings = load_settings(args.config, AnalyticsSettings)
    # Stopped: what is not in an inbox log is not acknowledged; the broker keeps it.
    asyncio.run(run_until_stopped(_serve(settings), name="cityhub analytics"))
    print("cityhub analytics: stopped", flush=True)
    return 0


def rivers(args: argparse.Namespace) -> int:
    """Print each river link's travel range and the lag its gauges' history shows."""
    from analytics.rivers import river_lags

    job = _job(args)
    lags = asyncio.run(_with_store(job, lambda store: river_lags(
        job.pack, store, job.start, job.stop)))
    if not lags:
        print(f"cityhub analytics rivers: the {job.pack.city.id} pack has no river links")
        return 0
    print(f"{'river':<12} {'upstream -> downstream':<44} {'pack (h)':>10} {'history (h)':>12} "
          f"{'corr':>6}  note")
    for x in lags:
        lag = "-" if x.lag_h is None else f"{x.lag_h:.1f}"
        corr = "-" if x.correlation is None else f"{x.correlation:.2f}"
        print(f"{x.river:<12} {x.upstream + ' -> ' + x.downstream:<44} "
              f"{x.travel_h[0]:>4g}-{x.travel_h[1]:<5g} {lag:>12} {corr:>6}  {x.note}")
    return 0


def _period_options(p: Any, last: str) -> None:
    """--city, --from, --to and the store options of a command over a period."""
    p.add_argument("--city", default="bandung", help="pack name or directory")
    p.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD")
    p.add_argument("--to", dest="stop", required=True, metavar="YYYY-MM-DD",
                   help=f"the day after the last day {last}")
    add_read_options(p)


def _progress(what: str) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            print(f"\rcityhub analytics {what}: {done}/{total} sensors", end="",
                  file=sys.stderr, flush=True)
    return show


def register(sub: Any) -> None:
    """Add ``cityhub analytics`` to the ``cityhub`` command."""
    p = sub.add_parser("analytics", help="analytics: the streaming service, reports, backfill",
                       description="Analytics commands. See docs/analytics.md.")
    asub = p.add_subparsers(dest="analytics_command", metavar="SUBCOMMAND", required=True)
    s = asub.add_parser(
        "run", help="the streaming service: readings -> derived series and events",
        description="Consume the telemetry of the city of the settings' pack, or of each "
        "of its packs (its own shared-subscription group, a persistent session per city), "
        "write derived series to the store (traffic_state, flood_state, light_state, "
        "rain_state, quality) and publish events on city/{city}/events/{domain}/{kind}. "
        "State is checkpointed; a message is acknowledged once it is in the inbox log on "
        "disk, so a restart resumes where it left off with no event published twice. See "
        "docs/analytics.md.")
    s.add_argument("--config", required=True, help="analytics settings YAML")
    s.set_defaults(handler=run, extra="analytics", runs_until_stopped=True)
    r = asub.add_parser(
        "report", help="a planning report for a period",
        description="Per district, over [--from, --to) in the city's local time: congestion "
        "hours by weekday and hour of the day, flood hours at each Siaga level, rain, "
        "street-lighting fault rate and energy, data completeness. Writes CSV files and "
        "one self-contained report.html (opens offline) into --out. Reads SQLite "
        "(default) or InfluxDB's v1 API. See docs/analytics.md.")
    _period_options(r, "reported")
    r.add_argument("--out", required=True, metavar="DIR")
    r.set_defaults(handler=report, extra="analytics")
    b = asub.add_parser(
        "backfill", help="recompute derived series from the stored history",
        description="For every sensor of the pack, read its readings of [--from, --to) "
        "from the store, run the analytics kernels and write the derived series back "
        "(traffic_state, flood_state, light_state, rain_state; docs/protocol.md). "
        "Idempotent: run it again and each point is stored once.")
    _period_options(b, "recomputed")
    b.set_defaults(handler=backfill, extra="analytics")
    v = asub.add_parser(
        "rivers", help="river links: the pack's travel times against the history's",
        description="For each river link of the pack whose both ends are gauges, the lag "
        "at which the rises upstream best match those downstream over [--from, --to) "
        "(lagged correlation on a 10-minute grid), beside the link's travel_h: whether the "
        "range the flood forecasts downstream use still holds. See docs/analytics.md.")
    _period_options(v, "compared")
    v.set_defaults(handler=rivers, extra="analytics")
