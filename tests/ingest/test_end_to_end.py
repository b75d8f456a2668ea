"""Real Mosquitto -> ingester -> real InfluxDB (and SQLite): exact counts and values."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiomqtt
import orjson
import pytest

from cityhub.config import load_pack
from cityhub.config.pack import CityPack
from cityhub.mqtt import BrokerSettings
from cityhub.store import SQLiteStore, Store, StoreSettings
from devservices import LocalInfluxDB, LocalMosquitto
from ingest.deadletters import DeadLetters
from ingest.service import Ingester
from ingest.settings import IngestSettings
from ingest.spool import Spool
from stores import InfluxV1Store
from tests.conftest import write_small_pack

pytestmark = pytest.mark.integration
T0 = 1_767_225_600


@contextlib.asynccontextmanager
async def running(ing: Ingester) -> AsyncIterator[Ingester]:
    """``ing`` running, connected and subscribed, for the body; stopped after it."""
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(ing.run())
        await asyncio.wait_for(ing.connected.wait(), 30)
        try:
            yield ing
        finally:
            task.cancel()


async def until(cond: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    """Poll until ``cond`` holds (a deadline against hangs, not a timing assertion)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)


def make_ingester(pack: CityPack, mosquitto: LocalMosquitto, store: Store, tmp: Path,
                  client_id: str, protocol: str = "3.1.1", fast: bool = True) -> Ingester:
    settings = IngestSettings(
        pack=str(tmp), client_id=client_id, flush_interval_s=0.2, batch_lines=500,
        broker=BrokerSettings(host="127.0.0.1", port=mosquitto.port,
                              protocol=protocol),  # type: ignore[arg-type]
        store=StoreSettings(), deadletter_path=str(tmp / "dl.db"),
        spool_path=str(tmp / "spool.db"), mqtt_fast_path=fast)
    return Ingester(settings, pack, store, DeadLetters(settings.deadletter_path),
                    Spool(settings.spool_path, settings.spool_max_bytes))


def traffic_pack(i: int) -> bytes:
    """Pack number i: two devices, three fields each, at time T0 + i."""
    return orjson.dumps([
        {"bn": "tfc-1:", "bt": T0 + i, "n": "intensity", "u": "1/min", "v": i, "seq": 2 * i},
        {"n": "averageVehicleSpeed", "v": 30 + i % 7},
        {"n": "congested", "vb": i % 2 == 0},
        {"bn": "tfc-2:", "n": "intensity", "v": 1000 - i, "seq": 2 * i + 1},
        {"n": "occupancy", "v": (i % 100) / 100},
        {"n": "congested", "vb": False},
    ])


async def publish(mosquitto: LocalMosquitto, items: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client("127.0.0.1", mosquitto.port,
                              identifier=f"pub-{uuid.uuid4().hex[:6]}") as c:
        for topic, payload in items:
            await c.publish(topic, payload, qos=1)


async def stored_traffic(store: Store, city: str) -> dict[str, list[tuple[int, float]]]:
    out = {}
    for dev in ("tfc-1", "tfc-2"):
        out[dev] = await store.history(measurement="traffic", device=dev, field="intensity",
                                       start_ns=0, stop_ns=(T0 + 10**6) * 10**9, city=city)
    return out


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "public-api"])
async def test_exact_counts_and_values(small_pack: CityPack, mosquitto: LocalMosquitto,
                                       store: Store, tmp_path: Path, protocol: str,
                                       fast: bool) -> None:
    n = 300
    city = small_pack.city.id
    ing = make_ingester(small_pack, mosquitto, store, tmp_path, f"ing-{uuid.uuid4().hex[:6]}",
                        protocol, fast)
    assert ing.fast_mqtt is fast
    async with running(ing):
        await publish(mosquitto, [(f"city/{city}/traffic/gw-a", traffic_pack(i))
                                  for i in range(n)])
        await until(lambda: ing.counters.acked == n, f"{n} acks")
    got = await stored_traffic(store, city)
    assert got["tfc-1"] == [((T0 + i) * 10**9, float(i)) for i in range(n)]
    assert got["tfc-2"] == [((T0 + i) * 10**9, float(1000 - i)) for i in range(n)]
    assert ing.counters.stored_points == 2 * n
    assert not ing.counters.dead_lettered
    latest = {p.device: p for p in await store.latest(city=city)}
    assert latest["tfc-1"].fields == {"intensity": n - 1.0, "averageVehicleSpeed":
                                      30.0 + (n - 1) % 7, "congested": (n - 1) % 2 == 0}


async def test_exact_count_via_influxql(small_pack: CityPack, mosquitto: LocalMosquitto,
                                        influxdb: LocalInfluxDB, database: str,
                                        tmp_path: Path) -> None:
    n = 500
    city = small_pack.city.id
    # The store's own batch_lines is smaller than the ingester's batches (500 points): they
    # still go whole, as the compiled path wrote them, never decoded again to be cut.
    store = InfluxV1Store(influxdb.url, database, batch_lines=7)
    ing = make_ingester(small_pack, mosquitto, store, tmp_path, f"ing-{uuid.uuid4().hex[:6]}")
    async with running(ing):
        # duplicates on the wire are stored once (idempotent points)
        await publish(mosquitto, [(f"city/{city}/traffic/gw-a", traffic_pack(i))
                                  for i in [*range(n), *range(0, n, 10)]])
        await until(lambda: ing.counters.acked == n + n // 10, "all acks")
    await store.aclose()
    res = influxdb.query(f"SELECT count(intensity), sum(intensity) FROM traffic "
                         f"WHERE city = '{city}' GROUP BY device", database)
    series = {s["tags"]["device"]: s["values"][0][1:]
              for s in res["results"][0]["series"]}  # type: ignore[index]
    assert series == {"tfc-1": [n, float(sum(range(n)))],
                      "tfc-2": [n, float(sum(1000 - i for i in range(n)))]}
    assert ing.decoder.decoded_compiled > 0
    assert ing.counters.rebuilt_points == 0


async def test_hostile_messages_are_dead_lettered_and_good_ones_kept(
        small_pack: CityPack, mosquitto: LocalMosquitto, tmp_path: Path) -> None:
    city = small_pack.city.id
    store = SQLiteStore(tmp_path / "r.db")
    ing = make_ingester(small_pack, mosquitto, store, tmp_path, f"ing-{uuid.uuid4().hex[:6]}")
    bad = [
        (f"city/{city}/traffic/gw-a", b"\x00\xffgarbage"),
        (f"city/{city}/traffic/gw-a", b"[" * 3000 + b"]" * 3000),
        (f"city/{city}/traffic/gw-a", orjson.dumps([{"bn": "tfc-1:", "n": "intensity",
                                                     "v": 1}])),
        (f"city/{city}/traffic/gw-a", orjson.dumps([{"bn": "ghost:", "bt": T0,
                                                     "n": "intensity", "v": 1}])),
        (f"city/{city}/traffic/gw-a", orjson.dumps([{"bn": "tfc-1:", "bt": T0,
                                                     "n": "intensity", "vs": "lots"}])),
        (f"city/{city}/traffic/gw-a", orjson.dumps([{"bn": "tfc-1:", "bt": 4 * 10**9,
                                                     "n": "intensity", "v": 1}])),
        (f"city/{city}/traffic/gw-a", b"[" + b'{"bn":"tfc-1:","bt":1767225600,"n":"intensity",'
                                      b'"v":1},' * 6000 + b"{}]"),
    ]
    good = [(f"city/{city}/traffic/gw-a", traffic_pack(i)) for i in range(20)]
    mixed = [x for pair in zip(good, bad + [None] * 20, strict=False) for x in pair if x]
    async with running(ing):
        await publish(mosquitto, mixed)
        await until(lambda: ing.counters.acked == len(mixed), "all acks")
    got = await stored_traffic(store, city)
    assert len(got["tfc-1"]) == 20
    assert len(got["tfc-2"]) == 20
    assert dict(ing.counters.dead_lettered) == {"json": 2, "time": 1, "unknown_device": 1,
                                                "value": 1, "too_large": 1, "future_time": 1}
    kept = ing.deadletters.list(100)
    assert len(kept) == len(bad)
    assert {d.payload for d in kept} == {p for _, p in bad}
    await store.aclose()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_readings_sent_while_ingester_is_down_arrive(
        small_pack: CityPack, mosquitto: LocalMosquitto, tmp_path: Path, protocol: str) -> None:
    """Persistent session + QoS 1: the broker keeps messages for a stopped ingester
    (MQTT 3.1.1 clean_session=false; MQTT 5 clean_start=false + session expiry)."""
    city = small_pack.city.id
    store = SQLiteStore(tmp_path / "r.db")
    cid = f"ing-{uuid.uuid4().hex[:6]}"
    first = make_ingester(small_pack, mosquitto, store, tmp_path, cid, protocol)
    async with running(first):
        await publish(mosquitto, [(f"city/{city}/traffic/gw-a", traffic_pack(i))
                                  for i in range(50)])
        await until(lambda: first.counters.acked == 50, "first acks")
    await publish(mosquitto, [(f"city/{city}/traffic/gw-a", traffic_pack(i))
                              for i in range(50, 120)])
    second = make_ingester(small_pack, mosquitto, store, tmp_path, cid, protocol)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(second.run())
        await until(lambda: second.counters.acked == 70, "backlog acks")
        task.cancel()
    got = await stored_traffic(store, city)
    assert [v for _, v in got["tfc-1"]] == [float(i) for i in range(120)]
    await store.aclose()


async def test_two_ingesters_share_the_load(small_pack: CityPack, mosquitto: LocalMosquitto,
                                            influxdb: LocalInfluxDB, database: str,
                                            tmp_path: Path) -> None:
    """$share/ingest: each message goes to one of the two; every reading stored once."""
    n = 600
    city = small_pack.city.id
    stores = [InfluxV1Store(influxdb.url, database) for _ in range(2)]
    ings = [make_ingester(small_pack, mosquitto, s, tmp_path / f"i{k}",
                          f"ing-{k}-{uuid.uuid4().hex[:6]}") for k, s in enumerate(stores)]
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(i.run()) for i in ings]
        for i in ings:
            await asyncio.wait_for(i.connected.wait(), 30)
        await publish(mosquitto, [(f"city/{city}/traffic/gw-a", traffic_pack(i))
                                  for i in range(n)])
        await until(lambda: sum(i.counters.acked for i in ings) == n, "all acks")
        for t in tasks:
            t.cancel()
    for s in stores:
        await s.aclose()
    assert all(i.counters.received > n // 10 for i in ings)  # both took a share
    res = influxdb.query(f"SELECT count(intensity) FROM traffic WHERE city = '{city}' "
                         "GROUP BY device", database)
    counts = {s["tags"]["device"]: s["values"][0][1]
              for s in res["results"][0]["series"]}  # type: ignore[index]
    assert counts == {"tfc-1": n, "tfc-2": n}


async def test_retire_hands_a_stopped_members_share_back(
        small_pack: CityPack, mosquitto: LocalMosquitto, influxdb: LocalInfluxDB,
        database: str, tmp_path: Path) -> None:
    """Scaling down: the broker keeps routing a stopped member's share to its persistent
    session; `retire` stores that share and ends the session, so the remaining member
    gets the whole stream from then on."""
    city = small_pack.city.id
    topic = f"city/{city}/traffic/gw-a"
    tag = uuid.uuid4().hex[:6]
    stores = [InfluxV1Store(influxdb.url, database) for _ in range(3)]
    keep = make_ingester(small_pack, mosquitto, stores[0], tmp_path / "a", f"keep-{tag}")
    gone = make_ingester(small_pack, mosquitto, stores[1], tmp_path / "b", f"gone-{tag}")
    async with asyncio.TaskGroup() as tg:
        gone_task = tg.create_task(gone.run())
        await asyncio.wait_for(gone.connected.wait(), 30)
        gone_task.cancel()  # stopped for good, its session left behind
    async with asyncio.TaskGroup() as tg:
        keep_task = tg.create_task(keep.run())
        await asyncio.wait_for(keep.connected.wait(), 30)
        await publish(mosquitto, [(topic, traffic_pack(i)) for i in range(200)])
        await until(lambda: keep.counters.acked > 0, "the kept member's share")
        await asyncio.sleep(1.0)
        stuck = 200 - keep.counters.acked
        assert stuck > 0  # the broker parked the stopped member's share in its session

        retired = make_ingester(small_pack, mosquitto, stores[2], tmp_path / "b",
                                f"gone-{tag}")
        await retired.retire(idle_s=1.0)
        assert retired.counters.acked == stuck

        await publish(mosquitto, [(topic, traffic_pack(i)) for i in range(200, 300)])
        await until(lambda: keep.counters.acked == 200 - stuck + 100, "the whole stream")
        keep_task.cancel()
    for s in stores:
        await s.aclose()
    res = influxdb.query(f"SELECT count(intensity) FROM traffic WHERE city = '{city}' "
                         "GROUP BY device", database)
    counts = {s["tags"]["device"]: s["values"][0][1]
              for s in res["results"][0]["series"]}  # type: ignore[index]
    assert counts == {"tfc-1": 300, "tfc-2": 300}


async def test_one_ingester_serves_two_cities(small_pack: CityPack, tmp_path: Path,
                                              mosquitto: LocalMosquitto, store: Store) -> None:
    """``packs``: one session subscribed to both cities' telemetry; each message checked
    against its own city's pack (both packs have devices tfc-1 and tfc-2) and stored
    under its city; a third city's telemetry is never read; a device of neither pack is
    dead-lettered, and republished on its own city's dead-letter topic."""
    other = load_pack(write_small_pack(tmp_path / "other", f"test-{uuid.uuid4().hex[:8]}"))
    a, b = small_pack.city.id, other.city.id
    one = make_ingester(small_pack, mosquitto, store, tmp_path, f"ing-{uuid.uuid4().hex[:6]}")
    ing = Ingester(one.settings, [small_pack, other], store, one.deadletters, one.writer.spool)
    assert ing.decoder.packs == {a: small_pack, b: other}
    n = 50
    bad = orjson.dumps([{"bn": "nobody:", "bt": T0, "n": "intensity", "u": "1/min", "v": 1}])
    letters: list[str] = []
    async with running(ing), aiomqtt.Client("127.0.0.1", mosquitto.port,
                                            identifier=f"dl-{uuid.uuid4().hex[:6]}") as watch:
        await watch.subscribe("city/+/deadletter", qos=1)
        await publish(mosquitto, [(f"city/{a}/traffic/gw-a", traffic_pack(i)) for i in range(n)]
                      + [(f"city/{b}/traffic/gw-a", traffic_pack(1000 + i)) for i in range(n)]
                      + [("city/elsewhere/traffic/gw-a", traffic_pack(7)),
                         (f"city/{b}/traffic/gw-a", bad)])
        await until(lambda: ing.counters.acked == 2 * n + 1, f"{2 * n + 1} acks")
        # a last message, published after the third city's: once it is in, that one
        # would have been too, had the ingester subscribed to it
        await publish(mosquitto, [(f"city/{a}/traffic/gw-a", traffic_pack(n))])
        await until(lambda: ing.counters.acked >= 2 * n + 2, "the last message")
        assert ing.counters.acked == 2 * n + 2
        async with asyncio.timeout(30):
            async for msg in watch.messages:
                letters.append(str(msg.topic))
                break
    got_a, got_b = await stored_traffic(store, a), await stored_traffic(store, b)
    assert got_a["tfc-1"] == [((T0 + i) * 10**9, float(i)) for i in range(n + 1)]
    assert got_b["tfc-1"] == [((T0 + 1000 + i) * 10**9, float(1000 + i)) for i in range(n)]
    for city, last in ((a, float(n)), (b, 1000.0 + n - 1)):
        latest = {p.device: p for p in await store.latest(city=city)}
        assert latest["tfc-1"].tags["city"] == city
        assert latest["tfc-1"].fields["intensity"] == last
    assert ing.counters.stored_points == 4 * n + 2
    assert dict(ing.counters.dead_lettered) == {"unknown_device": 1}
    assert letters == [f"city/{b}/deadletter"]
    assert [d.topic for d in ing.deadletters.list(10, None)] == [f"city/{b}/traffic/gw-a"]
