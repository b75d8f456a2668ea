"""``cityhub demo``: a simulated city end to end in one process.

Registered in the ``cityhub.commands`` entry-point group; needs ``cityhub[demo]``. The
composition itself is :mod:`demo.run`, imported only when the demo runs.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def run(args: argparse.Namespace) -> int:
    """Run the demo (:func:`demo.run.run`)."""
    from demo.run import run as run_demo

    return run_demo(args)


def register(sub: Any) -> None:
    """Add ``cityhub demo`` to the ``cityhub`` command."""
    p = sub.add_parser(
        "demo", help="run a simulated city end to end",
        description="Run a simulated city in one process: every sensor of the city pack "
        "simulated, published by its gateway over MQTT, ingested into SQLite and shown on "
        "the dashboards, with the analytics service deriving congestion, Siaga levels and "
        "faults and publishing events, and the alerts service opening alarms and "
        "notifying the pack's departments (API on --alerts-port). Uses Mosquitto when "
        "installed, else an embedded amqtt broker. A rain storm starts 20 s in, so rivers "
        "rise past Siaga III while you watch (a flood alarm opens). Runs until "
        "--duration passes or SIGTERM or SIGINT (Ctrl-C) stops it, then stops the broker "
        "it started and removes its temporary files.")
    p.add_argument("--city", action="append", metavar="PACK",
                   help="shipped pack name (bandung, bogor) or a pack directory; repeat it "
                   "for one hub serving several cities (--city bandung --city bogor); "
                   "default: bandung")
    p.add_argument("--host", default="127.0.0.1", help="dashboard address; default 127.0.0.1")
    p.add_argument("--port", type=int, default=8050, help="dashboard port; default 8050")
    p.add_argument("--data-dir", default="var/demo", help="where the demo keeps its SQLite "
                   "files; default var/demo")
    p.add_argument("--fresh", action="store_true", help="delete the city's demo data first")
    p.add_argument("--broker", choices=["auto", "mosquitto", "amqtt"], default="auto",
                   help="default auto: Mosquitto if installed, else embedded amqtt")
    p.add_argument("--interval-scale", type=float, default=0.1,
                   help="multiply every sensor's sampling interval; default 0.1 "
                   "(a 60 s sensor samples every 6 s)")
    p.add_argument("--time-scale", type=float, default=10.0,
                   help="how much faster rivers respond than real time; default 10")
    p.add_argument("--no-storm", action="store_true", help="no injected rain storm")
    p.add_argument("--no-faults", action="store_true",
                   help="no injected sensor faults (a lamp burning by day, one dark at "
                   "night, a stuck traffic sensor)")
    p.add_argument("--seed", type=int, default=1, help="simulation seed; default 1")
    p.add_argument("--alerts-port", type=int, default=8070,
                   help="the alerts API's port (0: any free one); default 8070")
    p.add_argument("--webhook", metavar="URL",
                   help="also send every alarm to this URL, signed per the Standard "
                   "Webhooks spec with the secret in CITYHUB_DEMO_WEBHOOK_SECRET (whsec_...)")
    p.add_argument("--refresh", type=float, default=3.0,
                   help="dashboard refresh seconds; default 3")
    p.add_argument("--duration", type=float, default=0,
                   help="stop after this many seconds (0: run until SIGTERM or Ctrl-C)")
    p.set_defaults(handler=run, extra="demo", runs_until_stopped=True)
