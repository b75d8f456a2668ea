"""Store-and-forward on a real Mosquitto: a broker outage and kill -9 of the agent lose
nothing that reached the queue; seq continues across restarts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from pathlib import Path

import aiomqtt
import orjson
import pytest

from cityhub.config.pack import CityPack
from cityhub.mqtt import BrokerSettings
from cityhub.topics import telemetry_filter
from devservices import LocalMosquitto
from edge.drivers.sim import SimDriver, Weather
from edge.publisher import GatewayPublisher
from edge.queue import DiskQueue
from tests.ingest.test_end_to_end import until

pytestmark = pytest.mark.integration


def sim_publisher(pack: CityPack, broker: BrokerSettings, queue: DiskQueue) -> GatewayPublisher:
    """The publisher of the pack's first gateway, every sensor simulated, sampling 100
    times faster than the pack says, flushing every 0.3 s."""
    gw = pack.gateways[0]
    w = Weather("Asia/Jakarta")
    return GatewayPublisher(pack, gw, [(s, SimDriver(s, pack, w)) for s in gw.sensors],
                            broker, queue, interval_scale=0.01, flush_interval_s=0.3)


async def start_collecting(tg: asyncio.TaskGroup, port: int, city: str, seqs: list[int]
                           ) -> asyncio.Task[None]:
    """Start :func:`collect` in ``tg``; return its task once it is subscribed."""
    ready = asyncio.Event()
    task = tg.create_task(collect(port, city, seqs, ready))
    await asyncio.wait_for(ready.wait(), 30)
    return task


async def collect(port: int, city: str, seqs: list[int], ready: asyncio.Event) -> None:
    """A persistent QoS 1 subscriber that records every seq it receives, reconnecting
    through broker restarts."""
    cid = f"collector-{uuid.uuid4().hex[:6]}"
    while True:
        try:
            async with aiomqtt.Client("127.0.0.1", port, identifier=cid,
                                      clean_session=False) as c:
                for f in telemetry_filter(city):
                    await c.subscribe(f, qos=1)
                ready.set()
                async for m in c.messages:
                    seqs.extend(int(r["seq"]) for r in orjson.loads(bytes(m.payload)))  # type: ignore[arg-type]
        except aiomqtt.MqttError:
            await asyncio.sleep(0.2)


@pytest.mark.timeout(180)
async def test_broker_outage_loses_nothing(small_pack: CityPack, tmp_path: Path) -> None:
    broker = LocalMosquitto(tmp_path / "mq")  # our own: this test stops it
    broker.start()
    queue = DiskQueue(tmp_path / "edge.db")
    pub = sim_publisher(small_pack, BrokerSettings(host="127.0.0.1", port=broker.port), queue)
    seqs: list[int] = []
    try:
        async with asyncio.TaskGroup() as tg:
            sub = await start_collecting(tg, broker.port, small_pack.city.id, seqs)
            run = tg.create_task(pub.run())
            await until(lambda: len(seqs) >= 30, "readings before the outage")
            await asyncio.to_thread(broker.stop)
            await until(lambda: queue.stats().depth >= 30, "a backlog during the outage")
            backlog = queue.stats().depth
            await asyncio.to_thread(broker.start)  # same port, same persistence
            await asyncio.sleep(1.0)
            pub.sensors.clear()  # stop sampling: what is queued must now all arrive
            await until(lambda: queue.stats().depth == 0, "the queue to drain", 60)
            last = queue.stats().next_seq - 1
            await until(lambda: set(range(1, last + 1)) <= set(seqs), "every seq", 30)
            run.cancel()
            sub.cancel()
        assert backlog >= 30
        assert set(seqs) == set(range(1, last + 1))  # each reading at least once, none lost
    finally:
        queue.close()
        broker.stop()


@pytest.mark.timeout(180)
async def test_kill_9_loses_nothing_and_seq_continues(
        small_pack_dir: Path, small_pack: CityPack, mosquitto: LocalMosquitto,
        tmp_path: Path) -> None:
    qpath = tmp_path / "edge.db"
    cmd = [sys.executable, "-m", "cityhub", "edge", "run", "--gateway",
           str(small_pack_dir / "gateways" / "gw-a.yaml"), "--broker-host", "127.0.0.1",
           "--broker-port", str(mosquitto.port), "--queue", str(qpath),
           "--interval-scale", "0.01", "--flush-interval", "0.3"]
    seqs: list[int] = []
    runs: list[int] = []
    log = (tmp_path / "edge.log").open("ab")
    async with asyncio.TaskGroup() as tg:
        sub = await start_collecting(tg, mosquitto.port, small_pack.city.id, seqs)
        for _ in range(3):
            proc = await asyncio.create_subprocess_exec(*cmd, stdout=log,
                                                        stderr=asyncio.subprocess.STDOUT)
            start = len(seqs)
            await until(lambda s=start: len(seqs) >= s + 20, "readings from this run", 60)
            await asyncio.sleep(0.4)
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()
            runs.append(max(seqs))
        await asyncio.sleep(1.0)  # let in-flight deliveries land
        sub.cancel()
    q = DiskQueue(qpath)
    with contextlib.closing(q):
        queued = {x.reading.seq for x in q.oldest(1_000_000)}
        last = q.stats().next_seq - 1
    # every reading that reached the queue was either delivered or is still queued
    assert set(seqs) | queued == set(range(1, last + 1))
    assert runs == sorted(runs) and len(set(runs)) == 3  # seq went on across restarts

    # what an engineer sees on the gateway afterwards
    status = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cityhub", "edge", "status", "--queue", str(qpath),
        stdout=asyncio.subprocess.PIPE)
    out = (await status.communicate())[0].decode()
    assert status.returncode == 0, out
    assert "readings waiting" in out and f"next seq {last + 1}" in out
    assert "agent gw-a" in out and "tfc-1: ok" in out and "last PUBACK" in out
