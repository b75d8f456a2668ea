"""The streaming service end to end, on the real Mosquitto and InfluxDB: ``cityhub analytics
run`` killed with SIGKILL mid-stream and restarted, several times; afterwards the events
received hold every event of an uninterrupted run, none twice, and the store holds the
same derived series."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import orjson
import pytest

from analytics.live.checkpoint import StateDir
from analytics.live.engine import Engine
from analytics.service import AnalyticsService
from analytics.settings import AnalyticsSettings, DetectionSettings
from cityhub.config import load_pack
from cityhub.config.pack import CityPack
from cityhub.contract import decode_telemetry
from cityhub.errors import SinkError
from cityhub.mqtt import BrokerSettings
from cityhub.point import Point
from cityhub.store import SQLiteStore, Store
from cityhub.topics import event_filter
from devservices import LocalInfluxDB, LocalMosquitto, free_port, http
from tests.analytics.stream import add_river, messages
from tests.feeds import received
from tests.ingest.test_end_to_end import publish, until

pytestmark = pytest.mark.integration
MEASUREMENTS = ("traffic_state", "flood_state", "light_state", "rain_state", "quality")


def reference(pack: CityPack) -> tuple[list[Point], list[dict[str, Any]]]:
    """What one uninterrupted engine makes of the stream."""
    engine = Engine(pack, DetectionSettings())
    points, events = [], []
    for topic, payload in messages(pack.city.id):
        _, readings = decode_telemetry(pack, topic, payload, now_ns=time.time_ns(),
                                       max_future_ns=10**18)
        p, e = engine.process(readings)
        points += p
        events += [orjson.loads(x.json()) for x in e]
    return points, events


def collecting(mosquitto: LocalMosquitto, city: str
               ) -> AbstractAsyncContextManager[list[dict[str, Any]]]:
    """Every event message published for ``city`` while the block runs."""
    return received(mosquitto.port, [event_filter(city)], lambda _t, p: orjson.loads(p),
                    name="events")


def stored(influxdb: LocalInfluxDB, database: str, city: str
           ) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Every derived point of ``city`` in the store: (measurement, device, time) -> fields."""
    out = {}
    tags = {"city", "device", "district", "gateway", "time"}
    for m in MEASUREMENTS:
        res = influxdb.query(f"SELECT * FROM \"{m}\" WHERE \"city\" = '{city}'", database)
        series = res["results"][0].get("series")  # type: ignore[index]
        if not series:
            continue
        cols = series[0]["columns"]
        for row in series[0]["values"]:
            rec = dict(zip(cols, row, strict=True))
            out[m, rec["device"], rec["time"]] = {k: v for k, v in rec.items()
                                                  if k not in tags and v is not None}
    return out


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(
        math.isclose(x, b[k], rel_tol=1e-12) if isinstance(x, float | int)
        and not isinstance(x, bool) else x == b[k] for k, x in a.items())


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "cityhub", "analytics", "run", "--config",
                             str(config)], stdout=log.open("ab"), stderr=subprocess.STDOUT)


@pytest.mark.timeout(600)
async def test_kill_9_mid_stream_gives_the_same_series_and_no_event_twice(
        small_pack_dir: Path, mosquitto: LocalMosquitto, influxdb: LocalInfluxDB,
        database: str, tmp_path: Path) -> None:
    add_river(small_pack_dir)
    pack = load_pack(small_pack_dir)
    city = pack.city.id
    want_points, want_events = reference(pack)
    assert len(want_events) > 20  # the stream has episodes of every kind in it
    port = free_port()
    config = tmp_path / "analytics.yaml"
    config.write_text(
        f"pack: {small_pack_dir}\nclient_id: analytics-{uuid.uuid4().hex[:6]}\n"
        f"broker: {{host: 127.0.0.1, port: {mosquitto.port}}}\n"
        f"store: {{kind: influxdb-v1, url: '{influxdb.url}', database: {database}}}\n"
        f"batch_readings: 100\nflush_interval_s: 0.1\nmax_inflight: 300\n"
        f"checkpoint_interval_s: 1.0\nstate_dir: {tmp_path / 'state'}\n"
        f"metrics_port: {port}\n")
    log = tmp_path / "analytics.log"
    rng = random.Random(20261130)

    def healthy() -> bool:
        return http.get(f"http://127.0.0.1:{port}/healthz", timeout_s=1)[0] == 200

    def checkpointed() -> bool:
        """This incarnation has saved a checkpoint (so the next resumes from one however
        slowly this shared machine starts processes)."""
        status, body = http.get(f"http://127.0.0.1:{port}/metrics", timeout_s=1)
        return status == 200 and any(
            line.startswith(b"cityhub_analytics_checkpoints_total ")
            and float(line.split()[1]) >= 1 for line in body.splitlines())

    stream = messages(city)
    proc = start(config, log)
    try:
        async with collecting(mosquitto, city) as got:
            # the session must exist before the stream starts (MQTT keeps messages only
            # for subscriptions that exist)
            await until(healthy, "the service to subscribe")

            async def producer() -> None:
                for lo in range(0, len(stream), 40):
                    await publish(mosquitto, stream[lo:lo + 40])
                    await asyncio.sleep(0.1)

            prod = asyncio.create_task(producer())
            killed_mid_stream = 0
            for _ in range(4):
                await asyncio.sleep(rng.uniform(0.8, 2.5))
                await until(checkpointed, "a checkpoint of this incarnation")
                killed_mid_stream += not prod.done()
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                await asyncio.sleep(rng.uniform(0, 0.5))
                proc = start(config, log)
            await prod
            assert killed_mid_stream >= 2  # it means something only if it hit the stream
            want = {(p.measurement, dict(p.tags)["device"], p.time_ns): dict(p.fields)
                    for p in want_points}
            await until(lambda: len(stored(influxdb, database, city)) >= len(want),
                        "every derived point stored", timeout_s=300)
            await until(lambda: len(got) >= len(want_events), "every event", timeout_s=60)
            await asyncio.sleep(1.0)  # anything published twice would arrive by now
        have = stored(influxdb, database, city)
        assert have.keys() == want.keys()
        assert all(same(have[k], want[k]) for k in want)
        keys = [(e["id"], e["end"] is None) for e in got]
        assert len(keys) == len(set(keys)), "an event was published twice"
        by_key = {(e["id"], e["end"] is None): e for e in got}
        assert by_key == {(e["id"], e["end"] is None): e for e in want_events}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    text = log.read_text()
    assert "Traceback" not in text
    assert text.count("resumed from the checkpoint") >= 4  # every restart


def service(pack_dir: Path, mosquitto: LocalMosquitto, store: Store, state: Path,
            client_id: str) -> AnalyticsService:
    """An in-process service that checkpoints only once an hour (so: not in a test)."""
    settings = AnalyticsSettings(
        pack=str(pack_dir), client_id=client_id, flush_interval_s=0.1,
        checkpoint_interval_s=3600, max_inflight=5000,
        broker=BrokerSettings(host="127.0.0.1", port=mosquitto.port, protocol="3.1.1"))
    return AnalyticsService(settings, load_pack(pack_dir), store, StateDir(state))


@contextlib.asynccontextmanager
async def running(svc: AnalyticsService) -> AsyncIterator[AnalyticsService]:
    task = asyncio.create_task(svc.run())
    await asyncio.wait_for(svc.connected.wait(), 30)
    try:
        yield svc
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        svc.state.close()


async def test_events_published_before_a_crash_are_not_published_again(
        small_pack_dir: Path, mosquitto: LocalMosquitto, tmp_path: Path) -> None:
    """No checkpoint between the events and the crash: the restart runs the inbox log
    (every message taken, acknowledged once logged) through the engine again, derives
    the same events, and the journal keeps each from going out twice; the derived
    points are written again (the same)."""
    add_river(small_pack_dir)
    pack = load_pack(small_pack_dir)
    city, client_id = pack.city.id, f"analytics-{uuid.uuid4().hex[:6]}"
    stream = messages(city, minutes=200)  # rain, the river's first rise, congestion
    store = SQLiteStore(tmp_path / "derived.db")
    try:
        async with collecting(mosquitto, city) as got:
            async with running(service(small_pack_dir, mosquitto, store, tmp_path / "s",
                                       client_id)) as first:
                await publish(mosquitto, stream)
                read = first.metrics.registry.get_sample_value
                await until(lambda: read("cityhub_analytics_readings_total") == 6 * 200,
                            "the stream read")
                await until(lambda: len(got) >= 8, "the first events")
                await asyncio.sleep(0.5)
                published = len(got)
                assert read("cityhub_analytics_checkpoints_total") == 0
                assert read("cityhub_analytics_unacknowledged_messages") == 0
            # "crashed": cancelled after acknowledging everything, no checkpoint taken
            async with running(service(small_pack_dir, mosquitto, store, tmp_path / "s",
                                       client_id)) as second:
                again = second.metrics.registry.get_sample_value
                await until(lambda: again("cityhub_analytics_replayed_messages_total")
                            == len(stream), "the inbox log run through again")
                await until(lambda: again("cityhub_analytics_events_suppressed_total")
                            == published, "every event derived again and held back")
                await asyncio.sleep(0.5)
                assert again("cityhub_analytics_messages_total") in (0, None)  # nothing new
        assert len(got) == published
        assert second.metrics.registry.get_sample_value(
            "cityhub_analytics_derived_points_total") > 0
    finally:
        await store.aclose()


class DownStore:
    """Refuses every write (retryable) until :meth:`up`; then keeps the points."""

    line_protocol = False

    def __init__(self) -> None:
        self.down = True
        self.points: list[Point] = []
        self.refused = 0

    def up(self) -> None:
        self.down = False

    async def write(self, points: list[Point]) -> None:
        if self.down:
            self.refused += 1
            raise SinkError("the store is down", retryable=True)
        self.points.extend(points)

    async def ping(self) -> str:
        return "a store that is down"

    async def aclose(self) -> None:
        pass


async def test_a_store_that_is_down_bounds_what_is_held_and_loses_nothing(
        small_pack_dir: Path, mosquitto: LocalMosquitto, tmp_path: Path) -> None:
    """While the store refuses the derived points, the service takes no further batch:
    it holds at most max_inflight messages unacknowledged (reading pauses, the broker
    keeps the rest) and says it is unhealthy; once the store is back, every reading is
    derived and every message acknowledged."""
    pack = load_pack(small_pack_dir)
    store = DownStore()
    settings = AnalyticsSettings(
        pack=str(small_pack_dir), client_id=f"analytics-{uuid.uuid4().hex[:6]}",
        flush_interval_s=0.05, max_inflight=100,
        broker=BrokerSettings(host="127.0.0.1", port=mosquitto.port, protocol="3.1.1"))
    svc = AnalyticsService(settings, pack, store, StateDir(tmp_path / "s"))  # type: ignore[arg-type]
    topic = f"city/{pack.city.id}/traffic/gw-a"
    n = 1000
    stream = [(topic, orjson.dumps([{"bn": "tfc-1:", "bt": 1_793_491_200 + 60 * i,
                                     "n": "averageVehicleSpeed", "v": 30 + i % 9}]))
              for i in range(n)]
    async with running(svc):
        await publish(mosquitto, stream)
        got = svc.metrics.registry.get_sample_value
        await until(lambda: (got("cityhub_analytics_unacknowledged_messages") or 0) >= 100
                    and store.refused >= 2, "reading to pause on a store that is down")
        ok, detail = svc.health()
        assert not ok and detail["store_down"] is True
        await asyncio.sleep(0.5)
        assert got("cityhub_analytics_messages_total") < n  # the broker keeps the rest
        assert got("cityhub_analytics_unacknowledged_messages") <= 100 + 10
        store.up()
        await until(lambda: got("cityhub_analytics_readings_total") == n
                    and got("cityhub_analytics_unacknowledged_messages") == 0,
                    "every reading taken and acknowledged", timeout_s=120)
        await until(lambda: len(store.points) == n, "every reading derived")
        assert svc.health()[0]
    assert sorted(p.time_ns for p in store.points) == \
        [(1_793_491_200 + 60 * i) * 10**9 for i in range(n)]


async def test_a_broker_restart_is_weathered(small_pack_dir: Path, tmp_path: Path) -> None:
    """The broker stops under the service and comes back on its port: both connections
    notice, the service resumes from its checkpoint and inbox log, and goes on taking the
    stream."""
    pack = load_pack(small_pack_dir)
    broker = LocalMosquitto(tmp_path / "mq")
    broker.start()
    store = SQLiteStore(tmp_path / "derived.db")
    stream = messages(pack.city.id, minutes=60)
    try:
        svc = service(small_pack_dir, broker, store, tmp_path / "s",
                      f"analytics-{uuid.uuid4().hex[:6]}")
        async with running(svc):
            read = svc.metrics.registry.get_sample_value
            await publish(broker, stream[:120])
            await until(lambda: read("cityhub_analytics_messages_total") == 120
                        and read("cityhub_analytics_unacknowledged_messages") == 0,
                        "part 1 taken: logged and acknowledged")
            broker.stop()
            await until(lambda: not svc.connected.is_set(), "the loss noticed")
            broker.start()  # the same port and persistence file
            await until(svc.connected.is_set, "reconnected", timeout_s=60)
            await publish(broker, stream[120:])
            # at least once: what the broker had not recorded as acknowledged when it
            # stopped comes again (and is skipped as not newer)
            await until(lambda: read("cityhub_analytics_messages_total") >= len(stream),
                        "part 2")
            assert read("cityhub_analytics_replayed_messages_total") == 120
            await until(lambda: read("cityhub_analytics_unacknowledged_messages") == 0,
                        "everything acknowledged")
            # acknowledged means in the inbox log, not yet processed: wait (while the
            # service runs) for the derived points of the last batch to be written
            stored: list[int] = []
            for _ in range(300):
                stored.append(len(await store.history(
                    measurement="traffic_state", device="tfc-1", field="tti", start_ns=0,
                    stop_ns=2**62, city=pack.city.id)))
                if stored[-1] >= 60:
                    break
                await asyncio.sleep(0.1)
        # nothing lost: tfc-1's congestion state for every minute of the hour
        rows = await store.history(measurement="traffic_state", device="tfc-1", field="tti",
                                   start_ns=0, stop_ns=2**62, city=pack.city.id)
        assert len(rows) == 60
    finally:
        await store.aclose()
        broker.stop()
