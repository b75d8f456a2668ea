"""InfluxDB stopped mid-stream: batches spool to disk, messages are acknowledged, and the
spool drains when InfluxDB is back; nothing lost, nothing twice. Metrics and health show it."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import orjson
import pytest

from cityhub.config.pack import CityPack
from cityhub.mqtt import BrokerSettings
from cityhub.store import StoreSettings
from devservices import LocalInfluxDB, LocalMosquitto, http
from ingest.deadletters import DeadLetters
from ingest.service import Ingester
from ingest.settings import IngestSettings
from ingest.spool import Spool
from stores import InfluxV1Store
from tests.ingest.test_end_to_end import publish, running, traffic_pack, until

pytestmark = pytest.mark.integration


@pytest.mark.timeout(240)
async def test_influxdb_outage_spools_and_replays(small_pack: CityPack, mosquitto: LocalMosquitto,
                                                  tmp_path: Path) -> None:
    influx = LocalInfluxDB(tmp_path / "influxd")  # our own: this test stops it
    influx.start()
    try:
        influx.query('CREATE DATABASE "outage"')
        store = InfluxV1Store(influx.url, "outage", timeout_s=2)
        settings = IngestSettings(
            pack=".", client_id=f"ing-{uuid.uuid4().hex[:6]}", flush_interval_s=0.2,
            broker=BrokerSettings(host="127.0.0.1", port=mosquitto.port),
            store=StoreSettings(), deadletter_path=str(tmp_path / "dl.db"),
            spool_path=str(tmp_path / "spool.db"), metrics_port=0)
        spool = Spool(settings.spool_path, settings.spool_max_bytes)
        ing = Ingester(settings, small_pack, store, DeadLetters(settings.deadletter_path),
                       spool)
        topic = f"city/{small_pack.city.id}/traffic/gw-a"
        async with running(ing):
            await publish(mosquitto, [(topic, traffic_pack(i)) for i in range(100)])
            await until(lambda: ing.counters.acked == 100, "first 100 acks")

            await asyncio.to_thread(influx.stop, kill=True)
            await publish(mosquitto, [(topic, traffic_pack(i)) for i in range(100, 300)])
            await until(lambda: ing.counters.acked == 300, "acks while InfluxDB is down")
            assert ing.counters.spooled_points > 0
            assert spool.batches > 0 and ing.writer.store_down
            base = f"http://127.0.0.1:{ing.metrics_port}"
            health = orjson.loads((await http.aget(f"{base}/healthz"))[1])
            assert health["store_down"] is True and health["spool_batches"] > 0
            metrics = (await http.aget(f"{base}/metrics"))[1].decode()
            assert "cityhub_ingest_points_spooled_total" in metrics

            await asyncio.to_thread(influx.start)  # same port, same data directory
            await until(lambda: spool.batches == 0, "spool drained", timeout_s=120)
            await publish(mosquitto, [(topic, traffic_pack(i)) for i in range(300, 320)])
            await until(lambda: ing.counters.acked == 320, "acks after recovery")
            metrics = (await http.aget(f"http://127.0.0.1:{ing.metrics_port}/metrics"))[1]\
                .decode()
            assert "cityhub_ingest_spool_batches 0.0" in metrics
        await store.aclose()
        res = influx.query("SELECT count(intensity), sum(intensity) FROM traffic "
                           "GROUP BY device", "outage")
        got = {s["tags"]["device"]: s["values"][0][1:]
               for s in res["results"][0]["series"]}  # type: ignore[index]
        assert got == {"tfc-1": [320, float(sum(range(320)))],
                       "tfc-2": [320, float(sum(1000 - i for i in range(320)))]}
        assert ing.counters.replayed_points == ing.counters.spooled_points
        assert not ing.counters.dead_lettered
    finally:
        influx.stop()


async def test_store_down_at_start_is_said_and_batches_spool(
        small_pack: CityPack, mosquitto: LocalMosquitto, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    store = InfluxV1Store("http://127.0.0.1:1", "nowhere", timeout_s=1)
    settings = IngestSettings(
        pack=".", client_id=f"ing-{uuid.uuid4().hex[:6]}", flush_interval_s=0.2,
        broker=BrokerSettings(host="127.0.0.1", port=mosquitto.port),
        store=StoreSettings(), deadletter_path=str(tmp_path / "dl.db"),
        spool_path=str(tmp_path / "spool.db"))
    spool = Spool(settings.spool_path, settings.spool_max_bytes)
    ing = Ingester(settings, small_pack, store, DeadLetters(settings.deadletter_path), spool)
    topic = f"city/{small_pack.city.id}/traffic/gw-a"
    with caplog.at_level("INFO", logger="cityhub.ingest"):
        async with running(ing):
            await publish(mosquitto, [(topic, traffic_pack(i)) for i in range(20)])
            await until(lambda: ing.counters.acked == 20, "acks with the store down")
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("store does not answer its ping" in m and "127.0.0.1:1" in m for m in warned), warned
    assert ing.counters.spooled_points == 40 and ing.counters.stored_points == 0
    assert spool.batches > 0
    await store.aclose()
