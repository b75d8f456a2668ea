"""``cityhub demo``: a whole simulated city in one process.

Simulated sensors of every gateway of the pack -> edge publishers -> MQTT broker
(Mosquitto when installed, else embedded amqtt) -> ingester -> SQLite -> Dash dashboards.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from cityhub.config import load_pack

log = logging.getLogger("cityhub.demo")


async def _run(args: argparse.Namespace) -> int:
    from cityhub.cli.broker import demo_broker
    from cityhub.cli.webserver import WebServer
    from cityhub.store import SQLiteStore, StoreSettings
    from dashboards.app import create_app
    from dashboards.context import DashboardSettings
    from dashboards.data import CityData
    from edge.drivers.sim import SimDriver, Weather
    from edge.publisher import GatewayPublisher
    from edge.queue import DiskQueue
    from ingest.deadletters import DeadLetters
    from ingest.service import Ingester
    from ingest.settings import IngestSettings
    from ingest.spool import Spool

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
                      f"  store:     {db_path}\n  dashboard: {url}\n"
                      "Open the dashboard in a browser. Ctrl-C stops.\n", flush=True)
                async with asyncio.TaskGroup() as tg:
                    tasks = [tg.create_task(ingester.run())]
                    # Subscribe before anything is published: a new session has no
                    # queue yet, so earlier readings would have no one to go to.
                    await asyncio.wait_for(ingester.connected.wait(), 60)
                    tasks += [tg.create_task(p.run()) for p in publishers]
                    tasks.append(tg.create_task(_report(ingester, publishers)))
                    if args.duration:
                        await asyncio.sleep(args.duration)
                        for t in tasks:
                            t.cancel()
        finally:
            data.close()
            await store.aclose()
            deadletters.close()
            spool.close()
            for q in queues:
                q.close()
        print(f"cityhub demo: stopped; {ingester.counters.snapshot()}", flush=True)
    return 0


async def _report(ingester: Any, publishers: list[Any]) -> None:
    while True:
        await asyncio.sleep(30)
        sent = sum(p.published for p in publishers)
        log.info("demo: the edge agents published %d readings; the ingester stored them "
                 "as points (a point holds a device's readings of one time): %s", sent,
                 ingester.counters.snapshot())


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        print("cityhub demo: stopped", flush=True)
        return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo", help="run a simulated city end to end",
        description="Run a simulated city in one process: every sensor of the city pack "
        "simulated, published by its gateway over MQTT, ingested into SQLite and shown on "
        "the dashboards. Uses Mosquitto when installed, else an embedded amqtt broker. "
        "A rain storm starts 20 s in, so rivers rise while you watch.")
    p.add_argument("--city", default="bandung",
                   help="shipped pack name (bandung, bogor) or a pack directory; "
                   "default: bandung")
    p.add_argument("--host", default="127.0.0.1", help="dashboard address; default 127.0.0.1")
    p.add_argument("--port", type=int, default=8050, help="dashboard port; default 8050")
    p.add_argument("--data-dir", default="var/demo", help="where the demo keeps its SQLite "
                   "files; default var/demo")
    p.add_argument("--fresh", action="store_true", help="delete the city's demo data first")
    p.add_argument("--broker", choices=["auto", "mosquitto", "amqtt"], default="auto",
                   help="default auto: Mosquitto if installed, else embedded amqtt")
    p.add_argument("--interval-scale", type=float, default=0.1,
                   help="multiply every sensor's sampling interval; default 0.1 "
                   "(a 60 s sensor samples every 6 s)")
    p.add_argument("--time-scale", type=float, default=10.0,
                   help="how much faster rivers respond than real time; default 10")
    p.add_argument("--no-storm", action="store_true", help="no injected rain storm")
    p.add_argument("--seed", type=int, default=1, help="simulation seed; default 1")
    p.add_argument("--refresh", type=float, default=3.0,
                   help="dashboard refresh seconds; default 3")
    p.add_argument("--duration", type=float, default=0,
                   help="stop after this many seconds (0: run until Ctrl-C)")
    p.set_defaults(handler=run)
