"""MQTT -> InfluxDB ingest throughput, the hub against its limits and a naive baseline.

Starts its own Mosquitto and InfluxDB 1.x (Debian packages), then runs, in one run:

- broker limit: Mosquitto's C subscriber (``mosquitto_sub -q 1``) draining the messages;
- store limit: the same points, as the very line protocol the hub writes (encoded before
  the clock starts), posted straight to InfluxDB in batches of 5,000 lines, gzipped and
  plain, over 1, 2, 4 and 8 connections at once; the best of the eight is the limit (the
  hub runs with ``store.gzip: false``, as for a store on the same host, and otherwise
  its defaults);
- naive baseline: paho ``on_message`` sending each point in its own HTTP request (as the
  common tutorials write it);
- the hub's ingester (``cityhub ingest`` as its own process) on two workloads: one point
  per message, and gateway-batched packs of 50 points per message; then the same two with
  ``workers: 2`` (two ingester processes in one shared-subscription group, supervised).

Workloads: 30,000 one-point messages, and 1,000,000 points as 20,000 packs of 50 (each hub
run about 4 s; ``--quick``: 5,000 and 50,000). A million points, not fewer: InfluxDB with
4 writers reaches its sustained rate only after a second or so, and at 300,000 points the
store's limit read 15-25 % lower than it is, which flattered the hub's ratio.

The packs run in rounds (``--rounds``, default 3; 1 with ``--quick``), after one
unmeasured warm-up pass of their points into InfluxDB: each round measures the store's
limit and then the hub (one process, then ``workers: 2``) right after it, so a slow spell
of this shared machine weighs on both; the reported ratio is the median of the rounds'
ratios, and every round's figures are printed too. (Single runs of the same code read
anywhere from 0.53 to 0.87 of the store's limit.)

Messages are published by Mosquitto's C client, which respects flow control (QoS 1,
bounded in-flight window), so the publisher is not the bottleneck. What is stored is
counted with InfluxQL afterwards. Prints one final JSON line: points/s for each, lost,
duplicates, the ingester's peak RSS and the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cityhub.config import load_pack
from devservices import (
    LocalInfluxDB,
    LocalMosquitto,
    child_pids,
    cpu_seconds,
    free_ports,
    rss_mb,
)
from ingest.decoder import Decoder
from ingest.settings import IngestSettings

T0 = 1_767_225_600
ROOT = Path(__file__).resolve().parents[1]


def messages(pack_dir: str, per_msg: int, n_points: int) -> tuple[str, list[bytes]]:
    """(topic, payloads) for n_points points of one gateway, per_msg points a message."""
    pack = load_pack(pack_dir)
    gw = max(pack.gateways, key=lambda g: sum(s.domain == "traffic" for s in g.sensors))
    devices = [s.id for s in gw.sensors if s.domain == "traffic"]
    out = []
    for m in range(n_points // per_msg):
        recs: list[dict[str, object]] = []
        for k in range(per_msg):
            i = m * per_msg + k
            dev = devices[i % len(devices)]
            rec: dict[str, object] = {"bn": f"{dev}:", "bt": T0 + i // len(devices),
                                      "n": "intensity", "u": "1/min", "v": float(i % 1000),
                                      "seq": i}
            recs.append(rec)
        out.append(orjson.dumps(recs))
    return f"city/{pack.city.id}/traffic/{gw.id}", out


class Publisher:
    """Mosquitto's C client (``mosquitto_pub -l``: one message per input line, QoS 1, at
    most ``window`` unacknowledged), so the publisher is not the bottleneck.

    Started, connected and given its input ready-made before the clock starts: what is
    timed is the stream, not a process starting up or its input being built (together
    0.05 to 0.2 s, a tenth of a 1.5 s run)."""

    def __init__(self, port: int, topic: str, payloads: list[bytes], window: int = 1000
                 ) -> None:
        self.data = b"\n".join(payloads) + b"\n"
        # Not a pipe (nobody reads it meanwhile); open for the process's life.
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", "1",
             "-l", "-M", str(window), "-i", f"bench-pub-{time.time_ns()}"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.errors)
        deadline = time.monotonic() + 10
        while not (connected(self.proc.pid, port) and reading_stdin(self.proc.pid)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("mosquitto_pub did not connect, or was never seen "
                                   f"reading its input: {self.stderr()}")
            time.sleep(0.005)

    def run(self) -> float:
        """Publish every message; return, once the broker acknowledged the last, the CPU
        seconds the publisher used."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(self.data)
            self.proc.stdin.close()
        except BrokenPipeError:
            self.kill()
            raise RuntimeError(f"mosquitto_pub stopped early: {self.stderr()}") from None
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        if self.proc.returncode != 0:
            raise RuntimeError(f"mosquitto_pub failed: {self.stderr()}")
        return float(usage.ru_utime + usage.ru_stime)

    def stderr(self) -> str:
        self.errors.seek(0)
        return self.errors.read().decode(errors="replace")[:300]

    def kill(self) -> None:
        """Stop it if it still runs (a failed run must not leave it behind)."""
        if self.proc.returncode is None:
            self.proc.kill()
            self.proc.wait()


def reading_stdin(pid: int) -> bool:
    """Whether process ``pid``'s main thread is blocked reading its standard input
    (``/proc/PID/syscall``: ``read``, number 0 on x86-64, of fd 0).

    ``mosquitto_pub -l`` sleeps 100 ms at a time while it connects, and reads its input
    only once awake: connected at TCP level, it may still be asleep for up to 100 ms, which
    the clock started then would count (the first message reached the ingester 101 ms
    after the clock started, in a run of 1.8 s). Where the file cannot be read, or on
    another architecture, it waits 0.2 s instead, past any such sleep."""
    try:
        fields = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        fields = []
    if os.uname().machine != "x86_64" or len(fields) < 2 or not fields[0].isdigit():
        time.sleep(0.2)
        return True
    return fields[0] == "0" and int(fields[1], 16) == 0


def connected(pid: int, port: int) -> bool:
    """Whether process ``pid`` has an established TCP connection to 127.0.0.1:``port``."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            link = os.readlink(fd)
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[2] == f"0100007F:{port:04X}" and f[3] == "01" and f[9] in inodes:
            return True
    return False


def note(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def count(influx: LocalInfluxDB, db: str) -> int:
    res = influx.query("SELECT count(intensity) FROM traffic", db)
    series = res["results"][0].get("series")  # type: ignore[index]
    return int(series[0]["values"][0][1]) if series else 0


def end_sessions(mq: LocalMosquitto, client_ids: list[str]) -> None:
    """End these stopped clients' persistent sessions (a clean connect with each id).

    A persistent session outlives its client with its subscriptions, and the broker then
    queues a copy of every later message for it: each stopped subscriber of one run would
    double the broker's work in every run after it (measured: Mosquitto's CPU in the third
    round of packs was 5 times the first's, 3.8 s against 0.76 s).
    """
    for cid in client_ids:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, clean_session=True)
        c.connect("127.0.0.1", mq.port)
        deadline = time.monotonic() + 10
        while not c.is_connected():
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not connect as {cid} to end its session")
            c.loop(0.1)
        c.disconnect()


def broker_limit(mq: LocalMosquitto, topic: str, payloads: list[bytes]) -> float:
    sub = subprocess.Popen(["mosquitto_sub", "-p", str(mq.port), "-q", "1", "-t", topic,
                            "-C", str(len(payloads)), "-i", "bench-sub", "-c"],
                           stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    pub = Publisher(mq.port, topic, payloads)
    start = time.perf_counter()
    pub.run()
    sub.wait(600)
    elapsed = time.perf_counter() - start
    end_sessions(mq, ["bench-sub"])
    return len(payloads) / elapsed


STORE_CONFIGS = tuple((encoding, conns) for encoding in ("gzip", "plain")
                      for conns in (1, 2, 4, 8))


def store_limit(influx: LocalInfluxDB, pack_dir: str, topic: str, payloads: list[bytes],
                configs: tuple[tuple[str, int], ...] = STORE_CONFIGS) -> dict[str, float]:
    """InfluxDB taking the very lines the hub writes for these messages (same measurement,
    tags, fields and times), encoded beforehand, in batches of 5,000 lines, gzipped
    (level 1) and plain, over 1, 2, 4 and 8 connections at once (InfluxDB writes on
    several cores, and parses some requests while it syncs its WAL for others): points/s
    by encoding and connections (``configs``). The store's limit is the best of these, so
    it is measured with at least as many writes at once as the ingester makes
    (``store_writes``, 8 by default)."""
    decoder = Decoder(load_pack(pack_dir), max_future_s=1e12)
    lines = [p.line for m in payloads for p in decoder.decode(topic, m)]
    plain = [("\n".join(lines[i:i + 5000]) + "\n").encode() for i in range(0, len(lines), 5000)]
    rates = {}
    gzipped: list[bytes] = []
    for encoding, conns in configs:
        if encoding == "gzip" and not gzipped:
            gzipped = [gzip.compress(b, 1) for b in plain]
        bodies = gzipped if encoding == "gzip" else plain
        headers = {"Content-Encoding": "gzip"} if encoding == "gzip" else {}
        db = f"store_limit_{encoding}_{conns}"
        influx.query(f'CREATE DATABASE "{db}"')

        def post(share: list[bytes], db: str = db, headers: dict[str, str] = headers
                 ) -> None:
            write = InfluxWriter(influx.port, db)  # one kept-alive connection per thread
            try:
                for b in share:
                    write(b, headers)
            finally:
                write.close()
        threads = [threading.Thread(target=post, args=(bodies[k::conns],))
                   for k in range(conns)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rates[f"{encoding}_{conns}"] = len(lines) / (time.perf_counter() - start)
        influx.query(f'DROP DATABASE "{db}"')
    return rates


class InfluxWriter:
    """POST line protocol to InfluxDB's ``/write`` over one kept-alive connection
    (``http.client``: the standard library's client, lighter than any of the hub's, so
    the baselines measure InfluxDB, not their HTTP client)."""

    def __init__(self, port: int, db: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.path = f"/write?db={db}&precision=ns"

    def __call__(self, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.conn.request("POST", self.path, body=body, headers=headers or {})
        resp = self.conn.getresponse()
        text = resp.read()
        if resp.status != 204:
            raise RuntimeError(f"InfluxDB /write: HTTP {resp.status}: {text[:300]!r}")

    def close(self) -> None:
        self.conn.close()


def naive(mq: LocalMosquitto, influx: LocalInfluxDB, topic: str, payloads: list[bytes]
          ) -> tuple[float, int]:
    db = "naive"
    influx.query(f'CREATE DATABASE "{db}"')
    n_points = sum(len(orjson.loads(p)) for p in payloads)
    write = InfluxWriter(influx.port, db)
    stored = [0]
    done = threading.Event()

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        for r in orjson.loads(msg.payload):
            write(f"traffic,device={r['bn'][:-1]} intensity={r['v']} "
                  f"{int(r['bt'] * 1e9)}".encode())
            stored[0] += 1
        if stored[0] >= n_points:
            done.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-naive")
    c.on_message = on_message
    c.connect("127.0.0.1", mq.port)
    c.subscribe(topic, qos=1)
    c.loop_start()
    time.sleep(0.5)
    pub = Publisher(mq.port, topic, payloads)
    start = time.perf_counter()
    pub.run()
    done.wait(900)
    elapsed = time.perf_counter() - start
    c.disconnect()
    c.loop_stop()
    write.close()
    stored = count(influx, db)
    influx.query(f'DROP DATABASE "{db}"')
    return n_points / elapsed, stored


#: the ingester's settings in every run besides its defaults (``--set`` adds to or
#: overrides them): the default flush interval (1 s) would only add up to a second to the
#: one-point runs' last batch
TUNING = {"flush_interval_s": "0.2"}
SETTINGS: dict[str, str] = {}
#: what the bench itself sets for each run (its broker, store, files, ports and workers)
BENCH_OWNED = frozenset({"pack", "packs", "client_id", "shared_group", "workers", "broker",
                         "store", "mqtt_fast_path", "deadletter_path", "spool_path",
                         "metrics_port", "metrics_host"})
#: per run: points the ingester decoded again after its compiled path (0 unless something
#: forced the slow path, as cutting a batch at the store's batch_lines once did)
REBUILT: dict[str, int] = {}


def hub(mq: LocalMosquitto, influx: LocalInfluxDB, pack_dir: str, topic: str,
        payloads: list[bytes], db: str, work: Path, protocol: str,
        profile: Path | None = None, workers: int = 1, mqtt_fast: bool = True
        ) -> tuple[float, int, float]:
    """The hub's ingester (``cityhub ingest``; with ``workers`` > 1, that many worker
    processes in one shared group under its supervisor): points/s, points stored, peak RSS
    (MB) of the largest ingester process."""
    influx.query(f'CREATE DATABASE "{db}"')
    n_points = sum(len(orjson.loads(p)) for p in payloads)
    spy = shutil.which("py-spy")
    port = free_ports(workers)
    ports = [port + k for k in range(workers)]
    cfg = work / f"{db}.yaml"
    cfg.write_text(
        f"pack: {pack_dir}\nclient_id: bench-{db}\nshared_group: bench-{db}\n"
        f"workers: {workers}\n"
        f"broker: {{host: 127.0.0.1, port: {mq.port}, protocol: '{protocol}'}}\n"
        f"store: {{kind: influxdb-v1, url: '{influx.url}', database: {db}, gzip: false}}\n"
        + "".join(f"{k}: {v}\n" for k, v in (TUNING | SETTINGS).items()) +
        f"mqtt_fast_path: {str(mqtt_fast).lower()}\n"
        f"deadletter_path: {work / f'{db}-dl.db'}\n"
        f"spool_path: {work / f'{db}-sp.db'}\nmetrics_port: {port}\n")
    prof = ["-m", "cProfile", "-o", str(profile / f"{db}.prof")] \
        if profile and not spy and workers == 1 else []
    top = subprocess.Popen([sys.executable, *prof, "-m", "cityhub", "--log-level", "WARNING",
                            "ingest", "--config", str(cfg)],
                           stdout=sys.stderr)  # the bench's stdout is its JSON line
    # One persistent connection per ingester, with the standard library's plain HTTP
    # client: the harness's polling must take as little CPU as it can from the machine
    # the hub shares (an HTTP client library costs far more a poll: httpx's ``get`` built
    # a TLS context per call, about 50 ms of CPU).
    conns = {port: http.client.HTTPConnection("127.0.0.1", port, timeout=5)
             for port in ports}

    def health(port: int) -> tuple[int, dict[str, int]]:
        c = conns[port]
        c.request("GET", "/healthz")
        r = c.getresponse()
        return r.status, orjson.loads(r.read())

    def stored() -> int:
        return sum(health(port)[1]["stored_points"] for port in ports)
    pub: Publisher | None = None
    try:
        ready_by = time.monotonic() + 120
        for port in ports:  # wait for every subscription
            while True:
                try:
                    if health(port)[0] == 200:
                        break
                except OSError:
                    conns[port].close()
                if top.poll() is not None:
                    raise RuntimeError(f"{db}: the ingester exited ({top.returncode}) before "
                                       "it was ready; its error is above")
                if time.monotonic() > ready_by:
                    raise RuntimeError(f"{db}: the ingester was not ready in 120 s")
                time.sleep(0.1)
        # The ingester processes: the one process, or the supervisor's workers.
        procs = [top.pid] if workers == 1 else sorted(child_pids(top.pid))
        pids = {f"ingester{k or ''}": pid for k, pid in enumerate(procs)}
        pids |= {"mosquitto": mq.proc.pid if mq.proc else 0,
                 "influxd": influx.proc.pid if influx.proc else 0}
        pub = Publisher(mq.port, topic, payloads)
        start = time.perf_counter()
        cpu0 = {n: cpu_seconds(pid) for n, pid in pids.items()}
        own0 = time.process_time()
        sampler = subprocess.Popen(
            [spy, "record", "--pid", str(procs[0]), "--rate", "250", "--format", "raw",
             "--output", str(profile / f"{db}.txt")], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL) if profile and spy else None
        pub_cpu = pub.run()
        # Polled as seldom as the remaining work allows (each poll is a request the
        # ingester serves on its event loop, on the cores it shares with InfluxDB), and
        # more often near the end (a quarter of the time the rest should take at the rate
        # so far, at least 5 ms).
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and (got := stored()) < n_points:
            rate = got / (time.perf_counter() - start)
            left_s = (n_points - got) / rate if rate > 0 else 0.05
            time.sleep(min(0.1, max(0.005, left_s / 4)))
        elapsed = time.perf_counter() - start
        if sampler is not None:
            sampler.send_signal(signal.SIGINT)
            sampler.wait(30)
        used = {n: cpu_seconds(pid) - cpu0[n] for n, pid in pids.items()}
        used |= {"publisher": pub_cpu, "bench itself": time.process_time() - own0}
        cores = len(os.sched_getaffinity(0))
        note(f"{db}: CPU seconds over the run: " + ", ".join(
            f"{n} {v:.2f}" for n, v in used.items())
            + f"; left idle {cores * elapsed - sum(used.values()):.2f} of {cores} cores "
            f"(wall {elapsed:.2f})")
        peak = max(rss_mb(pid, peak=True) for pid in procs)
        REBUILT[db] = sum(int(health(port)[1]["rebuilt_points"]) for port in ports)
    finally:
        if pub is not None:
            pub.kill()
        top.send_signal(signal.SIGTERM)  # a clean stop: cProfile writes its file
        top.wait(30)
        for c in conns.values():
            c.close()
        try:
            end_sessions(mq, [f"bench-{db}"]
                         + [f"bench-{db}-w{k}" for k in range(1, workers)])
        except (OSError, RuntimeError) as e:  # not to hide the error of the run itself
            note(f"{db}: could not end the ingester's sessions: {e}")
    stored = count(influx, db)
    # Dropped, so that InfluxDB does not compact these points while the next
    # measurement (a store limit) runs.
    influx.query(f'DROP DATABASE "{db}"')
    return n_points / elapsed, stored, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small workloads (about a minute)")
    ap.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--rounds", type=int, metavar="N",
                    help="rounds of store limit + hub on packs, side by side; the ratio is "
                    "the median of the rounds' ratios (default 3, --quick 1)")
    ap.add_argument("--protocol", choices=["3.1.1", "5"], default="3.1.1",
                    help="the ingester's MQTT version (default 3.1.1, the hub's default)")
    ap.add_argument("--mqtt-path", choices=["fast", "public"], default="fast",
                    help="the ingester's MQTT client: the fast path (the default) or "
                    "paho-mqtt's public API only (mqtt_fast_path: false)")
    ap.add_argument("--profile", type=Path, metavar="DIR",
                    help="profile the ingester while it works: py-spy's samples in "
                    "DIR/hub_*.txt if py-spy is on PATH, else cProfile's DIR/hub_*.prof")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="an ingester setting for every run (ingest.yaml's KEY, e.g. "
                    "store_writes=8), to try a tuning; repeatable")
    args = ap.parse_args()
    for kv in args.set:
        key, eq, value = kv.partition("=")
        key = key.strip()
        if not eq or not key:
            ap.error(f"--set {kv!r}: give KEY=VALUE")
        if key in BENCH_OWNED or key not in IngestSettings.model_fields:
            ap.error(f"--set {key}: not an ingester setting the bench lets you set (one of "
                     f"{', '.join(sorted(set(IngestSettings.model_fields) - BENCH_OWNED))})")
        SETTINGS[key] = value.strip()
    fast = args.mqtt_path == "fast"
    if args.rounds is not None and args.rounds < 1:
        ap.error(f"--rounds {args.rounds}: at least 1")
    if not (shutil.which("mosquitto_sub") and shutil.which("influxd")):
        sys.exit("needs mosquitto-clients and influxdb (make test installs them)")
    single_n = 5_000 if args.quick else 30_000
    batched_n = 50_000 if args.quick else 1_000_000
    naive_n = 1_000 if args.quick else 3_000
    if args.tiny:
        single_n, batched_n, naive_n = 200, 1_000, 100
    rounds = args.rounds or (1 if args.quick or args.tiny else 3)
    pack_dir = str(ROOT / "firmware_configs" / "bandung")
    topic, singles = messages(pack_dir, 1, single_n)
    _, packs = messages(pack_dir, 50, batched_n)
    _, naive_msgs = messages(pack_dir, 1, naive_n)
    stores: list[dict[str, float]] = []  # per round: the store limit by configuration
    batch: list[tuple[float, int, float]] = []  # per round: points/s, stored, RSS
    batch2: list[tuple[float, int, float]] = []  # the same with workers: 2
    with tempfile.TemporaryDirectory(prefix="cityhub-bench-") as d:
        work = Path(d)
        mq, influx = LocalMosquitto(work / "mq"), LocalInfluxDB(work / "influx")
        mq.start()
        influx.start()
        try:
            broker = broker_limit(mq, topic, singles)
            note(f"broker limit {broker:.0f} msgs/s")
            naive_rate, naive_stored = naive(mq, influx, topic, naive_msgs)
            note(f"naive {naive_rate:.0f} points/s")
            one_rate, one_stored, rss1 = hub(mq, influx, pack_dir, topic, singles, "hub_one",
                                             work, args.protocol, args.profile, mqtt_fast=fast)
            note(f"hub, one point per message: {one_rate:.0f} points/s")
            # The same ingester with ``workers: 2``: two processes in one shared group.
            one2, one2_stored, rss3 = hub(mq, influx, pack_dir, topic, singles, "hub2_one",
                                          work, args.protocol, workers=2, mqtt_fast=fast)
            note(f"workers: 2, one point per message: {one2:.0f} points/s")
            # Packs: the store's limit and the hub side by side, round after round, so a
            # slow spell of this shared machine weighs on both (the median counts). First
            # one unmeasured pass of the packs' points: InfluxDB grows its heap on the
            # first million points it takes, which had slowed whichever ran first.
            warm = store_limit(influx, pack_dir, topic, packs, configs=(("plain", 4),))
            note(f"warm-up (not counted): {warm['plain_4']:.0f} points/s")
            for r in range(rounds):
                stores.append(store_limit(influx, pack_dir, topic, packs))
                note(f"round {r + 1}: store limit " + ", ".join(
                    f"{v:.0f} points/s ({k.replace('_', ', ')} connection(s))"
                    for k, v in stores[-1].items()))
                batch.append(hub(mq, influx, pack_dir, topic, packs, f"hub_batched{r}",
                                 work, args.protocol, args.profile if r == 0 else None,
                                 mqtt_fast=fast))
                note(f"round {r + 1}: hub, 50 points per message: {batch[-1][0]:.0f} "
                     f"points/s ({batch[-1][0] / max(stores[-1].values()):.3f})")
                batch2.append(hub(mq, influx, pack_dir, topic, packs, f"hub2_batched{r}",
                                  work, args.protocol, workers=2, mqtt_fast=fast))
                note(f"round {r + 1}: workers: 2, 50 points per message: "
                     f"{batch2[-1][0]:.0f} points/s "
                     f"({batch2[-1][0] / max(stores[-1].values()):.3f})")
        finally:
            mq.stop()
            influx.stop()
    runs = [(single_n, one_stored), (single_n, one2_stored),
            *[(batched_n, stored) for _, stored, _ in batch + batch2]]
    lost = sum(max(0, want - got) for want, got in runs)
    dups = sum(max(0, got - want) for want, got in runs)
    limits = [max(s.values()) for s in stores]
    ratios = [b[0] / lim for b, lim in zip(batch, limits, strict=True)]
    ratios2 = [b[0] / lim for b, lim in zip(batch2, limits, strict=True)]
    result = {
        "benchmark": "ingest", "quick": args.quick, "ingester_mqtt": args.protocol,
        "ingester_mqtt_path": args.mqtt_path,
        "one_point_messages": single_n, "batched_points": batched_n, "rounds": rounds,
        "broker_limit_msgs_per_s": round(broker),
        "store_limit_points_per_s": round(statistics.median(limits)),
        "store_limit_by_round": [round(v) for v in limits],
        "store_limit_by_encoding_and_connections": {
            k: round(statistics.median([s[k] for s in stores])) for k in stores[0]},
        "naive_points_per_s": round(naive_rate), "naive_lost": naive_n - naive_stored,
        "hub_one_point_per_msg_points_per_s": round(one_rate),
        "hub_batched_points_per_s": round(statistics.median([b[0] for b in batch])),
        "hub_batched_by_round": [round(b[0]) for b in batch],
        "lost": lost, "duplicates": dups,
        "rebuilt_points": sum(REBUILT.values()),
        "hub_rss_mb": round(max([rss1, rss3] + [b[2] for b in batch + batch2]), 1),
        "ratio_batched_vs_store_limit": round(statistics.median(ratios), 3),
        "ratio_batched_by_round": [round(x, 3) for x in ratios],
        "ratio_one_point_vs_broker_limit": round(one_rate / broker, 3),
        "ratio_one_point_vs_naive": round(one_rate / naive_rate, 2),
        "workers_2": {
            "one_point_per_msg_points_per_s": round(one2),
            "batched_points_per_s": round(statistics.median([b[0] for b in batch2])),
            "ratio_batched_vs_store_limit": round(statistics.median(ratios2), 3),
            "ratio_batched_by_round": [round(x, 3) for x in ratios2],
            "ratio_one_point_vs_broker_limit": round(one2 / broker, 3),
            "ratio_one_point_vs_naive": round(one2 / naive_rate, 2)},
        "targets": {"batched_vs_store": 0.6, "one_point_vs_broker": 0.3, "vs_naive": 20,
                    "rss_mb": 200},
    }
    print(orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    main()
