"""The edge agent's commands: ``cityhub edge run`` (one gateway's publisher) and
``cityhub edge status`` (its queue and last status, read from its files).

Registered in the ``cityhub.commands`` entry-point group; needs ``cityhub[edge]`` to run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cityhub.config import load_gateway
from cityhub.errors import ConfigError, ConfigProblem
from cityhub.mqtt import BrokerSettings, TlsSettings
from cityhub.secrets import secret
from cityhub.signals import on_stop_signals

if TYPE_CHECKING:
    from edge.publisher import GatewayPublisher

__all__ = ["register"]

def run(args: argparse.Namespace) -> int:
    """``cityhub edge run``: publish one gateway's readings until SIGTERM or SIGINT."""
    from edge.drivers import DriverError, make_driver
    from edge.drivers.sim import Weather
    from edge.publisher import GatewayPublisher
    from edge.queue import DiskQueue

    gw_file = Path(args.gateway)
    pack, gateway = load_gateway(gw_file)
    gid = gateway.id
    creds = gateway.credentials
    password = secret(creds.password_env, creds.password_file,
                      what=f"MQTT password of {gid}") if creds else None
    tls = pack.broker.tls  # its relative paths were resolved against the pack
    if args.broker_ca:
        tls = tls.model_copy(update={"ca_file": args.broker_ca}) if tls \
            else TlsSettings(ca_file=args.broker_ca)
    broker = BrokerSettings(host=args.broker_host or pack.broker.host,
                            port=args.broker_port or pack.broker.port,
                            username=creds.username if creds else None,
                            keepalive_s=pack.broker.keepalive_s, tls=tls,
                            protocol=pack.broker.protocol)
    weather = Weather(pack.city.timezone, seed=args.seed)
    sensors: list[tuple[Any, Any]] = []
    problems: list[ConfigProblem] = []
    for i, sensor in enumerate(gateway.sensors):
        try:
            sensors.append((sensor, make_driver(sensor, pack, weather, args.seed)))
        except DriverError as e:
            problems.append(ConfigProblem(str(gw_file), f"sensors[{i}]", str(e)))
    if problems:
        raise ConfigError(problems)
    queue = DiskQueue(args.queue or f"var/edge-{gid}.db",
                      max_bytes=int(args.queue_max_mb * 1024 * 1024))
    try:
        pub = GatewayPublisher(pack, gateway, sensors, broker, queue, password=password,
                               interval_scale=args.interval_scale,
                               flush_interval_s=args.flush_interval,
                               replay_per_s=args.replay_rate,
                               shutdown_timeout_s=args.stop_timeout)
        s = queue.stats()
        print(f"cityhub edge: gateway {gid} of {pack.city.name}, {len(gateway.sensors)} "
              f"sensors, broker {broker.host}:{broker.port}"
              f"{' (TLS)' if broker.uses_tls else ''}, queue {queue.path} ({s.depth} "
              f"waiting, next seq {s.next_seq})", flush=True)
        asyncio.run(_serve(args, pub))
        print(f"cityhub edge: stopped, {queue.stats().depth} readings queued for the next "
              "run", flush=True)
    finally:
        queue.close()
    return 0


async def _serve(args: argparse.Namespace, pub: GatewayPublisher) -> None:
    """Run the publisher (and the metrics endpoint) until SIGTERM or SIGINT."""
    try:
        if args.metrics_port is None:
            await _until_signalled(pub)
            return
        from prometheus_client import CollectorRegistry

        from cityhub.metrics import serve_metrics
        from edge.metrics import EdgeCollector

        registry = CollectorRegistry()
        registry.register(EdgeCollector(pub))

        def health() -> tuple[bool, dict[str, object]]:
            st = pub.status("online")
            return not st["faulty_sensors"], {k: v for k, v in st.items() if k != "sensors"}

        async with serve_metrics(registry, health, host=args.metrics_host,
                                 port=args.metrics_port) as port:
            print(f"cityhub edge: metrics at http://{args.metrics_host}:{port}/metrics",
                  flush=True)
            await _until_signalled(pub)
    finally:
        for _, driver in pub.sensors:
            with contextlib.suppress(Exception):
                await driver.aclose()


async def _until_signalled(pub: GatewayPublisher) -> None:
    """Run the publisher; the first SIGTERM or SIGINT stops it gracefully
    (:meth:`GatewayPublisher.request_stop`), a second one, or a stop that overruns its
    deadline by 5 s, cancels it (every reading is still on disk)."""
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(pub.run())

    def on_signal(sig: signal.Signals) -> None:
        if pub.stopping:
            print(f"cityhub edge: {sig.name} again: stopping now", flush=True)
            task.cancel()
            return
        print(f"cityhub edge: {sig.name}: stopping (publishing the queue for up to "
              f"{pub.shutdown_timeout_s:g} s)", flush=True)
        pub.request_stop()
        loop.call_later(pub.shutdown_timeout_s + 5, task.cancel)

    try:
        with on_stop_signals(on_signal):
            await asyncio.wait({task})
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
    if task.cancelled():
        print("cityhub edge: stop cut short; unpublished readings stay queued", flush=True)
    else:
        task.result()


def status(args: argparse.Namespace) -> int:
    """Print the queue's state (from its file) and the agent's last status file."""
    from edge.queue import DiskQueue
    from edge.status import read_status

    path = Path(args.queue)
    if not path.exists():
        raise ConfigError([ConfigProblem(str(path), "", "no such queue file (the agent "
                                         "creates it on its first run; see --queue)")])
    q = DiskQueue(path)
    try:
        s = q.stats()
    finally:
        q.close()
    age = "-" if s.oldest_age_s is None else f"{s.oldest_age_s:.0f} s"
    print(f"queue {path}: {s.depth} readings waiting ({s.bytes} bytes), oldest {age}, "
          f"{s.dropped} dropped, next seq {s.next_seq}")
    st = read_status(path)
    if st is None:
        print("agent status: none written yet")
        return 0
    ago = time.time() - float(st.get("time") or 0)
    last = st.get("last_puback")
    last_s = "never" if last is None else f"{time.time() - float(last):.0f} s ago"
    print(f"agent {st['gateway']} {st['version']}: {st['state']} ({ago:.0f} s ago), uptime "
          f"{st['uptime_s']:.0f} s, published {st['published']}, last PUBACK {last_s}, "
          f"invalid fields {st['invalid']}")
    if st.get("broker_error"):
        print(f"  broker: {st['broker_error']}")
    for sid, h in sorted(st.get("sensors", {}).items()):
        state = "ok" if h["ok"] else f"FAULTY ({h['failures']} failures): {h['error']}"
        print(f"  {sid}: {state}")
    return 1 if st.get("faulty_sensors") else 0


def doctor(args: argparse.Namespace) -> int:
    """``cityhub edge doctor``: every check's finding; exit 1 if one failed."""
    from edge.doctor import diagnose

    findings = asyncio.run(diagnose(Path(args.gateway), broker_host=args.broker_host,
                                    broker_port=args.broker_port, broker_ca=args.broker_ca,
                                    queue=args.queue, queue_max_mb=args.queue_max_mb))
    for f in findings:
        print(f.line())
    failed = [f for f in findings if f.level == "FAIL"]
    print(f"cityhub edge doctor: {len(failed)} problem(s)" if failed
          else "cityhub edge doctor: ready")
    return 1 if failed else 0


def register(sub: Any) -> None:
    """Add ``cityhub edge`` to the ``cityhub`` command."""
    p = sub.add_parser("edge", help="edge agent (runs on a gateway)",
                       description="Edge agent commands.")
    esub = p.add_subparsers(dest="edge_command", metavar="SUBCOMMAND", required=True)
    r = esub.add_parser(
        "run", help="run one gateway",
        description="Sample the gateway's sensors and publish SenML packs over MQTT "
        "(QoS 1, retained birth and last will), store-and-forward: every reading is queued "
        "on disk first and leaves the queue only after its PUBACK; after an outage the "
        "backlog replays oldest first at --replay-rate while live readings go first. "
        "The gateway file is one of a city pack's "
        "gateways/*.yaml; the pack around it is loaded and validated. The MQTT password "
        "comes from the environment variable or file its credentials name. "
        "Drivers: sim (simulated sensors), command (a program's JSON or SenML output), "
        "modbus (Modbus TCP, RTU on a serial port, or RTU over TCP). "
        "A driver that fails or times out marks its sensor faulty (in the status message) "
        "and never stops the others. TLS to the broker follows the pack's broker.tls. "
        "SIGTERM or SIGINT stops it gracefully: sampling stops, the queue is published "
        "for up to --stop-timeout seconds, the retained status says offline, exit 0.")
    r.add_argument("--gateway", required=True, help="path to the gateway's YAML in a city pack")
    r.add_argument("--broker-host", help="override the pack's broker host")
    r.add_argument("--broker-port", type=int, help="override the pack's broker port")
    r.add_argument("--broker-ca", metavar="FILE", help="CA certificate (PEM) that verifies "
                   "the broker: override the pack's broker.tls.ca_file; turns TLS on")
    r.add_argument("--interval-scale", type=float, default=1.0,
                   help="multiply every sampling interval (testing); default 1")
    r.add_argument("--seed", type=int, default=0, help="simulation seed; default 0")
    r.add_argument("--queue", help="on-disk queue file; default var/edge-GATEWAY.db")
    r.add_argument("--queue-max-mb", type=float, default=64,
                   help="queue bound; when full the oldest readings are dropped (counted); "
                   "default 64")
    r.add_argument("--flush-interval", type=float, help="seconds between publishes; "
                   "default: the gateway's flush_interval_s")
    r.add_argument("--replay-rate", type=float, default=5000,
                   help="backlog readings per second after an outage; default 5000")
    r.add_argument("--metrics-port", type=int, help="serve /metrics and /healthz on this "
                   "port (0: any free port); default off")
    r.add_argument("--metrics-host", default="127.0.0.1", help="default 127.0.0.1")
    r.add_argument("--stop-timeout", type=float, default=5.0, metavar="S",
                   help="on SIGTERM/SIGINT, publish what is queued for at most S seconds "
                   "before the offline status and exit; default 5")
    r.set_defaults(handler=run, extra="edge", runs_until_stopped=True)
    st = esub.add_parser(
        "status", help="queue depth, oldest reading, last PUBACK, driver health",
        description="Show a gateway's queue (depth, bytes, oldest reading's age, dropped "
        "count, next seq) and the status its running agent last wrote (state, uptime, "
        "last PUBACK, each sensor's driver health). Exit status 1 if a sensor is faulty.")
    st.add_argument("--queue", required=True, help="the agent's queue file (its --queue)")
    st.set_defaults(handler=status, extra="edge")
    d = esub.add_parser(
        "doctor", help="check a gateway end to end and say what to fix",
        description="Check what `cityhub edge run --gateway FILE` needs, and say what to fix: "
        "the gateway file and its pack validate; its MQTT password is there; each sensor's "
        "driver answers one read; the broker takes a login with the gateway's credentials "
        "(and TLS); the queue's directory is writable with room for its bound; the clock "
        "is synchronised. Publishes nothing. Exit status 1 if a check failed.")
    d.add_argument("--gateway", required=True, help="path to the gateway's YAML in a city pack")
    d.add_argument("--broker-host", help="override the pack's broker host")
    d.add_argument("--broker-port", type=int, help="override the pack's broker port")
    d.add_argument("--broker-ca", metavar="FILE", help="CA certificate (PEM) of the broker")
    d.add_argument("--queue", help="the agent's queue file; default var/edge-GATEWAY.db")
    d.add_argument("--queue-max-mb", type=float, default=64, help="the agent's queue bound; "
                   "default 64")
    d.set_defaults(handler=doctor, extra="edge")
