"""The hub's flow through the locked-down broker: a gateway's readings, with its own
account, reach the ingester (stored), the analytics service (derived points and an
event) and the alerts service (an alarm, on the alerts feed), each with its own account
and the generated ACL, and the dashboard's account reads the events and alarms; a
gateway forging another's topic reaches none."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import pytest

from alerts.model import AlarmFilter
from alerts.service import AlertsService
from alerts.settings import AlertsSettings
from alerts.store import SqliteAlarmStore
from analytics.live.checkpoint import StateDir
from analytics.service import AnalyticsService
from analytics.settings import AnalyticsSettings
from cityhub.mqtt import BrokerSettings
from cityhub.senml import Reading, encode_pack
from cityhub.store import SQLiteStore, StoreSettings
from cityhub.topics import telemetry_topic
from edge.drivers.sim import SimDriver, Weather
from edge.publisher import GatewayPublisher
from edge.queue import DiskQueue
from ingest.deadletters import DeadLetters
from ingest.service import Ingester
from ingest.settings import IngestSettings
from ingest.spool import Spool
from tests.broker.conftest import PASSWORDS, Broker
from tests.ingest.test_end_to_end import until

pytestmark = pytest.mark.integration


def broker_as(b: Broker, user: str) -> BrokerSettings:
    return BrokerSettings(host="127.0.0.1", port=b.port, protocol="3.1.1", username=user)


@contextlib.asynccontextmanager
async def running(*services: Any) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(s.run()) for s in services]
    try:
        for s in services:
            async with asyncio.timeout(30):
                await s.connected.wait()
        yield
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_hub_works_through_the_locked_down_broker(live_broker: Broker,
                                                            tmp_path: Path) -> None:
    b = live_broker
    city = b.city
    pack = b.pack  # its alerts: a Siaga rule and department bpbd, reached over MQTT
    db = tmp_path / "readings.db"
    store, derived = SQLiteStore(db), SQLiteStore(tmp_path / "derived.db")
    ingest_settings = IngestSettings(
        pack=city, broker=broker_as(b, "cityhub-ingest"), client_id=f"i-{uuid.uuid4().hex[:6]}",
        flush_interval_s=0.1, store=StoreSettings(), deadletter_path=str(tmp_path / "dl.db"),
        spool_path=str(tmp_path / "spool.db"))
    deadletters = DeadLetters(ingest_settings.deadletter_path)
    spool = Spool(ingest_settings.spool_path, ingest_settings.spool_max_bytes)
    ingester = Ingester(ingest_settings, pack, store, deadletters, spool,
                        password=PASSWORDS["cityhub-ingest"])
    state = StateDir(tmp_path / "analytics")
    analytics = AnalyticsService(AnalyticsSettings(
        pack=city, broker=broker_as(b, "cityhub-analytics"), flush_interval_s=0.1,
        client_id=f"a-{uuid.uuid4().hex[:6]}"), pack, derived, state,
        password=PASSWORDS["cityhub-analytics"])
    alarms = SqliteAlarmStore(tmp_path / "alarms.db")
    alerts = AlertsService(AlertsSettings(
        pack=city, broker=broker_as(b, "cityhub-alerts"), client_id=f"al-{uuid.uuid4().hex[:6]}",
        database=str(tmp_path / "alarms.db"), batch_interval_s=0.05), pack, alarms, {},
        password=PASSWORDS["cityhub-alerts"])
    from alerts.run import build_channels

    alerts.dispatcher.channels.update(build_channels(pack, alerts.settings, alerts.publish,
                                                     None, {}))  # type: ignore[arg-type]
    told: list[dict[str, Any]] = []
    t0 = time.time() - 120
    try:
        async with running(ingester, analytics, alerts), aiomqtt.Client(
                "127.0.0.1", b.port, identifier=f"dash-{uuid.uuid4().hex[:6]}",
                username="cityhub-dashboard", password=PASSWORDS["cityhub-dashboard"]) as dash:
            await dash.subscribe(f"city/{city}/alerts/#", qos=1)
            await dash.subscribe(f"city/{city}/events/#", qos=1)
            dept = aiomqtt.Client("127.0.0.1", b.port, identifier=f"bpbd-{uuid.uuid4().hex[:6]}",
                                  username="dept-bpbd", password=PASSWORDS["dept-bpbd"])
            await dept.__aenter__()
            await dept.subscribe(f"city/{city}/#", qos=1)  # granted; delivers its own only
            for_bpbd: list[str] = []

            async def take_dept() -> None:
                async for m in dept.messages:
                    for_bpbd.append(m.topic.value)
            dept_reader = asyncio.create_task(take_dept())

            async def take() -> None:
                async for m in dash.messages:
                    assert isinstance(m.payload, bytes)
                    told.append({"topic": m.topic.value, **orjson.loads(m.payload)})
            reader = asyncio.create_task(take())
            # gw-b forges gw-a's gauge first: refused by the ACL, acknowledged, dropped
            forged = [Reading("river-1", "currentLevel", 9.0, int(t0 * 1e9))]
            async with aiomqtt.Client("127.0.0.1", b.port, identifier="gw-b-test",
                                      username="gw-b", password=PASSWORDS["gw-b"]) as gw_b:
                await gw_b.publish(telemetry_topic(city, "flood", "gw-a"),
                                   encode_pack(forged, domain="flood"), qos=1)
            async with aiomqtt.Client("127.0.0.1", b.port, identifier="gw-a-test",
                                      username="gw-a", password=PASSWORDS["gw-a"]) as gw_a:
                for k, level in enumerate((0.5, 0.6, 1.7)):  # river-1: Siaga III at 1.0 m
                    r = Reading("river-1", "currentLevel", level, int((t0 + 60 * (k + 1)) * 1e9))
                    await gw_a.publish(telemetry_topic(city, "flood", "gw-a"),
                                       encode_pack([r], domain="flood"), qos=1)
            await until(lambda: any("/alerts/flood/" in t["topic"] for t in told),
                        "the alarm on the alerts feed through the broker", 30)
            await until(lambda: any("/events/flood/" in t["topic"] for t in told),
                        "the analytics' event through the broker", 30)
            await until(lambda: f"city/{city}/notify/bpbd" in for_bpbd,
                        "the department's own notification", 30)
            # and the edge agent itself, gw-b's, with its own account: sampled, queued,
            # published, acknowledged, stored
            gw_b_cfg = next(g for g in pack.gateways if g.id == "gw-b")
            weather = Weather(pack.city.timezone)
            queue = DiskQueue(tmp_path / "edge-gw-b.db")
            agent = GatewayPublisher(
                pack, gw_b_cfg, [(s, SimDriver(s, pack, weather, 1)) for s in gw_b_cfg.sensors],
                BrokerSettings(host="127.0.0.1", port=b.port, username="gw-b",
                               protocol="3.1.1"),
                queue, password=PASSWORDS["gw-b"], interval_scale=0.02,
                flush_interval_s=0.2)
            edge_task = asyncio.create_task(agent.run())
            try:
                await until(lambda: agent.published >= 3, "the edge agent publishing", 30)
                stored: list[int] = []

                async def count() -> None:
                    stored.append(len(await store.history(
                        measurement="traffic", device="tfc-b1", field="averageVehicleSpeed",
                        start_ns=0, stop_ns=2**62, city=city)))
                for _ in range(300):  # stored by the ingester, through its own account
                    await count()
                    if stored[-1]:
                        break
                    await asyncio.sleep(0.1)
                assert stored[-1] >= 1, "the edge agent's readings were not stored"
            finally:
                agent.request_stop()
                async with asyncio.timeout(30):
                    await edge_task
                queue.close()
            # its account reads nothing else: not the readings, the events, the feed
            assert set(for_bpbd) == {f"city/{city}/notify/bpbd"}
            reader.cancel()
            dept_reader.cancel()
            await dept.__aexit__(None, None, None)
        rows = await store.history(measurement="flood", device="river-1",
                                   field="currentLevel", start_ns=0, stop_ns=2**62,
                                   city=city)
        assert [v for _, v in rows] == [0.5, 0.6, 1.7]  # gw-b's 9.0 never arrived
        assert await derived.history(measurement="flood_state", device="river-1",
                                     field="siaga", start_ns=0, stop_ns=2**62, city=city)
        [alarm] = alarms.find(AlarmFilter())
        assert alarm.rule == "river-siaga" and alarm.value == 1.7
    finally:
        await store.aclose()
        await derived.aclose()
        state.close()
        alarms.close_db()
        deadletters.close()
        spool.close()
