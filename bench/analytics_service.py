"""The analytics service end to end: reading published -> derived point stored, and
reading published -> event received, at ``--rate`` readings/s (default 10,000).

A local Mosquitto and InfluxDB 1.6 (as the tests use); a publisher process sends every
sensor of the Bandung pack, one pack per gateway and domain, ``--rate`` / readings-per-tick
times a second, each reading stamped with its publishing time (so a derived point's time
is its reading's); river levels swing across their Siaga thresholds so that ``siaga_change``
events come all along. The service runs in this process with its usual settings (metrics
off), writing to InfluxDB through a store wrapper that notes, for every derived point,
the time its write returned; a subscriber notes when each event arrives.

Latency of a point: its write returned - its reading's time. Of an event: received - its
reading's time (``start``). p50 and p99 over ``--seconds`` (default 30) after a 5 s
warm-up, and the readings/s the service took. Target (issue 14): p99 <= 1 s for both.
Prints one final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiomqtt  # noqa: E402
import orjson  # noqa: E402

from analytics.live.checkpoint import StateDir  # noqa: E402
from analytics.service import AnalyticsService  # noqa: E402
from analytics.settings import AnalyticsSettings  # noqa: E402
from cityhub.config import load_pack  # noqa: E402
from cityhub.mqtt import BrokerSettings  # noqa: E402
from cityhub.point import Point  # noqa: E402
from cityhub.store.base import Store  # noqa: E402
from cityhub.topics import event_filter  # noqa: E402
from devservices import LocalInfluxDB, LocalMosquitto  # noqa: E402
from stores.influx_v1 import InfluxV1Store  # noqa: E402

TARGET_P99_S = 1.0

PUBLISHER = r'''
import math, sys, time
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from cityhub.config import load_pack
from cityhub.topics import telemetry_topic
port, rate, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
pack = load_pack("bandung")
groups = {}
for d, (gw, s) in pack.sensors.items():
    groups.setdefault((gw.id, s.domain.value), []).append((d, s))
per_tick = sum(2 if dom == "traffic" else 1 for (_, dom), ss in groups.items() for _ in ss)
ticks = rate / per_tick
c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
c.max_inflight_messages_set(2000)
c.max_queued_messages_set(0)
c.connect("127.0.0.1", port)
c.loop_start()
t_end = time.time() + seconds
k = 0
while time.time() < t_end:
    due = time.time()
    for (gw, dom), ss in groups.items():
        now = time.time()
        recs = []
        for d, s in ss:
            if dom == "traffic":
                recs += [{"bn": f"{d}:", "bt": now, "n": "averageVehicleSpeed",
                          "v": 40 + 5 * math.sin(k / 50)}, {"n": "occupancy", "v": 0.2}]
            elif dom == "flood":
                th = s.thresholds
                mid = (th.siaga_3 + th.siaga_2) / 2
                recs.append({"bn": f"{d}:", "bt": now, "n": "currentLevel",
                             "v": round(mid + (th.siaga_2 - th.siaga_3) * math.sin(now / 3), 3)})
            elif dom == "lighting":
                recs.append({"bn": f"{d}:", "bt": now, "n": "activePower", "v": 0.0})
            else:
                recs.append({"bn": f"{d}:", "bt": now, "n": "rainRate", "v": k % 7})
        c.publish(telemetry_topic(pack.city.id, dom, gw), orjson.dumps(recs), qos=1)
    k += 1
    sleep = due + 1 / ticks - time.time()
    if sleep > 0:
        time.sleep(sleep)
print(k * per_tick, flush=True)
c.loop_stop()
c.disconnect()
'''


class TimedStore:
    """The store, noting when each derived point's write returned."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.latencies: list[tuple[float, float]] = []  # (written at, latency s)
        self.line_protocol = False

    async def write(self, points: Sequence[Point]) -> None:
        await self.store.write(points)
        now = time.time()
        self.latencies += [(now, now - p.time_ns / 1e9) for p in points]

    async def ping(self) -> str:
        return await self.store.ping()

    async def aclose(self) -> None:
        await self.store.aclose()


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, math.ceil(q * len(s)) - 1)], 4)


async def run(args: argparse.Namespace, mq: LocalMosquitto, influx: LocalInfluxDB,
              work: Path) -> dict[str, object]:
    influx.query('CREATE DATABASE "bench"')
    pack = load_pack("bandung")
    store = TimedStore(InfluxV1Store(influx.url, "bench"))
    settings = AnalyticsSettings(
        pack="bandung", client_id="bench-analytics", state_dir=str(work / "state"),
        broker=BrokerSettings(host="127.0.0.1", port=mq.port, protocol="3.1.1"),
        max_inflight=20000)
    svc = AnalyticsService(settings, pack, store, StateDir(work / "state"))  # type: ignore[arg-type]
    events: list[tuple[float, float]] = []
    arrivals: list[tuple[float, float]] = []  # (received at, reading age): 1 message in 20
    on_publish = svc._on_publish  # our own service: the bench looks in

    def timed(topic: str | None, qos: int, mid: int, payload: bytes) -> None:
        if mid % 20 == 0:
            now = time.time()
            arrivals.append((now, now - orjson.loads(payload)[0]["bt"]))
        on_publish(topic, qos, mid, payload)
    svc._on_publish = timed  # type: ignore[method-assign]
    task = asyncio.create_task(svc.run())
    await asyncio.wait_for(svc.connected.wait(), 60)
    async with aiomqtt.Client("127.0.0.1", mq.port, identifier="bench-events") as sub:
        await sub.subscribe(event_filter(pack.city.id), qos=1)

        async def take() -> None:
            from datetime import datetime
            async for m in sub.messages:
                now = time.time()
                e = orjson.loads(m.payload)  # type: ignore[arg-type]
                if e["kind"] == "siaga_change":
                    events.append((now, now - datetime.fromisoformat(e["start"]).timestamp()))
        taker = asyncio.create_task(take())
        t0 = time.time()
        pub = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PUBLISHER, str(mq.port), str(args.rate),
            str(args.seconds + 5), stdout=subprocess.PIPE, cwd=str(ROOT))
        out, _ = await pub.communicate()
        await asyncio.sleep(2)
        taker.cancel()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    svc.state.close()
    await store.aclose()
    since = t0 + 5
    lat = [x for t, x in store.latencies if t >= since]
    ev = [x for t, x in events if t >= since]
    arrived = [x for t, x in arrivals if t >= since]
    readings = svc.metrics.registry.get_sample_value("cityhub_analytics_readings_total") or 0
    published = int(out.decode().strip() or 0)
    p99 = [pct(lat, 0.99), pct(ev, 0.99)]
    return {"bench": "analytics_service", "rate_asked": args.rate,
            "readings_published": published,
            "readings_taken_per_s": round(readings / (args.seconds + 5)),
            "arrival_latency_p50_s": pct(arrived, 0.5),
            "arrival_latency_p99_s": pct(arrived, 0.99),
            "points": len(lat), "point_latency_p50_s": pct(lat, 0.5),
            "point_latency_p99_s": p99[0], "events": len(ev),
            "event_latency_p50_s": pct(ev, 0.5), "event_latency_p99_s": p99[1],
            "checkpoints": svc.metrics.registry.get_sample_value(
                "cityhub_analytics_checkpoints_total"),
            "target_p99_s": TARGET_P99_S,
            "target_met": all(x is not None and x <= TARGET_P99_S for x in p99)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=10_000)
    ap.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cityhub-bench-") as d:
        work = Path(d)
        mq, influx = LocalMosquitto(work / "mq"), LocalInfluxDB(work / "influx")
        mq.start()
        influx.start()
        try:
            result = asyncio.run(run(args, mq, influx, work))
        finally:
            mq.stop()
            influx.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
