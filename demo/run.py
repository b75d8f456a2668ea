"""The demo's composition root: a whole simulated city in one process.

Simulated sensors of every gateway of the pack -> edge publishers -> MQTT broker
(Mosquitto when installed, else embedded amqtt) -> ingester -> SQLite -> Dash dashboards,
and the analytics service on the same telemetry (derived series into the same SQLite,
events on the broker). A few faults are injected so the analytics have something to find
(:func:`_inject_faults`). It wires the hub's packages together; nothing imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from analytics.live.checkpoint import StateDir
from analytics.service import AnalyticsService
from analytics.settings import AnalyticsSettings, DetectionSettings
from cityhub.config import load_pack
from cityhub.config.pack import CityPack
from cityhub.fields import Domain
from cityhub.signals import run_until_stopped
from cityhub.store import SQLiteStore, StoreSettings
from dashboards.app import create_app
from dashboards.context import DashboardSettings
from dashboards.data import CityData
from dashboards.webserver import WebServer
from demo.broker import demo_broker
from edge.drivers.sim import SimDriver, Weather
from edge.publisher import GatewayPublisher
from edge.queue import DiskQueue
from ingest.deadletters import DeadLetters
from ingest.service import Ingester
from ingest.settings import IngestSettings
from ingest.spool import Spool

__all__ = ["run"]

log = logging.getLogger("cityhub.demo")


async def _run(args: argparse.Namespace) -> int:
    pack = load_pack(args.city)
    data_dir = Path(args.data_dir) / pack.city.id
    if args.fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    db_path = data_dir / "readings.db"

    async with demo_broker(args.broker) as (broker_desc, broker):
        shared = "ingest" if broker.protocol == "5" else None
        settings = IngestSettings(
            pack=args.city, broker=broker, client_id=f"cityhub-demo-ingest-{pack.city.id}",
            shared_group=shared, flush_interval_s=1.0,
            store=StoreSettings(kind="sqlite", path=str(db_path)),
            deadletter_path=str(data_dir / "deadletters.db"),
            spool_path=str(data_dir / "spool.db"))
        store = SQLiteStore(db_path)
        deadletters = DeadLetters(settings.deadletter_path)
        spool = Spool(settings.spool_path, settings.spool_max_bytes)
        ingester = Ingester(settings, pack, store, deadletters, spool)
        analytics_store = SQLiteStore(db_path)
        analytics = AnalyticsService(AnalyticsSettings(
            pack=args.city, broker=broker, client_id=f"cityhub-demo-analytics-{pack.city.id}",
            shared_group="analytics" if broker.protocol == "5" else None,
            store=StoreSettings(kind="sqlite", path=str(db_path)),
            state_dir=str(data_dir / "analytics"),
            # faults show within two minutes rather than the production ten
            detection=DetectionSettings(lamp_hold_s=120, rain_hold_s=120)),
            pack, analytics_store, StateDir(data_dir / "analytics"))

        weather = Weather(pack.city.timezone, seed=args.seed)
        if not args.no_storm:
            weather.add_storm(time.time() + 20, 15 * 60, 70.0)
        queues = [DiskQueue(data_dir / f"edge-{gw.id}.db") for gw in pack.gateways]
        publishers = [
            GatewayPublisher(pack, gw, [(s, SimDriver(s, pack, weather, args.seed,
                                                      args.time_scale)) for s in gw.sensors],
                             broker, q, interval_scale=args.interval_scale,
                             flush_interval_s=2.0)
            for gw, q in zip(pack.gateways, queues, strict=True)]
        if not args.no_faults:
            _inject_faults(pack, publishers)

        async def open_store() -> SQLiteStore:
            return SQLiteStore(db_path)

        data = CityData(pack, open_store)
        app = create_app(data, DashboardSettings(
            refresh_s=args.refresh, stale_after_s=max(120.0, 600 * args.interval_scale)))
        try:
            with WebServer(app.server, args.host, args.port) as url:
                n = sum(len(g.sensors) for g in pack.gateways)
                print(f"\ncityhub demo: {pack.city.name}, {len(pack.gateways)} gateways, "
                      f"{n} simulated sensors\n  broker:    {broker_desc}\n"
                      f"  store:     {db_path}\n  analytics: events on "
                      f"city/{pack.city.id}/events/#\n  dashboard: {url}\n"
                      "Open the dashboard in a browser. Ctrl-C stops.\n", flush=True)
                async with asyncio.TaskGroup() as tg:
                    tasks = [tg.create_task(ingester.run()), tg.create_task(analytics.run())]
                    # Subscribe before anything is published: a new session has no
                    # queue yet, so earlier readings would have no one to go to.
                    await asyncio.wait_for(ingester.connected.wait(), 60)
                    await asyncio.wait_for(analytics.connected.wait(), 60)
                    tasks += [tg.create_task(p.run()) for p in publishers]
                    tasks.append(tg.create_task(_report(ingester, analytics, publishers)))
                    if args.duration:
                        await asyncio.sleep(args.duration)
                        for t in tasks:
                            t.cancel()
        finally:
            data.close()
            await store.aclose()
            await analytics_store.aclose()
            analytics.state.close()
            deadletters.close()
            spool.close()
            for q in queues:
                q.close()
            print(f"cityhub demo: stopped; ingest {ingester.counters.snapshot()}; "
                  f"analytics {analytics.metrics.snapshot()}", flush=True)
    return 0


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


async def _report(ingester: Any, analytics: AnalyticsService, publishers: list[Any]) -> None:
    while True:
        await asyncio.sleep(30)
        sent = sum(p.published for p in publishers)
        log.info("demo: the edge agents published %d readings; the ingester stored them "
                 "as points (a point holds a device's readings of one time): %s; the "
                 "analytics: %s", sent, ingester.counters.snapshot(),
                 analytics.metrics.snapshot())


def run(args: argparse.Namespace) -> int:
    """Run the demo until ``--duration`` passes, or SIGTERM or SIGINT stops it: either way
    the broker it started is stopped and its temporary directory removed; exit 0."""
    asyncio.run(run_until_stopped(_run(args), name="cityhub demo"))
    return 0
