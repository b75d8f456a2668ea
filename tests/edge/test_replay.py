"""Replay after an outage, against a recording stand-in for the MQTT client: what was
sampled while disconnected is backlog (never one unbounded "live" burst), backlog goes
out oldest first at the replay rate, live readings go between backlog slices, and the
queue's bookkeeping stays exact without rescanning it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import orjson

from cityhub.config.pack import CityPack
from cityhub.fields import Domain
from cityhub.mqtt import BrokerSettings
from cityhub.senml import Value
from edge.drivers.sim import SimDriver, Weather
from edge.publisher import GatewayPublisher
from edge.queue import DiskQueue

T = 1_767_225_600.0


class Recorder:
    """Stands in for ``aiomqtt.Client``: every publish is acknowledged at once; ``hook``
    runs before each (to sample while a slice is out)."""

    def __init__(self) -> None:
        self.seqs: list[list[int]] = []  # per publish, the seqs it carried
        self.hook: Callable[[], None] = lambda: None

    async def publish(self, topic: str, payload: bytes, qos: int) -> None:
        assert qos == 1
        self.hook()
        self.seqs.append([int(r["seq"]) for r in orjson.loads(payload)])

    def flat(self) -> list[int]:
        return [s for p in self.seqs for s in p]


def items(n: int, start: int = 0) -> list[tuple[Domain, str, str, object, int]]:
    return [(Domain.TRAFFIC, "tfc-1", "intensity", float(i), int(T * 1e9) + i)
            for i in range(start, start + n)]


def publisher(pack: CityPack, queue: DiskQueue, now: list[float], *, sensors: bool = False,
              **kw: object) -> GatewayPublisher:
    gw = pack.gateways[0]
    w = Weather("Asia/Jakarta")
    drivers = [(s, SimDriver(s, pack, w)) for s in gw.sensors] if sensors else []
    return GatewayPublisher(pack, gw, drivers, BrokerSettings(), queue,
                            flush_interval_s=1.0, clock=lambda: now[0], **kw)  # type: ignore[arg-type]


async def test_what_was_sampled_during_an_outage_is_backlog(small_pack: CityPack,
                                                            tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q.db")
    now = [T]
    pub = publisher(small_pack, queue, now, sensors=True, replay_per_s=20)
    rounds = []
    for _ in range(10):  # ten sampling rounds while the broker is unreachable: no flush
        rounds.append([q.reading.seq for q in await pub.sample_due()])
        now[0] += 60
    per_round = len(rounds[0])
    assert per_round > 5 and queue.stats().depth == 10 * per_round
    client = Recorder()
    await pub.flush(client)  # type: ignore[arg-type]
    sent = client.flat()
    # the latest round first (live), then the 20 oldest readings of backlog (one flush
    # interval at 20/s; in packs per domain); not the whole outage at once
    assert sorted(sent[:per_round]) == rounds[-1]
    assert sorted(sent[per_round:]) == list(range(1, 21))
    assert queue.stats().depth == 10 * per_round - per_round - 20
    queue.close()


async def test_live_readings_go_between_backlog_slices(small_pack: CityPack,
                                                       tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q.db")
    queue.put(items(100))  # type: ignore[arg-type]  # a previous run's backlog
    now = [T]
    pub = publisher(small_pack, queue, now, replay_per_s=1000, replay_slice=10)
    client = Recorder()
    sampled: list[int] = []

    def sample_once() -> None:  # a sampling round lands while the first slice is out
        if not sampled:
            sampled.extend(q.reading.seq or 0 for q in queue.put(items(1, 500)))  # type: ignore[arg-type]

    client.hook = sample_once
    await pub.flush(client)  # type: ignore[arg-type]
    assert sampled == [101]
    assert client.flat() == [*range(1, 11), 101, *range(11, 101)]
    assert queue.stats().depth == 0
    queue.close()


async def test_replay_rate_is_a_rate(small_pack: CityPack, tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q.db")
    queue.put(items(2000))  # type: ignore[arg-type]
    now = [T]
    pub = publisher(small_pack, queue, now, replay_per_s=100, replay_slice=30)
    client = Recorder()
    sent = []
    for step in (0.0, 0.5, 3.0, 10.0, 1.0):  # seconds since the previous flush
        now[0] += step
        before = len(client.flat())
        await pub.flush(client)  # type: ignore[arg-type]
        sent.append(len(client.flat()) - before)
    # the first flush gets one interval's worth; later ones what the time since allows,
    # at most two intervals' worth (no burst after a stall)
    assert sent == [100, 50, 200, 200, 100]
    assert client.flat() == list(range(1, 651))  # oldest first, each once
    queue.close()


def test_packs_of_a_large_slice_fit_and_carry_each_seq_once(small_pack: CityPack,
                                                           tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q.db")
    queue.put(items(3000))  # type: ignore[arg-type]
    pub = publisher(small_pack, queue, [T], max_pack_bytes=4096)
    for _ in range(2):  # the second time with the size learnt from the first
        packs = pub.packs(queue.oldest(3000))
        assert all(len(p) <= 4096 for _, p, _ in packs)
        assert [s for _, _, seqs in packs for s in seqs] == list(range(1, 3001))
        assert len(packs) <= 1.5 * sum(len(p) for _, p, _ in packs) / 4096 + 1
    queue.close()


def test_delete_keeps_depth_and_bytes_exact(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q.db")
    queue.put(items(1500))  # type: ignore[arg-type]
    gone = [*range(1, 1201, 2), *range(2, 1201, 2), 5, 99_999]  # over several IN chunks;
    assert queue.delete(gone) == 1200  # a repeat and an unknown seq remove nothing
    s = queue.stats()
    queue.close()
    again = DiskQueue(tmp_path / "q.db")  # counted from the file
    assert (s.depth, s.bytes) == (again.stats().depth, again.stats().bytes) == (
        300, again.stats().bytes)
    assert [q.reading.seq for q in again.oldest(1)] == [1201]
    again.close()


class SlowDriver:
    """A sensor whose read takes half a second of the publisher's clock."""

    def __init__(self, now: list[float]) -> None:
        self.now = now

    async def read(self, t: float) -> dict[str, Value]:
        self.now[0] += 0.5
        return {"intensity": 1.0}

    async def aclose(self) -> None:
        pass


async def test_sensors_are_sampled_at_their_interval(small_pack: CityPack,
                                                     tmp_path: Path) -> None:
    """The schedule is anchored: a 1 s sensor whose read takes 0.5 s is sampled every
    second, not every 1.5 s. On the publisher's own clock (no wall-clock timing): its
    pauses move that clock on."""
    queue = DiskQueue(tmp_path / "q.db")
    gw = small_pack.gateways[0]
    sensor = gw.sensors[0].model_copy(update={"interval_s": 1.0})
    now = [T]
    pub = GatewayPublisher(small_pack, gw, [(sensor, SlowDriver(now))], BrokerSettings(),
                           queue, flush_interval_s=1.0, clock=lambda: now[0])

    async def pause(seconds: float) -> None:  # the clock moves on instead of sleeping
        now[0] += seconds
        if queue.stats().depth >= 5:
            pub.request_stop()
        await asyncio.sleep(0)

    pub._pause = pause  # type: ignore[method-assign]
    await asyncio.wait_for(pub._sample_forever(), 30)
    times = [q.reading.time_ns / 1e9 for q in queue.oldest(100)]
    assert times == [T, T + 1, T + 2, T + 3, T + 4]
    queue.close()
