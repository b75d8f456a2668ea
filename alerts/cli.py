"""``cityhub alerts run`` (the service: rules, alarms, notifications, the API) and
``cityhub alerts report`` (departments' response figures for a period).

Registered in the ``cityhub.commands`` entry-point group; needs ``cityhub[alerts]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cityhub.config import load_pack, load_settings
from cityhub.errors import ConfigError, ConfigProblem

__all__ = ["register"]


async def _serve(settings: Any) -> None:
    from alerts.run import running_hub
    from cityhub.config.packs import load_packs
    from cityhub.secrets import secret

    packs = load_packs(settings.pack_names)
    password = secret(settings.broker.password_env, what="MQTT password")
    async with running_hub(settings, packs, password=password) as hub:
        await hub.run()


def run(args: argparse.Namespace) -> int:
    """Run the alerts service until SIGTERM / SIGINT."""
    from alerts.settings import AlertsSettings
    from cityhub.signals import run_until_stopped

    settings = load_settings(args.config, AlertsSettings)
    # Stopped: what was not committed is not acknowledged; the broker keeps it.
    asyncio.run(run_until_stopped(_serve(settings), name="cityhub alerts"))
    print("cityhub alerts: stopped", flush=True)
    return 0


def _day(value: str, tz: ZoneInfo, what: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(value).replace(tzinfo=tz)
    except ValueError:
        raise ConfigError([ConfigProblem("command line", what, f"not a date: {value!r} "
                                         "(YYYY-MM-DD, the city's local midnight)")]) from None


def report(args: argparse.Namespace) -> int:
    """Write the response figures of [--from, --to) into --out."""
    from alerts.report import build_report, write_report
    from alerts.store import SqliteAlarmStore

    pack = load_pack(args.city)
    tz = ZoneInfo(pack.city.timezone)
    start, stop = _day(args.start, tz, "--from"), _day(args.stop, tz, "--to")
    if stop <= start:
        raise ConfigError([ConfigProblem("command line", "--to", "must come after --from")])
    if not Path(args.database).is_file():
        raise ConfigError([ConfigProblem("command line", "--database",
                                         f"no alarm store at {args.database}")])
    store = SqliteAlarmStore(args.database)
    try:
        owner = store.city()
        if owner is not None and owner != pack.city.id:
            raise ConfigError([ConfigProblem(
                "command line", "--database", f"{args.database} holds the alarms of city "
                f"{owner!r}, not {pack.city.id!r} (--city): name that city's alarm store")])
        rep = build_report(pack, store, start, stop)
    finally:
        store.close_db()
    for path in write_report(rep, Path(args.out)):
        print(path)
    return 0


def register(sub: Any) -> None:
    """Add ``cityhub alerts`` to the ``cityhub`` command."""
    p = sub.add_parser("alerts", help="alerts: the alarm service and response reports",
                       description="Alerts commands. See docs/alerts.md.")
    asub = p.add_subparsers(dest="alerts_command", metavar="SUBCOMMAND", required=True)
    s = asub.add_parser(
        "run", help="the alerts service: rules -> alarms -> notifications, and the API",
        description="Judge a city's telemetry, gateway status and analytics events by the "
        "pack's alert rules (several cities' with packs: [..], one process, one API); "
        "keep alarms (OPEN -> ACKNOWLEDGED -> RESOLVED -> CLOSED) with "
        "their audit trail in SQLite; notify departments by MQTT, signed webhooks, e-mail "
        "and Apprise (grouped, rate-limited, silenced, escalated); serve the HTTP API "
        "(/api/openapi.json), /metrics and /healthz. Secrets come from the environment "
        "variables the pack names. See docs/alerts.md.")
    s.add_argument("--config", required=True, help="alerts settings YAML")
    s.set_defaults(handler=run, extra="alerts", runs_until_stopped=True)
    r = asub.add_parser(
        "report", help="departments' response figures for a period",
        description="Per department and month of [--from, --to) (the city's local time): "
        "alarms received, median and p90 time to acknowledge and to resolve, escalations, "
        "alarms still open at the end. Writes response.csv and a self-contained "
        "response.html (charts; opens offline) into --out.")
    r.add_argument("--city", default="bandung", help="pack name or directory")
    r.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD")
    r.add_argument("--to", dest="stop", required=True, metavar="YYYY-MM-DD",
                   help="the day after the last day reported")
    r.add_argument("--database", default="var/alerts/alarms.db",
                   help="the alarm store (default: var/alerts/alarms.db)")
    r.add_argument("--out", required=True, metavar="DIR")
    r.set_defaults(handler=report, extra="alerts")
