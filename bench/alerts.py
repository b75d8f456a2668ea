"""The alerts service end to end: a reading published -> the signed webhook received, under
``--rate`` readings/s of background load (default 10,000) with 1,000 rules; and the
notifications a storm opening 1,000 alarms at once makes, per second.

A local Mosquitto; a synthetic city (10 gateways x 100 traffic sensors, one probe flood
gauge) whose pack has 1,000 threshold rules (one per traffic sensor, never firing under
the background's speeds), a Siaga rule for the probe, and one department reached by a
webhook (group_s 0: each alarm its own message). ``cityhub alerts run`` runs as its own
process with its usual settings; a publisher process sends the background; this process
publishes the probe and receives the webhooks, verifying every signature with
``standardwebhooks``.

- Latency: every 0.5 s the probe gauge crosses Siaga III (up or down); for each opening,
  webhook received - reading published. p50 / p99 over ``--seconds`` (default 30), beside
  the same probe with no background load (the baseline, same run).
- Storm: every traffic sensor's speed drops below its rule's level in one burst; the time
  from the burst to the last of the 1,000 alarms received (in webhooks grouped by the
  sender) and to the last of their 1,000 messages on the MQTT feed: alarms per second.

Target (issue 15): p99 <= 1 s (aim 250 ms), nothing lost. Prints one final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiomqtt  # noqa: E402
from aiohttp import web  # noqa: E402
from standardwebhooks import Webhook  # noqa: E402

from alerts.channels.webhook import new_secret  # noqa: E402
from cityhub.senml import Reading, encode_pack  # noqa: E402
from cityhub.topics import telemetry_topic  # noqa: E402
from devservices import LocalMosquitto, free_port, http  # noqa: E402

TARGET_P99_S = 1.0
GATEWAYS, PER_GATEWAY = 10, 100
CITY = "benchcity"

PUBLISHER = r'''
import sys, time
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
port, rate, seconds, gateways, per = (int(sys.argv[1]), float(sys.argv[2]),
                                      float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-background")
c.max_inflight_messages_set(2000)
c.max_queued_messages_set(0)
c.connect("127.0.0.1", port)
c.loop_start()
ticks = rate / (gateways * per)
t_end, k = time.time() + seconds, 0
while time.time() < t_end:
    due = time.time()
    for g in range(gateways):
        now = time.time()
        recs = [{"bn": f"tfc-{g:02d}-{i:03d}:", "bt": now, "n": "averageVehicleSpeed",
                 "v": 40.0 + (k % 5)} for i in range(per)]
        c.publish(f"city/benchcity/traffic/gw-{g:02d}", orjson.dumps(recs), qos=1)
    k += 1
    sleep = due + 1 / ticks - time.time()
    if sleep > 0:
        time.sleep(sleep)
print(k * gateways * per, flush=True)
c.loop_stop()
c.disconnect()
'''


def write_pack(root: Path, webhook_url: str) -> Path:
    """The synthetic city: 1,000 traffic sensors with a rule each, one probe gauge."""
    (root / "gateways").mkdir(parents=True)
    rules = [f"    - {{id: slow-{g:02d}-{i:03d}, kind: threshold, domain: traffic, "
             f"field: averageVehicleSpeed, below: {10 + (i % 5)}, clear: 30, "
             f"devices: [tfc-{g:02d}-{i:03d}]}}"
             for g in range(GATEWAYS) for i in range(PER_GATEWAY)]
    (root / "city.yaml").write_text(
        "pack: 1\ncity: {id: benchcity, name: Bench City, country: ID, timezone: Asia/Jakarta, "
        "location: {lat: -6.9, lon: 107.6}}\n"
        "districts:\n  - {id: d1, name: D1, centroid: {lat: -6.9, lon: 107.6}, "
        "outline: [[107.5, -6.8], [107.7, -6.8], [107.7, -7.0], [107.5, -7.0]]}\n"
        "alerts:\n  rules:\n" + "\n".join(rules) + "\n"
        "    - {id: probe-siaga, kind: siaga, at: 3, clear_m: 0}\n"
        "  departments:\n    - id: ops\n      name: Ops\n      language: en\n"
        "      subscriptions: [{min_severity: info}]\n      group_s: 0\n"
        "      max_per_hour: 1000000\n"
        f"      contacts: [{{id: hook, channel: webhook, url: '{webhook_url}', "
        "secret_env: BENCH_WEBHOOK_SECRET}]\n")
    for g in range(GATEWAYS):
        sensors = "\n".join(f"  - {{id: tfc-{g:02d}-{i:03d}, domain: traffic, "
                            "location: {lat: -6.9, lon: 107.6}}" for i in range(PER_GATEWAY))
        (root / "gateways" / f"gw-{g:02d}.yaml").write_text(
            f"id: gw-{g:02d}\ndistrict: d1\nlocation: {{lat: -6.9, lon: 107.6}}\n"
            f"sensors:\n{sensors}\n")
    (root / "gateways" / "gw-probe.yaml").write_text(
        "id: gw-probe\ndistrict: d1\nlocation: {lat: -6.9, lon: 107.6}\nsensors:\n"
        "  - {id: probe, domain: flood, location: {lat: -6.9, lon: 107.6}, "
        "thresholds: {siaga_3: 1.5, siaga_2: 2.0, siaga_1: 2.5}}\n")
    return root


class Receiver:
    """Verifies each webhook; notes when each alarm's opening arrived."""

    def __init__(self, secret: str) -> None:
        self.verify = Webhook(secret).verify
        self.opened: dict[str, float] = {}  # alarm source -> received (monotonic)
        self.rejected = 0
        self.requests = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        now = time.monotonic()
        try:
            payload = self.verify(body, dict(request.headers))
        except Exception:
            self.rejected += 1
            return web.Response(status=401)
        self.requests += 1
        for n in payload["notifications"]:
            if n["change"] == "opened":
                self.opened.setdefault(n["alarm"]["id"], now)
                self.opened.setdefault(f"src:{n['alarm']['source']}:"
                                       f"{n['alarm']['opened_at']!r}", now)
        return web.Response(status=204)


async def until(cond: Any, deadline: float) -> None:
    """Poll ``cond`` until it holds or the monotonic ``deadline`` passes."""
    while not cond():
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.002)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    xs = sorted(values)
    return xs[min(len(xs) - 1, math.ceil(q * len(xs)) - 1)]


async def probe(port: int, rx: Receiver, seconds: float) -> list[float]:
    """Cross Siaga III every 0.5 s; the latency of each opening."""
    lat: list[float] = []
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-probe") as c:
        t_end = time.monotonic() + seconds
        k = 0
        while time.monotonic() < t_end:
            t = time.time()
            level = 2.0 if k % 2 else 1.0
            payload = encode_pack([Reading("probe", "currentLevel", level,
                                           int(t * 1e6) * 1000)], domain="flood")
            sent = time.monotonic()
            await c.publish(telemetry_topic(CITY, "flood", "gw-probe"), payload, qos=1)
            if level > 1.5:
                key = f"src:device/probe:{int(t * 1e6) * 1000 / 1e9!r}"
                await until(lambda k=key: k in rx.opened, sent + 10)  # type: ignore[misc]
                if key in rx.opened:
                    lat.append(rx.opened[key] - sent)
            k += 1
            await asyncio.sleep(max(0.0, 0.5 - (time.monotonic() - sent)))
    return lat


async def storm(port: int, rx: Receiver) -> dict[str, Any]:
    """Every traffic sensor below its level at once: 1,000 alarms."""
    feed: list[float] = []
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-storm") as c:
        await c.subscribe(f"city/{CITY}/alerts/traffic/#", qos=1)

        async def take() -> None:
            async for _ in c.messages:
                feed.append(time.monotonic())
        task = asyncio.create_task(take())
        before = {k for k in rx.opened if k.startswith("src:device/tfc")}
        t = time.time()
        start = time.monotonic()
        for g in range(GATEWAYS):
            recs = [Reading(f"tfc-{g:02d}-{i:03d}", "averageVehicleSpeed", 5.0,
                            int(t * 1e6) * 1000) for i in range(PER_GATEWAY)]
            await c.publish(telemetry_topic(CITY, "traffic", f"gw-{g:02d}"),
                            encode_pack(recs, domain="traffic"), qos=1)
        n = GATEWAYS * PER_GATEWAY
        deadline = start + 120

        def got() -> list[float]:
            return [v for k, v in rx.opened.items()
                    if k.startswith("src:device/tfc") and k not in before]
        await until(lambda: len(got()) >= n and len(feed) >= n, deadline)
        task.cancel()
    hooks = got()
    return {"storm_alarms": n, "storm_webhooked": len(hooks), "storm_feed": len(feed),
            "storm_webhook_s": round(max(hooks) - start, 3) if hooks else None,
            "storm_feed_s": round(max(feed) - start, 3) if feed else None,
            "storm_alarms_per_s": round(len(hooks) / (max(hooks) - start), 1)
            if hooks else None}


async def run(args: argparse.Namespace, mq: LocalMosquitto, tmp: Path) -> dict[str, Any]:
    secret = new_secret()
    rx = Receiver(secret)
    app = web.Application()
    app.router.add_post("/hook", rx.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    hook_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()
    pack = write_pack(tmp / "pack", f"http://127.0.0.1:{hook_port}/hook")
    api = free_port()
    cfg = tmp / "alerts.yaml"
    cfg.write_text(f"pack: {pack}\nbroker: {{host: 127.0.0.1, port: {mq.port}, "
                   f"protocol: '3.1.1'}}\ndatabase: {tmp / 'alarms.db'}\n"
                   f"accounts: {tmp / 'accounts.db'}\nhttp_port: {api}\n")
    env = {**os.environ, "BENCH_WEBHOOK_SECRET": secret}
    service = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cityhub", "alerts", "run", "--config", str(cfg), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        for _ in range(600):
            if http.get(f"http://127.0.0.1:{api}/healthz")[0] == 200:
                break
            await asyncio.sleep(0.1)
        idle = await probe(mq.port, rx, min(10.0, args.seconds))
        publisher = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PUBLISHER, str(mq.port), str(args.rate),
            str(args.seconds + 3), str(GATEWAYS), str(PER_GATEWAY),
            stdout=asyncio.subprocess.PIPE, cwd=ROOT)
        await asyncio.sleep(3)  # the load under way
        loaded = await probe(mq.port, rx, args.seconds)
        out, _ = await publisher.communicate()
        sent = int(out.decode().strip() or 0)
        storm_result = await storm(mq.port, rx)
    finally:
        service.terminate()
        _, raw_err = await asyncio.wait_for(service.communicate(), 60)
        err = raw_err.decode(errors="replace")
        await runner.cleanup()
    p99 = pct(loaded, 0.99)
    return {
        "bench": "alerts", "rules": GATEWAYS * PER_GATEWAY + 1,
        "background_readings": sent, "background_rate": round(sent / (args.seconds + 3)),
        "probe_openings": len(loaded),
        "p50_s": round(pct(loaded, 0.5) or math.nan, 4), "p99_s": round(p99 or math.nan, 4),
        "idle_p50_s": round(pct(idle, 0.5) or math.nan, 4),
        "idle_p99_s": round(pct(idle, 0.99) or math.nan, 4),
        **storm_result, "rejected_signatures": rx.rejected,
        "service_exit": service.returncode, "target_p99_s": TARGET_P99_S,
        "met": p99 is not None and p99 <= TARGET_P99_S and rx.rejected == 0
        and storm_result["storm_webhooked"] == storm_result["storm_alarms"]
        and storm_result["storm_feed"] >= storm_result["storm_alarms"],
        "stderr_tail": err[-500:] if service.returncode else "",
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=10_000, help="background readings/s")
    p.add_argument("--seconds", type=float, default=30, help="probe duration under load")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="cityhub-bench-") as d:
        mq = LocalMosquitto(Path(d) / "mq")
        mq.start()
        try:
            result = asyncio.run(run(args, mq, Path(d)))
        finally:
            mq.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
