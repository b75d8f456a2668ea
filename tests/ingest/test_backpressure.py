"""The MQTT side of the ingester: at most ``max_inflight`` unacknowledged messages,
whatever the broker does; the broker restarting; QoS 0 messages.

Real Mosquitto throughout. The store in the first tests is a gate the test opens and
closes (what is tested is the MQTT side; the stores have their own real-server tests).
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import generate_latest

from cityhub.config.pack import CityPack
from cityhub.mqtt import BrokerSettings
from cityhub.point import Point
from cityhub.store import SQLiteStore, StoreSettings
from devservices import LocalMosquitto
from ingest.deadletters import DeadLetters
from ingest.service import Ingester
from ingest.settings import IngestSettings
from ingest.spool import Spool
from tests.ingest.test_end_to_end import T0, publish, running, until

pytestmark = pytest.mark.integration


class GatedStore:
    """Takes ``open_writes`` batches, then holds every write until :meth:`open` (with
    ``hold_first``: holds the first write until then, and takes every later one). Keeps
    each write's size in ``sizes``. It takes line protocol, so the ingester hands it
    Encoded batches, whose points it builds."""

    line_protocol = True

    def __init__(self, open_writes: int = 0, *, hold_first: bool = False) -> None:
        self.left = open_writes
        self.hold_first = hold_first
        self.gate = asyncio.Event()
        self.points: list[Point] = []
        self.sizes: list[int] = []

    def open(self) -> None:
        self.gate.set()

    async def write(self, points: Sequence[Point]) -> None:
        self.sizes.append(len(points))
        if self.hold_first:
            if len(self.sizes) == 1:
                await self.gate.wait()
        elif self.left > 0:
            self.left -= 1
        else:
            await self.gate.wait()
        self.points.extend(points)

    async def ping(self) -> str:
        return "a gated store"

    async def aclose(self) -> None:
        pass


def one_reading(i: int) -> bytes:
    return orjson.dumps([{"bn": "tfc-1:", "bt": T0 + i, "n": "intensity", "v": i}])


def ingester(pack: CityPack, port: int, store: Any, tmp: Path, **kw: Any) -> Ingester:
    kw.setdefault("flush_interval_s", 0.1)
    settings = IngestSettings(
        pack=".", client_id=f"bp-{uuid.uuid4().hex[:6]}",
        broker=BrokerSettings(host="127.0.0.1", port=port), store=StoreSettings(),
        deadletter_path=str(tmp / "dl.db"), spool_path=str(tmp / "spool.db"),
        **kw)
    return Ingester(settings, pack, store, DeadLetters(settings.deadletter_path),
                    Spool(settings.spool_path, settings.spool_max_bytes))


def reading_paused(ing: Ingester) -> bool:
    """Whether the ingester has stopped reading (its ``reading_paused`` gauge)."""
    return ing.registry.get_sample_value("cityhub_ingest_reading_paused") == 1.0


@pytest.mark.timeout(120)
async def test_at_most_max_inflight_unacknowledged(small_pack: CityPack,
                                                   mosquitto: LocalMosquitto,
                                                   tmp_path: Path) -> None:
    """The store takes one batch, then stalls: the ingester stops reading at
    ``max_inflight`` unacknowledged messages (Mosquitto's own window, 2,000 here, would
    let everything through once the first PUBACK went out), and once the store takes
    writes again, every reading is stored exactly once."""
    n, limit = 1500, 100
    store = GatedStore(open_writes=1)
    ing = ingester(small_pack, mosquitto.port, store, tmp_path, max_inflight=limit,
                   batch_lines=20)
    city = small_pack.city.id
    async with running(ing):
        await publish(mosquitto, [(f"city/{city}/traffic/gw-a", one_reading(i))
                                  for i in range(n)])
        # A positive signal first: reading paused (at max_inflight). While it stays
        # paused nothing more is read, so the counts below are final.
        await until(lambda: reading_paused(ing), "reading to pause at max_inflight")
        received = ing.counters.received
        held = received - ing.counters.acked
        assert ing.counters.acked == 20  # the one batch the store took
        assert limit // 2 <= held <= limit, (received, ing.counters.acked)
        metrics = generate_latest(ing.registry).decode()
        assert reading_paused(ing) and ing.counters.received == received
        assert f"cityhub_ingest_messages_unacked {float(held)}" in metrics
        store.open()
        await until(lambda: ing.counters.acked == n, "every message acknowledged")
        metrics = generate_latest(ing.registry).decode()
        assert "cityhub_ingest_reading_paused 0.0" in metrics
        assert "cityhub_ingest_messages_unacked 0.0" in metrics
        assert f'cityhub_ingest_decoded_messages_total{{path="compiled"}} {float(n)}' \
            in metrics
    times = sorted(p.time_ns for p in store.points)
    assert times == [(T0 + i) * 10**9 for i in range(n)]  # each once


@pytest.mark.timeout(120)
async def test_a_slow_write_holds_no_other_writes_slot(small_pack: CityPack,
                                                       mosquitto: LocalMosquitto,
                                                       tmp_path: Path) -> None:
    """``store_writes`` bounds the writes in flight, not the batches waiting for an
    earlier one's acknowledgement: with the first write held and two slots, the next five
    batches are all written meanwhile (each frees its slot when written), and none is
    acknowledged before the first (acknowledgements stay in arrival order)."""
    n = 6
    store = GatedStore(hold_first=True)
    ing = ingester(small_pack, mosquitto.port, store, tmp_path, store_writes=2,
                   batch_lines=1)
    city = small_pack.city.id
    async with running(ing):
        await publish(mosquitto, [(f"city/{city}/traffic/gw-a", one_reading(i))
                                  for i in range(n)])
        await until(lambda: len(store.sizes) == n, "the five batches after the held one "
                    "written while it is held")
        assert ing.counters.acked == 0
        assert len(store.points) == n - 1
        store.open()
        await until(lambda: ing.counters.acked == n, "every message acknowledged")
    assert sorted(p.time_ns for p in store.points) == [(T0 + i) * 10**9 for i in range(n)]


def three_readings(i: int) -> bytes:
    """Message i: three points of tfc-1, at times 3i, 3i+1 and 3i+2."""
    return orjson.dumps([{"bn": "tfc-1:", "bt": T0 + 3 * i, "n": "intensity", "v": i},
                         {"t": 1, "n": "intensity", "v": i},
                         {"t": 2, "n": "intensity", "v": i}])


@pytest.mark.timeout(120)
async def test_a_batch_never_passes_batch_lines(small_pack: CityPack,
                                                mosquitto: LocalMosquitto,
                                                tmp_path: Path) -> None:
    """Three-point messages and batch_lines 10: the message that would take a batch to
    12 starts the next one, so every write holds 9 points or fewer (a store may cut a
    batch only between messages, and would otherwise send 12), and every reading is
    stored once, in order."""
    n = 40
    store = GatedStore(open_writes=10**9)
    ing = ingester(small_pack, mosquitto.port, store, tmp_path, batch_lines=10,
                   max_inflight=1000, flush_interval_s=1.0)
    city = small_pack.city.id
    async with running(ing):
        await publish(mosquitto, [(f"city/{city}/traffic/gw-a", three_readings(i))
                                  for i in range(n)])
        await until(lambda: ing.counters.acked == n, "every message acknowledged")
    assert max(store.sizes) == 9 and sum(store.sizes) == 3 * n
    assert ing.counters.rebuilt_points == sum(store.sizes)  # GatedStore builds them
    assert [p.time_ns for p in store.points] == [(T0 + k) * 10**9 for k in range(3 * n)]


def test_the_message_carried_to_the_next_batch_keeps_the_order(small_pack: CityPack,
                                                                  tmp_path: Path) -> None:
    """Driven message by message (no broker): a batch that would pass batch_lines hands
    over without the message that would take it past, which starts the next batch with
    its packet id; packet ids stay in arrival order across the cut, dead letters stay
    with the batch they came in, QoS 0 messages have no packet id, and a message the
    Python path decoded (readings out of time order) is carried as whole as one the
    compiled kernel wrote."""
    ing = ingester(small_pack, 1, GatedStore(), tmp_path, batch_lines=10)
    topic = f"city/{small_pack.city.id}/traffic/gw-a"
    out_of_order = orjson.dumps([{"bn": "tfc-1:", "bt": T0 + 100, "n": "intensity", "v": 1},
                                 {"t": -1, "n": "intensity", "v": 2},
                                 {"t": -2, "n": "intensity", "v": 3}])
    unknown = orjson.dumps([{"bn": "nope-1:", "bt": T0, "n": "intensity", "v": 1}])
    for mid, qos, payload in [(1, 1, three_readings(0)), (2, 1, unknown),
                              (3, 0, three_readings(1)), (4, 1, three_readings(2)),
                              (5, 1, out_of_order), (6, 1, three_readings(3)),
                              (7, 1, three_readings(4))]:
        ing._on_publish(topic, qos, mid, payload)
    ing.flush()
    batches = []
    while not ing._full.empty():
        batches.append(ing._full.get_nowait())
    assert [b.mids for b in batches] == [[1, 2, 4], [5, 6, 7]]
    assert [b.points for b in batches] == [9, 9]
    assert [b.count for b in batches] == [4, 3]  # the QoS 0 message counts, unacknowledged
    assert [len(b.dead) for b in batches] == [1, 0]
    assert batches[1].compiled_points == 6  # the out-of-order pack took the Python path
    first, second = (b.encoded(ing._rebuild) for b in batches)
    lines = first.lines + second.lines
    assert lines.count(b"\n") == 18
    times = [int(line.rsplit(b" ", 1)[1]) // 10**9 - T0 for line in lines.splitlines()]
    assert times == [0, 1, 2, 3, 4, 5, 6, 7, 8, 100, 99, 98, 9, 10, 11, 12, 13, 14]
    # Each batch's lines end where its last message's do, so a store can cut it there.
    assert [len(p) for p in first.split(3)] == [3, 3, 3]
    assert [len(p) for p in second.split(3)] == [3, 3, 3]
    assert not first.built and not second.built


@pytest.mark.timeout(120)
async def test_dead_letters_while_reading_is_paused(small_pack: CityPack,
                                                    mosquitto: LocalMosquitto,
                                                    tmp_path: Path) -> None:
    """A backlog with bad messages in it, and a limit small enough that reading pauses
    often: the dead-letter copies published to the broker must not wait for a PUBACK the
    paused reader cannot read (that stalled the ingester into reconnecting forever)."""
    n, limit = 400, 20
    store = GatedStore(open_writes=10**6)
    ing = ingester(small_pack, mosquitto.port, store, tmp_path, max_inflight=limit,
                   batch_lines=10)
    topic = f"city/{small_pack.city.id}/traffic/gw-a"
    bad = {i for i in range(n) if i % 37 == 5}  # unknown device
    payloads = [orjson.dumps([{"bn": "nope-1:", "bt": T0 + i, "n": "intensity", "v": i}])
                if i in bad else one_reading(i) for i in range(n)]
    async with running(ing):
        await publish(mosquitto, [(topic, p) for p in payloads])
        await until(lambda: ing.counters.acked == n, "every message handled", timeout_s=60)
        assert ing.connected.is_set()
    assert ing.counters.dead_lettered["unknown_device"] == len(bad)
    metrics = generate_latest(ing.registry).decode()
    assert f'cityhub_ingest_decoded_messages_total{{path="reference"}} {float(len(bad))}' \
        in metrics  # every refusal takes the strict path, which names the problem
    assert sorted(p.time_ns for p in store.points) == [(T0 + i) * 10**9 for i in range(n)
                                                       if i not in bad]


@pytest.mark.timeout(120)
@pytest.mark.allow_logged_errors  # the decoder's failure is logged at ERROR, as it should be
async def test_a_decoder_bug_is_a_dead_letter_not_a_stall(small_pack: CityPack,
                                                          mosquitto: LocalMosquitto,
                                                          tmp_path: Path) -> None:
    """An exception the decoder should never raise (a bug) costs one message, kept as
    an ``internal`` dead letter; the stream goes on."""
    store = GatedStore(open_writes=10**6)
    ing = ingester(small_pack, mosquitto.port, store, tmp_path)
    real = ing.decoder.compiled

    def buggy(topic: str, payload: bytes, out: bytearray) -> int | None:
        if payload == one_reading(13):
            raise OverflowError("a bug")
        return real(topic, payload, out)

    ing.decoder.compiled = buggy  # type: ignore[method-assign]
    topic = f"city/{small_pack.city.id}/traffic/gw-a"
    async with running(ing):
        await publish(mosquitto, [(topic, one_reading(i)) for i in range(30)])
        await until(lambda: ing.counters.acked == 30, "every message handled")
    assert ing.counters.dead_lettered["internal"] == 1
    assert len(store.points) == 29
    [(_, reason, detail)] = [(d.topic, d.reason, d.detail) for d in ing.deadletters.list(10)]
    assert (reason, detail) == ("internal", "OverflowError: a bug")


@pytest.mark.timeout(120)
async def test_mosquitto_window_gives_way_after_the_first_puback(
        mosquitto: LocalMosquitto) -> None:
    """Why the ingester bounds its own reading: Mosquitto 2.0.11 sends at most its
    ``max_inflight_messages`` (2,000 here) unacknowledged messages only until the client
    acknowledges one; then it sends all it has queued. If this fails, the broker has
    changed; update ``subscriber/client.py`` and ``docs/ingest.md``."""
    topic = f"bp/{uuid.uuid4().hex[:6]}"
    marker = f"{topic}/marker"
    got: list[int] = []
    markers: list[bytes] = []
    subscribed = asyncio.Event()
    loop = asyncio.get_running_loop()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bp-{topic[3:]}")
    c.manual_ack_set(True)
    c.on_message = lambda _c, _u, m: (markers if m.topic == marker else got).append(
        m.payload if m.topic == marker else m.mid)
    c.on_subscribe = lambda *_: loop.call_soon_threadsafe(subscribed.set)
    c.connect("127.0.0.1", mosquitto.port)
    c.loop_start()
    try:
        c.subscribe([(topic, 1), (marker, 0)])
        await asyncio.wait_for(subscribed.wait(), 30)
        await asyncio.to_thread(subprocess.run, ["mosquitto_pub", "-p", str(mosquitto.port),
                                                 "-t", topic, "-q", "1", "-l"],
                                input=b"m\n" * 3000, check=True)
        # A QoS 0 message published after all 3,000 is not held by the window: once it
        # has come, the broker has dealt with everything before it (a positive signal,
        # not a pause), and still sent only its window of the QoS 1 ones.
        await asyncio.to_thread(subprocess.run, ["mosquitto_pub", "-p", str(mosquitto.port),
                                                 "-t", marker, "-q", "0", "-m", "after"],
                                check=True)
        await until(lambda: markers == [b"after"], "the QoS 0 marker")
        assert len(got) == 2000  # the window holds while nothing is acknowledged
        for mid in got[:10]:
            c.ack(mid, 1)
        await until(lambda: len(got) == 3000, "the rest, after 10 acknowledgements")
    finally:
        c.loop_stop()
        c.disconnect()


@pytest.mark.timeout(180)
async def test_ingester_survives_a_broker_restart(small_pack: CityPack,
                                                  tmp_path: Path) -> None:
    mq = LocalMosquitto(tmp_path / "mq")  # our own: this test restarts it
    mq.start()
    store = SQLiteStore(tmp_path / "city.db")
    ing = ingester(small_pack, mq.port, store, tmp_path)
    city = small_pack.city.id

    async def stored() -> list[float]:
        rows = await store.history(measurement="traffic", device="tfc-1", field="intensity",
                                   start_ns=0, stop_ns=(T0 + 1000) * 10**9, city=city)
        return [v for _, v in rows]
    try:
        async with running(ing):
            await publish(mq, [(f"city/{city}/traffic/gw-a", one_reading(i))
                               for i in range(100)])
            await until(lambda: ing.counters.acked == 100, "the first 100")
            mq.stop()
            await until(lambda: not ing.connected.is_set(), "the ingester to notice")
            mq.start()
            await asyncio.wait_for(ing.connected.wait(), 60)
            await publish(mq, [(f"city/{city}/traffic/gw-a", one_reading(i))
                               for i in range(100, 200)])
            # Counted writes may pass 200: PUBACKs still on their way when the broker
            # stopped leave messages it redelivers (at least once; points are
            # idempotent). So wait on the store's rows, not on the write counter.
            deadline = asyncio.get_running_loop().time() + 60
            while len(rows := await stored()) < 200:
                assert asyncio.get_running_loop().time() < deadline, len(rows)
                await asyncio.sleep(0.1)
    finally:
        mq.stop()
    assert rows == [float(i) for i in range(200)]
    assert ing.counters.stored_points >= 200
    await store.aclose()


@pytest.mark.timeout(120)
async def test_qos0_messages_are_stored_and_not_acknowledged(
        small_pack: CityPack, mosquitto: LocalMosquitto, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """A publisher that ignores the contract's QoS 1: its messages are stored, and the
    ingester sends no PUBACK for them (a PUBACK for packet id 0 is a protocol error that
    makes Mosquitto drop the connection)."""
    store = GatedStore(open_writes=10**6)
    ing = ingester(small_pack, mosquitto.port, store, tmp_path)
    topic = f"city/{small_pack.city.id}/traffic/gw-a"
    async with running(ing):
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as pub:
            for i in range(60):
                await pub.publish(topic, one_reading(i), qos=i % 2)
        await until(lambda: ing.counters.acked == 60, "all 60 messages handled")
        # A SUBSCRIBE sent after those acknowledgements, and its SUBACK: the broker read
        # every packet before it on this connection and kept it (a PUBACK for packet id
        # 0 would have made it drop the connection first). A positive signal, no pause.
        client = ing._mqtt  # the ingester's own client (test-only access)
        assert client is not None
        await asyncio.wait_for(client.subscribe(f"{topic}/round-trip", qos=1), 30)
        assert ing.connected.is_set()
    assert sorted(p.time_ns for p in store.points) == [(T0 + i) * 10**9 for i in range(60)]
    assert "connection lost" not in caplog.text

