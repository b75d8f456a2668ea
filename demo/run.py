"""The demo's composition root: a whole simulated city in one process.

Simulated sensors of every gateway of the pack -> edge publishers -> MQTT broker
(Mosquitto when installed, else embedded amqtt) -> ingester -> SQLite -> Dash dashboards,
the analytics service on the same telemetry (derived series into the same SQLite,
events on the broker) and the alerts service (alarms from the pack's rules and the
analytics' events, notifications to the pack's departments, the alarm API). A few
faults are injected so the analytics have something to find (:func:`_inject_faults`);
the storm raises the rivers past Siaga III, which opens flood alarms. ``--webhook URL``
adds a department that hears of every alarm at that URL, signed with the secret in
``CITYHUB_DEMO_WEBHOOK_SECRET``. It wires the hub's packages together; nothing imports
it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from accounts import Accounts
from alerts.run import running_hub
from alerts.service import AlertsHub
from alerts.settings import AlertsSettings
from analytics.cities import AnalyticsCities
from analytics.settings import AnalyticsSettings, DetectionSettings
from cityhub.config.alerting import AlertsPolicy, Department, WebhookContact
from cityhub.config.pack import CityPack
from cityhub.config.packs import load_packs
from cityhub.errors import ConfigError, ConfigProblem
from cityhub.fields import Domain
from cityhub.signals import run_until_stopped
from cityhub.store import SQLiteStore, StoreSettings
from dashboards.app import create_app, freeze_startup_objects
from dashboards.context import DashboardSettings
from dashboards.data import CityData
from dashboards.data.live import LiveFeed
from dashboards.webserver import WebServer
from demo.broker import demo_broker
from devservices import free_port
from edge.drivers.sim import SimDriver, Weather
from edge.publisher import GatewayPublisher
from edge.queue import DiskQueue
from ingest.deadletters import DeadLetters
from ingest.service import Ingester
from ingest.settings import IngestSettings
from ingest.spool import Spool

__all__ = ["run"]

log = logging.getLogger("cityhub.demo")
WEBHOOK_SECRET_ENV = "CITYHUB_DEMO_WEBHOOK_SECRET"
DEMO_USER = "demo"


def with_webhook(pack: CityPack, url: str) -> CityPack:
    """``pack`` plus a department that hears of every alarm (info and up) at ``url``."""
    if not os.environ.get(WEBHOOK_SECRET_ENV):
        from alerts.channels.webhook import new_secret

        raise ConfigError([ConfigProblem(
            "command line", "--webhook", f"set {WEBHOOK_SECRET_ENV} to the receiver's "
            f"signing secret (the whsec_... form), e.g. {WEBHOOK_SECRET_ENV}={new_secret()}")])
    dept = Department(id="demo-webhook", name="Demo webhook", language="en",
                      subscriptions=({"min_severity": "info"},),
                      contacts=(WebhookContact(id="hook", channel="webhook", url=url,
                                               secret_env=WEBHOOK_SECRET_ENV),),
                      group_s=2.0)
    policy = AlertsPolicy(rules=pack.alerts.rules,
                          departments=(*pack.alerts.departments, dept),
                          dashboard_url=pack.alerts.dashboard_url)
    return pack.model_copy(update={"alerts": policy})


def storm_now(time_scale: float) -> tuple[float, float, float]:
    """A 15-minute storm of 100 mm/h at its peak (start, duration, peak), under way so
    that the rain upstream (which reaches a gauge 20 river-minutes later) is at its
    heaviest as the demo starts: the rivers pass Siaga III a minute or two in, which
    opens flood alarms, and fall back within a quarter of an hour."""
    duration = 15 * 60
    return time.time() - 1200 / time_scale - duration / 2 + 30, duration, 100.0


def demo_account(path: Path) -> str:
    """The demo's admin user, with a new password each run (printed once)."""
    password = secrets.token_urlsafe(12)
    with Accounts(path) as accounts:
        if accounts.get(DEMO_USER) is None:
            accounts.add(DEMO_USER, "admin", password)
        else:
            accounts.set_password(DEMO_USER, password)
    return password


PUBLIC_USER = "public-view"


def public_view_token(path: Path) -> str:
    """A viewer's API token for the public view's response figures: the account has a
    password nobody knows, and each run revokes the previous run's token."""
    with Accounts(path) as accounts:
        if accounts.get(PUBLIC_USER) is None:
            accounts.add(PUBLIC_USER, "viewer", secrets.token_urlsafe(24))
        for t in accounts.tokens(PUBLIC_USER):
            if not t.revoked:
                accounts.revoke_token(t.id)
        return accounts.issue_token(PUBLIC_USER, "public view")


async def _run(args: argparse.Namespace) -> int:
    names: list[str] = args.city or ["bandung"]
    packs = load_packs(names)
    if args.webhook:
        packs = tuple(with_webhook(p, args.webhook) for p in packs)
    cities = "-".join(p.city.id for p in packs)
    # one city: its pack as settings name it, as ever; several: each named (per city)
    which: dict[str, Any] = {"pack": names[0]} if len(names) == 1 else {"packs": tuple(names)}
    data_dir = Path(args.data_dir) / cities
    if args.fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    db_path = data_dir / "readings.db"

    async with demo_broker(packs, args.broker) as broker:
        broker_desc = broker.description
        logins = {s: broker.for_service(s) for s in ("ingest", "analytics", "alerts",
                                                     "dashboard")}
        shared = "ingest" if broker.protocol == "5" else None
        settings = IngestSettings(
            **which, broker=logins["ingest"][0],
            client_id=f"cityhub-demo-ingest-{cities}",
            shared_group=shared, flush_interval_s=1.0,
            store=StoreSettings(kind="sqlite", path=str(db_path)),
            deadletter_path=str(data_dir / "deadletters.db"),
            spool_path=str(data_dir / "spool.db"))
        store = SQLiteStore(db_path)
        deadletters = DeadLetters(settings.deadletter_path)
        spool = Spool(settings.spool_path, settings.spool_max_bytes)
        ingester = Ingester(settings, packs, store, deadletters, spool,
                            password=logins["ingest"][1])
        analytics_store = SQLiteStore(db_path)
        analytics = AnalyticsCities(AnalyticsSettings(
            **which, broker=logins["analytics"][0],
            client_id=f"cityhub-demo-analytics-{cities}",
            shared_group="analytics" if broker.protocol == "5" else None,
            store=StoreSettings(kind="sqlite", path=str(db_path)),
            state_dir=str(data_dir / "analytics"),
            # faults show within two minutes rather than the production ten
            detection=DetectionSettings(lamp_hold_s=120, rain_hold_s=120)),
            packs, analytics_store, password=logins["analytics"][1])

        queues: list[DiskQueue] = []
        publishers = []
        for pack in packs:
            weather = Weather(pack.city.timezone, seed=args.seed)
            if not args.no_storm:
                weather.add_storm(*storm_now(args.time_scale))
            mine = []
            for gw in pack.gateways:
                q = DiskQueue(data_dir / f"edge-{pack.city.id}-{gw.id}.db")
                queues.append(q)
                login, gw_password = broker.for_gateway(gw)  # its own account, when locked
                mine.append(GatewayPublisher(
                    pack, gw, [(s, SimDriver(s, pack, weather, args.seed, args.time_scale))
                               for s in gw.sensors],
                    login, q, password=gw_password, interval_scale=args.interval_scale,
                    flush_interval_s=2.0))
            if not args.no_faults:
                _inject_faults(pack, mine)
            publishers += mine

        async def open_store() -> SQLiteStore:
            return SQLiteStore(db_path)

        alerts_port = args.alerts_port or free_port()  # the dashboards need it up front
        alerts_settings = AlertsSettings(
            **which, broker=logins["alerts"][0],
            client_id=f"cityhub-demo-alerts-{cities}",
            shared_group="alerts" if broker.protocol == "5" else None,
            database=str(data_dir / "alarms.db"), accounts=str(data_dir / "accounts.db"),
            http_host=args.host, http_port=alerts_port,
            dashboard_url=f"http://{args.host}:{args.port}")
        password = demo_account(data_dir / "accounts.db")

        datas = [CityData(pack, open_store) for pack in packs]
        accounts = Accounts(data_dir / "accounts.db")
        feeds = [LiveFeed(pack.city.id, logins["dashboard"][0], password=logins["dashboard"][1],
                          client_id=f"cityhub-demo-dashboard-{pack.city.id}")
                 for pack in packs]
        for feed in feeds:
            feed.start()
        app = create_app(datas, DashboardSettings(
            refresh_s=args.refresh, stale_after_s=max(120.0, 600 * args.interval_scale),
            alerts_api=f"http://{args.host}:{alerts_port}",
            public_token=public_view_token(data_dir / "accounts.db")),
            accounts=accounts, live=feeds)
        freeze_startup_objects()
        alerts: AlertsHub | None = None
        try:
            with WebServer(app.server, args.host, args.port) as url:
                async with running_hub(alerts_settings, packs,
                                       password=logins["alerts"][1]) as alerts, \
                        asyncio.TaskGroup() as tg:
                    tasks = [tg.create_task(ingester.run()), tg.create_task(analytics.run()),
                             tg.create_task(alerts.run())]
                    # Subscribe before anything is published: a new session has no
                    # queue yet, so earlier readings would have no one to go to.
                    async with asyncio.timeout(60):
                        await ingester.connected.wait()
                        await analytics.wait_connected()
                        await alerts.wait_connected()
                    print(_banner(args, packs, broker_desc, db_path, alerts, url, password),
                          flush=True)
                    tasks += [tg.create_task(p.run()) for p in publishers]
                    tasks.append(tg.create_task(_report(ingester, analytics, publishers)))
                    if args.duration:
                        await asyncio.sleep(args.duration)
                        for t in tasks:
                            t.cancel()
        finally:
            for data in datas:
                data.close()
            for feed in feeds:
                feed.close()
            accounts.close()
            await store.aclose()
            await analytics_store.aclose()
            deadletters.close()
            spool.close()
            for q in queues:
                q.close()
            told = ""
            if alerts is not None:
                told = "; alerts " + str({c: s.metrics.snapshot()
                                          for c, s in alerts.services.items()})
            print(f"cityhub demo: stopped; ingest {ingester.counters.snapshot()}; "
                  f"analytics {analytics.snapshot()}{told}", flush=True)
    return 0


def _banner(args: argparse.Namespace, packs: tuple[CityPack, ...], broker: str,
            db_path: Path, alerts: AlertsHub, url: str, password: str) -> str:
    """What the demo runs and where to look, printed once everything is connected."""
    gateways = sum(len(p.gateways) for p in packs)
    sensors = sum(len(g.sensors) for p in packs for g in p.gateways)
    names = " and ".join(p.city.name for p in packs)
    ids = ",".join(p.city.id for p in packs)
    topics = f"city/{packs[0].city.id}" if len(packs) == 1 else "city/{" + ids + "}"
    api = f"http://{args.host}:{alerts.http_port}/api/alarms"
    if len(packs) > 1:
        api += "?city=<id>"
    hook = f"\n  webhook:   alarms to {args.webhook}" if args.webhook else ""
    several = ("\n  cities:    pick one in the dashboard's menu; users scoped to one see "
               "theirs only (cityhub users city NAME ID)") if len(packs) > 1 else ""
    return (f"\ncityhub demo: {names}, {gateways} gateways, {sensors} simulated sensors\n"
            f"  broker:    {broker}\n  store:     {db_path}\n  analytics: events on "
            f"{topics}/events/#\n  alerts:    alarms on {topics}/alerts/#; API {api}{hook}\n"
            f"  dashboard: {url} (log in as {DEMO_USER}, password {password}){several}\n"
            "Open the dashboard in a browser. Ctrl-C stops.\n")


def _inject_faults(pack: CityPack, publishers: list[GatewayPublisher]) -> None:
    """From a minute in, for the analytics to find: the city's first lamp burns by day,
    its second is dark at night (whichever the hour shows), and its first traffic sensor
    repeats one reading (stuck)."""
    sims = {s.id: d.sim for p in publishers for s, d in p.sensors
            if isinstance(d, SimDriver)}
    start = time.time() + 60
    lamps = [d for d, (_, s) in pack.sensors.items() if s.domain == Domain.LIGHTING]
    roads = [d for d, (_, s) in pack.sensors.items() if s.domain == Domain.TRAFFIC]
    for device, kind in [*zip(lamps[:2], ("day_burning", "lamp_out"), strict=False),
                         *((d, "stuck") for d in roads[:1])]:
        if device in sims:
            sims[device].inject(kind, start)
            log.info("demo: fault %s injected into %s from a minute in", kind, device)


async def _report(ingester: Any, analytics: AnalyticsCities, publishers: list[Any]) -> None:
    while True:
        await asyncio.sleep(30)
        sent = sum(p.published for p in publishers)
        log.info("demo: the edge agents published %d readings; the ingester stored them "
                 "as points (a point holds a device's readings of one time): %s; the "
                 "analytics: %s", sent, ingester.counters.snapshot(),
                 analytics.snapshot())


def run(args: argparse.Namespace) -> int:
    """Run the demo until ``--duration`` passes, or SIGTERM or SIGINT stops it: either way
    the broker it started is stopped and its temporary directory removed; exit 0."""
    asyncio.run(run_until_stopped(_run(args), name="cityhub demo"))
    return 0
