"""The edge agent on a gateway: its CPU and memory at 200 sensors at 1 Hz, and how fast
it replays an outage's backlog while live readings still go out promptly.

Starts its own Mosquitto and writes a temporary city pack with one gateway of 200 ``sim``
sensors sampled every second (100 traffic, 40 flood, 40 lighting, 20 rain: about 640
readings/s, a reading being one field of one sensor, one ``seq``), checked with
``cityhub config check``. Then, in one run:

- **agent, steady**: the real agent (``cityhub edge run`` as its own process, fresh
  queue, ``--flush-interval 1``); after a warm-up, its CPU (user + system, psutil,
  % of one core), RSS (psutil, sampled every 0.5 s, the largest) and the seconds between
  its sampling rounds (from the readings' device times: 1.0 for 1 s sensors) over a
  steady window;
- **baseline, steady**: a bare paho-mqtt publisher process (no queue, no sampling, no
  pack: paho and orjson only) publishing the same readings per second with QoS 1, one
  message (a one-record SenML pack) per reading, measured the same way;
- **replay**: a queue pre-filled with 100,000 readings through ``DiskQueue.put`` (what an
  outage leaves behind: the same sensors' simulated readings, one transaction per 1 s
  sampling round, device times in the past), then the agent started on it with the
  broker up and ``--replay-rate`` high enough not to be the limit. Replay rate = 100,000
  / (time from the first message received to the last backlog seq received). Live
  latency = receive time minus the reading's SenML time, for the live readings sampled
  while the backlog drained (max and p99), and the agent's peak RSS (``VmHWM``).

A QoS 1 subscriber in this process (paho, its network thread only stores what arrives;
the main thread decodes with ``cityhub.senml.decode_pack``) counts every ``seq``: lost =
seqs neither received nor still queued when the agent stopped; duplicates = seqs
received more than once. Prints one final JSON line.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CITY = "benchcity"
GATEWAY = "gw-bench"
BASE_GATEWAY = "gw-base"  # the baseline publisher's topics
MIX = (("traffic", "tfc", 100), ("flood", "river", 40), ("lighting", "lamp", 40),
       ("rain", "rain", 20))
TARGETS = {"agent_rss_mb": 80.0, "agent_cpu_pct": 10.0, "replay_per_s": 5000.0,
           "live_latency_max_s": 2.0,
           # a 1 s sensor sampled every second, not every second plus the round's cost
           "sample_interval_max_s": 1.2}


def note(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# -- the city pack ------------------------------------------------------------------------

CITY_YAML = """\
pack: 1
city:
  id: {city}
  name: Bench City
  country: ID
  timezone: Asia/Jakarta
  location: {{lat: -6.9175, lon: 107.6191}}
broker: {{host: 127.0.0.1, port: {port}}}
profiles:
  tfc: {{domain: traffic, interval_s: 1, params: {{lanes: 2, peak_intensity: 40}}}}
  river: {{domain: flood, interval_s: 1, thresholds: {{siaga_3: 1.5, siaga_2: 2.0, siaga_1: 2.5}}}}
  lamp: {{domain: lighting, interval_s: 1, thresholds: {{rated_power: 90}}}}
  rain: {{domain: rain, interval_s: 1}}
districts:
  - id: centre
    name: Centre
    centroid: {{lat: -6.9175, lon: 107.6191}}
    outline: [[107.55, -6.85], [107.70, -6.85], [107.70, -6.98], [107.55, -6.98]]
"""


def write_pack(root: Path, port: int, sensors: int) -> Path:
    """A city pack with one gateway of ``sensors`` sim sensors at 1 Hz; its gateway file."""
    (root / "gateways").mkdir(parents=True)
    (root / "city.yaml").write_text(CITY_YAML.format(city=CITY, port=port))
    lines = [f"id: {GATEWAY}", "district: centre", "location: {lat: -6.9175, lon: 107.6191}",
             "flush_interval_s: 1", "sensors:"]
    total = sum(n for _, _, n in MIX)
    k = 0
    for _domain, profile, n in MIX:
        for i in range(round(n * sensors / total)):
            lat, lon = -6.86 - 0.11 * ((k * 37) % 100) / 100, 107.56 + 0.13 * (k % 97) / 97
            lines.append(f"  - {{id: {profile}-{i + 1:03d}, profile: {profile}, "
                         f"location: {{lat: {lat:.5f}, lon: {lon:.5f}}}}}")
            k += 1
    gw = root / "gateways" / f"{GATEWAY}.yaml"
    gw.write_text("\n".join(lines) + "\n")
    check = subprocess.run([sys.executable, "-m", "cityhub", "config", "check", str(root)],
                           capture_output=True, text=True, check=False)
    if check.returncode != 0:
        raise RuntimeError(f"generated pack is invalid:\n{check.stdout}{check.stderr}")
    return gw


# -- the subscriber -----------------------------------------------------------------------


@dataclass
class Collector:
    """A QoS 1 subscriber; paho's thread only stores (receive time, topic, payload), the
    main thread decodes in :meth:`drain`."""

    port: int
    gateway: str
    raw: list[tuple[float, str, bytes]] = field(default_factory=list)
    done: int = 0
    counts: Counter[int] = field(default_factory=Counter)
    first_rx: float | None = None
    arrival: dict[int, float] = field(default_factory=dict)  # seq -> first receive time
    latency: list[tuple[int, float, float]] = field(default_factory=list)  # seq, t, lat
    bad: int = 0

    def start(self) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        from cityhub.topics import telemetry_filter

        subscribed = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2,
                        client_id=f"bench-sub-{self.gateway}-{time.time_ns()}")
        c.on_message = lambda _c, _u, m: self.raw.append((time.time(), m.topic, bytes(m.payload)))
        c.on_subscribe = lambda *_a: subscribed.set()
        c.connect("127.0.0.1", self.port)
        c.subscribe([(f.replace("/#", f"/{self.gateway}/#"), 1)
                     for f in telemetry_filter(CITY)])
        c.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("subscriber: no SUBACK")
        self._client = c

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def drain(self) -> None:
        from cityhub.errors import DecodeError
        from cityhub.senml import decode_pack
        from cityhub.topics import parse_telemetry

        end = len(self.raw)
        for rx, topic, payload in self.raw[self.done:end]:
            if self.first_rx is None:
                self.first_rx = rx
            try:
                t = parse_telemetry(topic)
                readings = decode_pack(payload, domain=t.domain, device=t.device)
            except (DecodeError, ValueError) as e:
                self.bad += 1
                note(f"undecodable message on {topic}: {e}")
                continue
            for r in readings:
                seq = r.seq if r.seq is not None else -1
                self.counts[seq] += 1
                self.arrival.setdefault(seq, rx)
                self.latency.append((seq, r.time_ns / 1e9, rx - r.time_ns / 1e9))
        self.done = end

    def duplicates(self) -> int:
        return sum(n - 1 for n in self.counts.values() if n > 1)


# -- measuring a process ------------------------------------------------------------------

def measure(proc: subprocess.Popen[bytes], warmup_s: float, window_s: float,
            collector: Collector) -> tuple[float, float, float, float]:
    """(CPU % of one core, largest RSS in MB, UNIX start and end of the window) of
    ``proc`` over ``window_s`` after ``warmup_s``; the collector is drained meanwhile."""
    from devservices import cpu_seconds, rss_mb  # not in the baseline's process

    until = time.monotonic() + warmup_s
    while time.monotonic() < until:
        collector.drain()
        time.sleep(0.5)
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
    cpu0, t0, w0, peak = cpu_seconds(proc.pid), time.monotonic(), time.time(), 0.0
    while time.monotonic() < t0 + window_s:
        peak = max(peak, rss_mb(proc.pid))
        collector.drain()
        time.sleep(0.5)
    cpu1, t1, w1 = cpu_seconds(proc.pid), time.monotonic(), time.time()
    return 100 * (cpu1 - cpu0) / (t1 - t0), peak, w0, w1


def sample_intervals(c: Collector, w0: float, w1: float) -> list[float]:
    """Seconds between the agent's successive sampling rounds in the window [w0, w1), from
    the readings' device times (every sensor here has ``interval_s: 1``, so each round
    samples all of them at one time): 1.0 when the schedule keeps its interval whatever
    a round's reads and writes cost."""
    rounds = sorted({t for _, t, _ in c.latency if w0 <= t < w1})
    return [b - a for a, b in itertools.pairwise(rounds)]


def sampled_per_s(c: Collector, w0: float, w1: float) -> float:
    """Readings per second sampled in the window [w0, w1), from their device times:
    the readings of its sampling rounds but the last, over the time from the first round
    to the last (counting whole rounds in the window would be off by up to one round)."""
    rounds = sorted({t for _, t, _ in c.latency if w0 <= t < w1})
    if len(rounds) < 2:
        return math.nan
    n = sum(1 for _, t, _ in c.latency if rounds[0] <= t < rounds[-1])
    return n / (rounds[-1] - rounds[0])


# -- the agent ----------------------------------------------------------------------------


def start_agent(gw_file: Path, port: int, queue: Path, replay_rate: float, log: Path
                ) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "cityhub", "--log-level", "WARNING", "edge", "run",
           "--gateway", str(gw_file), "--broker-host", "127.0.0.1", "--broker-port",
           str(port), "--queue", str(queue), "--flush-interval", "1",
           "--replay-rate", str(replay_rate)]
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def queued_seqs(queue: Path) -> tuple[set[int], int]:
    """Seqs still in the queue, and the last seq it handed out."""
    from edge.queue import DiskQueue

    q = DiskQueue(queue)
    try:
        return {x.reading.seq or 0 for x in q.oldest(10_000_000)}, q.stats().next_seq - 1
    finally:
        q.close()


def accounting(c: Collector, queue: Path) -> tuple[int, int]:
    """(lost, duplicates) of one agent run, once it has stopped: a seq is lost when it was
    neither received nor left in the queue. Lets the last messages arrive, then stops the
    collector."""
    time.sleep(1.0)
    c.drain()
    c.stop()
    left, last = queued_seqs(queue)
    lost = len(set(range(1, last + 1)) - left - set(c.counts))
    return lost, c.duplicates()


def percentile(xs: list[float], p: float) -> float:
    if not xs:
        return math.nan
    s = sorted(xs)
    return s[min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1)]


def agent_steady(gw_file: Path, port: int, work: Path, warmup_s: float, window_s: float
                 ) -> dict[str, Any]:
    c = Collector(port, GATEWAY)
    c.start()
    queue = work / "steady.db"
    proc = start_agent(gw_file, port, queue, 5000, work / "agent-steady.log")
    try:
        cpu, rss, w0, w1 = measure(proc, warmup_s, window_s, c)
    finally:
        stop(proc)
    lost, dups = accounting(c, queue)
    lat = [x for _, _, x in c.latency]
    gaps = sample_intervals(c, w0, w1)
    return {"cpu": cpu, "rss": rss, "readings_per_s": sampled_per_s(c, w0, w1),
            "interval_p50": percentile(gaps, 50), "interval_max": max(gaps, default=math.nan),
            "lost": lost, "duplicates": dups, "undecodable": c.bad,
            "latency_max": max(lat) if lat else math.nan,
            "latency_p99": percentile(lat, 99)}


# -- the baseline -------------------------------------------------------------------------


def baseline_devices(gw_file: Path
                     ) -> list[tuple[str, str, list[tuple[str, str | None, str, str]]]]:
    """(domain, device, [(field, unit, value label, a valid string value)]) for each sensor
    of the gateway: what the baseline publishes, so it needs no pack of its own."""
    from cityhub.config import load_pack
    from cityhub.fields import DOMAINS

    pack = load_pack(gw_file.parent.parent)
    gw = next(g for g in pack.gateways if g.id == GATEWAY)
    fields_of = _sim_fields(pack, gw)
    specs = [(s, [DOMAINS[s.domain][f] for f in fields_of[s.id]]) for s in gw.sensors]
    return [(s.domain.value, s.id, [(f.name, f.unit, f.label, (f.choices or ("x",))[0])
                                    for f in fs]) for s, fs in specs]


def _sim_fields(pack: Any, gw: Any) -> dict[str, list[str]]:
    from edge.drivers.sim import SensorSim, Weather

    w = Weather(pack.city.timezone)
    return {s.id: list(SensorSim(s, pack, w, 0).sample(time.time())) for s in gw.sensors}


def baseline_publisher(spec_file: str, port: int, seconds: float) -> None:
    """The baseline: paho publishing each reading as its own QoS 1 message, every second,
    nothing else. Prints how many it published."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    devices = orjson.loads(Path(spec_file).read_bytes())
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-baseline-{os.getpid()}")
    c.connect("127.0.0.1", port)
    c.loop_start()
    rng = random.Random(0)
    seq, end, tick = 0, time.monotonic() + seconds, time.monotonic()
    last: Any = None
    while time.monotonic() < end:
        now = time.time()
        for domain, device, fields in devices:
            topic = f"city/{CITY}/{domain}/{BASE_GATEWAY}/{device}"
            for name, unit, label, text in fields:
                seq += 1
                value: object = (round(rng.random() * 100, 2) if label == "v"
                                 else rng.random() < 0.5 if label == "vb" else text)
                rec: dict[str, object] = {"bn": f"{device}:", "bt": now, "n": name,
                                          label: value, "seq": seq}
                if unit is not None:
                    rec["u"] = unit
                last = c.publish(topic, orjson.dumps([rec]), qos=1)
        tick += 1.0
        time.sleep(max(0.0, tick - time.monotonic()))
    if last is not None:
        last.wait_for_publish(30)
    c.disconnect()
    c.loop_stop()
    print(seq, flush=True)


def baseline_steady(gw_file: Path, port: int, work: Path, warmup_s: float, window_s: float
                    ) -> dict[str, Any]:
    spec = work / "baseline.json"
    spec.write_bytes(orjson.dumps(baseline_devices(gw_file)))
    c = Collector(port, BASE_GATEWAY)
    c.start()
    proc = subprocess.Popen([sys.executable, __file__, "--baseline-publisher", str(spec),
                             "--port", str(port), "--seconds", str(warmup_s + window_s + 1)],
                            stdout=subprocess.PIPE)
    try:
        cpu, rss, w0, w1 = measure(proc, warmup_s, window_s, c)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    published = int(out.decode().split()[-1])
    deadline = time.monotonic() + 20
    while len(c.counts) < published and time.monotonic() < deadline:
        time.sleep(0.2)
        c.drain()
    c.stop()
    return {"cpu": cpu, "rss": rss, "published": published,
            "readings_per_s": sampled_per_s(c, w0, w1),
            "lost": published - len(c.counts), "duplicates": c.duplicates(),
            "undecodable": c.bad}


# -- replay -------------------------------------------------------------------------------


def prefill(gw_file: Path, queue: Path, n: int) -> float:
    """Put ``n`` readings into a fresh queue as an outage would leave them: the gateway's
    simulated readings, one transaction per 1 s round, device times ending now. Seconds
    of outage this represents."""
    from cityhub.config import load_pack
    from edge.drivers.sim import SensorSim, Weather
    from edge.queue import DiskQueue

    pack = load_pack(gw_file.parent.parent)
    gw = next(g for g in pack.gateways if g.id == GATEWAY)
    w = Weather(pack.city.timezone)
    sims = [(s, SensorSim(s, pack, w, 0)) for s in gw.sensors]
    per_round = sum(len(sim.sample(time.time())) for _, sim in sims)
    rounds = math.ceil(n / per_round)
    start = time.time() - rounds - 5
    q = DiskQueue(queue, max_bytes=256 << 20)
    left = n
    try:
        for k in range(rounds):
            t = start + k
            t_ns = round(t * 1e6) * 1000
            items = [(s.domain, s.id, f, v, t_ns) for s, sim in sims
                     for f, v in sim.sample(t).items()][:left]
            q.put(items)
            left -= len(items)
        assert q.stats().depth == n
    finally:
        q.close()
    return float(rounds)


def replay(gw_file: Path, port: int, work: Path, n: int, rate: float, timeout_s: float
           ) -> dict[str, Any]:
    from devservices import rss_mb

    queue = work / "replay.db"
    t = time.perf_counter()
    outage_s = prefill(gw_file, queue, n)
    note(f"queue pre-filled with {n} readings ({outage_s:.0f} s of outage) in "
         f"{time.perf_counter() - t:.1f} s")
    c = Collector(port, GATEWAY)
    c.start()
    proc = start_agent(gw_file, port, queue, rate, work / "agent-replay.log")
    done_at: float | None = None
    try:
        deadline = time.monotonic() + timeout_s
        missing = n
        while time.monotonic() < deadline:
            time.sleep(0.1)
            c.drain()
            missing = n - sum(1 for s in c.counts if s <= n)
            if missing == 0:
                done_at = max(c.arrival[s] for s in range(1, n + 1))
                break
            if proc.poll() is not None:
                raise RuntimeError(f"agent exited with {proc.returncode} during replay "
                                   f"(see {work / 'agent-replay.log'})")
        if done_at is None:
            note(f"replay did not finish in {timeout_s:.0f} s: {missing} backlog readings "
                 "missing")
        time.sleep(3.0)  # live readings after the backlog, and any late duplicates
        peak_rss = rss_mb(proc.pid, peak=True)
    finally:
        stop(proc)
    lost, dups = accounting(c, queue)
    first = c.first_rx or math.nan
    end = done_at if done_at is not None else time.time()
    # live: sampled once the agent was publishing (its first message) until the backlog
    # was all through
    live = [lat for seq, t_s, lat in c.latency if seq > n and first <= t_s <= end]
    got = sum(1 for s in c.counts if s <= n)
    return {"per_s": got / (end - first) if end > first else math.nan,
            "complete": done_at is not None, "seconds": end - first,
            "latency_max": max(live) if live else math.nan,
            "latency_p99": percentile(live, 99), "live_during": len(live),
            "lost": lost, "duplicates": dups, "undecodable": c.bad, "peak_rss": peak_rss}


# -- main ---------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="short steady windows (5 s warm-up, 10 s measured) instead of 10 s "
                    "and 30 s: under a minute")
    ap.add_argument("--sensors", type=int, default=200, help="default 200")
    ap.add_argument("--backlog", type=int, default=100_000,
                    help="readings queued by the outage; default 100,000")
    ap.add_argument("--replay-rate", type=float, default=50_000,
                    help="the agent's --replay-rate in the replay phase, high enough not to "
                    "be the limit; default 50,000")
    ap.add_argument("--baseline-publisher", metavar="SPEC", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.baseline_publisher:
        baseline_publisher(args.baseline_publisher, args.port, args.seconds)
        return

    from devservices import LocalMosquitto

    if not LocalMosquitto.available():
        sys.exit("needs mosquitto (make test installs it)")
    warmup_s, window_s = (5.0, 10.0) if args.quick else (10.0, 30.0)
    backlog = args.backlog
    with tempfile.TemporaryDirectory(prefix="cityhub-bench-edge-") as d:
        work = Path(d)
        mq = LocalMosquitto(work / "mq")
        mq.start()
        try:
            gw_file = write_pack(work / "pack", mq.port, args.sensors)
            agent = agent_steady(gw_file, mq.port, work, warmup_s, window_s)
            note(f"agent: {agent['cpu']:.1f} % CPU, {agent['rss']:.1f} MB, "
                 f"{agent['readings_per_s']:.0f} readings/s received")
            base = baseline_steady(gw_file, mq.port, work, warmup_s, window_s)
            note(f"baseline: {base['cpu']:.1f} % CPU, {base['rss']:.1f} MB, "
                 f"{base['published']} published")
            rep = replay(gw_file, mq.port, work, backlog, args.replay_rate,
                         120 if args.quick else 300)
            note(f"replay: {rep['per_s']:.0f} readings/s, live latency max "
                 f"{rep['latency_max']:.2f} s")
        finally:
            mq.stop()

    def r(x: float, nd: int = 1) -> float | None:
        return None if math.isnan(x) else round(x, nd)

    result = {
        "benchmark": "edge", "quick": args.quick, "date": time.strftime("%Y-%m-%d"),
        "sensors": args.sensors, "rate_hz": 1,
        "readings_per_s": r(agent["readings_per_s"], 0),
        "baseline_readings_per_s": r(base["readings_per_s"], 0),
        "window_s": window_s,
        "agent_rss_mb": r(agent["rss"]), "agent_cpu_pct": r(agent["cpu"]),
        "baseline_rss_mb": r(base["rss"]), "baseline_cpu_pct": r(base["cpu"]),
        "cpu_ratio": r(agent["cpu"] / base["cpu"], 2),
        "rss_ratio": r(agent["rss"] / base["rss"], 2),
        "steady_latency_max_s": r(agent["latency_max"], 3),
        "steady_latency_p99_s": r(agent["latency_p99"], 3),
        "sample_interval_p50_s": r(agent["interval_p50"], 3),
        "sample_interval_max_s": r(agent["interval_max"], 3),
        "baseline_lost": base["lost"], "baseline_duplicates": base["duplicates"],
        "replay_readings": backlog, "replay_rate_setting": args.replay_rate,
        "replay_complete": rep["complete"], "replay_seconds": r(rep["seconds"], 2),
        "replay_per_s": r(rep["per_s"], 0),
        "live_latency_max_s": r(rep["latency_max"], 3),
        "live_latency_p99_s": r(rep["latency_p99"], 3),
        "live_readings_during_replay": rep["live_during"],
        "replay_agent_peak_rss_mb": r(rep["peak_rss"]),
        "lost": agent["lost"] + rep["lost"],
        "duplicates": agent["duplicates"] + rep["duplicates"],
        "undecodable": agent["undecodable"] + rep["undecodable"] + base["undecodable"],
    }
    result["targets"] = {
        "agent_rss_mb_le_80": agent["rss"] <= TARGETS["agent_rss_mb"],
        "agent_cpu_pct_le_10": agent["cpu"] <= TARGETS["agent_cpu_pct"],
        "replay_per_s_ge_5000": bool(rep["complete"]
                                     and rep["per_s"] >= TARGETS["replay_per_s"]),
        "live_latency_max_le_2s": bool(rep["latency_max"] <= TARGETS["live_latency_max_s"]),
        "sample_interval_max_le_1_2s": bool(agent["interval_max"]
                                            <= TARGETS["sample_interval_max_s"]),
        "nothing_lost": result["lost"] == 0,
        "no_duplicates": result["duplicates"] == 0,
        "all_decodable": result["undecodable"] == 0,
    }
    print(orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    main()
