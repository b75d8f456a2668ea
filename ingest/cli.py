"""The ingester's commands: ``cityhub ingest`` (MQTT -> store, one process or a supervisor
of ``workers``), ``cityhub ingest deadletters`` (what was refused) and ``cityhub ingest
retire`` (leave the shared group for good).

Registered in the ``cityhub.commands`` entry-point group; needs ``cityhub[ingest]`` to run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from cityhub.config import load_settings
from cityhub.config.packs import load_packs
from cityhub.proxies import proxy_for
from cityhub.secrets import secret
from cityhub.signals import run_until_stopped

__all__ = ["register"]


async def _serve(settings: Any, retire_idle_s: float | None = None) -> None:
    from ingest.deadletters import DeadLetters
    from ingest.service import Ingester
    from ingest.spool import Spool
    from stores import open_store

    packs = load_packs(settings.pack_names)
    password, store_password, token = _secrets(settings)
    store = await open_store(settings.store, password=store_password, token=token,
                             proxy=proxy_for(settings.store.url))
    dl = DeadLetters(settings.deadletter_path)
    spool = Spool(settings.spool_path, settings.spool_max_bytes)
    try:
        ingester = Ingester(settings, packs, store, dl, spool, password=password)
        if retire_idle_s is None:
            await ingester.run()
        else:
            await ingester.retire(idle_s=retire_idle_s)
            print(f"cityhub ingest retire: {settings.client_id} left group "
                  f"{settings.shared_group!r}; {ingester.counters.acked} messages stored or "
                  f"dead-lettered; spool empty; session ended", flush=True)
    finally:
        await store.aclose()
        dl.close()
        spool.close()


async def _retired(settings: Any, idle_s: float) -> bool:
    await _serve(settings, retire_idle_s=idle_s)
    return True


def _secrets(settings: Any) -> tuple[str | None, str | None, str | None]:
    """The MQTT password, the InfluxDB password and the InfluxDB token the settings name
    (environment variables); a :class:`ConfigError` names one that is not set."""
    return (secret(settings.broker.password_env, what="MQTT password"),
            secret(settings.store.password_env, what="InfluxDB password"),
            secret(settings.store.token_env, what="InfluxDB token"))


def run(args: argparse.Namespace) -> int:
    from ingest.settings import IngestSettings

    if not args.config:
        print("cityhub ingest: --config is required", file=sys.stderr)
        return 2
    settings = load_settings(args.config, IngestSettings)
    if args.ingest_command == "deadletters":
        return _deadletters(settings, args)
    worker = getattr(args, "worker", None)
    if worker is not None and worker < 0:
        print(f"cityhub ingest: --worker {worker}: workers are numbered from 0",
              file=sys.stderr)
        return 2
    if args.ingest_command == "retire":
        k = worker or 0
        if settings.workers > 1 and k < settings.workers:
            print(f"cityhub ingest retire: worker {k} is one of the {settings.workers} that "
                  f"{args.config} runs; to scale in, stop 'cityhub ingest', lower 'workers', "
                  f"start it again, then retire each worker past the new count "
                  f"(--worker K)", file=sys.stderr)
            return 2
        done = asyncio.run(run_until_stopped(
            _retired(settings.for_worker(k), args.idle), name="cityhub ingest retire"))
        if done is None:
            print("cityhub ingest retire: stopped before it finished; the session is not "
                  "ended: run it again", file=sys.stderr)
            return 1
        return 0
    if worker is not None and worker >= settings.workers:
        print(f"cityhub ingest: --worker {worker}: {args.config} runs workers 0 to "
              f"{settings.workers - 1}", file=sys.stderr)
        return 2
    if worker is None and settings.workers > 1:
        return _supervise(args, settings)
    if worker is not None:
        from ingest.supervisor import follow_supervisor

        follow_supervisor()
    # SIGTERM (systemd, Docker, the supervisor) or SIGINT: the messages in flight are not
    # acknowledged, so the broker keeps them for the next run; the spool stays on disk.
    name = "cityhub ingest" + (f" worker {worker}" if worker is not None else "")
    asyncio.run(run_until_stopped(_serve(settings.for_worker(worker or 0)), name=name))
    print(f"{name}: stopped", flush=True)
    return 0


def _supervise(args: argparse.Namespace, settings: Any) -> int:
    from ingest.supervisor import Supervisor, worker_command

    # What would fail every worker the same way is a clear error here, once.
    load_packs(settings.pack_names)
    _secrets(settings)
    command = worker_command(args.config, args.log_level, args.log_format)
    return asyncio.run(Supervisor(command, settings.workers).run())


def _deadletters(settings: Any, args: argparse.Namespace) -> int:
    from ingest.deadletters import DeadLetters

    dl = DeadLetters(settings.deadletter_path)
    try:
        counts = dl.counts()
        print(f"{sum(counts.values())} dead letters in {settings.deadletter_path}"
              + (": " + ", ".join(f"{r} {n}" for r, n in sorted(counts.items())) if counts
                 else ""))
        for d in dl.list(args.limit, args.reason):
            when = datetime.fromtimestamp(d.time_ns / 1e9, UTC).isoformat(timespec="seconds")
            print(f"#{d.id} {when} {d.reason} {d.topic}\n    {d.detail}\n"
                  f"    payload ({len(d.payload)} B): {d.payload[:160]!r}")
    finally:
        dl.close()
    return 0


def register(sub: Any) -> None:
    """Add ``cityhub ingest`` to the ``cityhub`` command."""
    p = sub.add_parser(
        "ingest", help="MQTT -> store",
        description="Consume a city's telemetry (QoS 1, persistent session, shared "
        "subscription) and write it to the store; a message is acknowledged only after it "
        "is stored or dead-lettered. See docs/ingest.md.")
    p.add_argument("--config", help="ingest settings YAML (required; see docs/ingest.md)")
    p.add_argument("--worker", type=int, metavar="K",
                   help="run only worker K of the file's 'workers' (what 'workers: N' "
                   "starts N of; also for running each worker under systemd instead)")
    isub = p.add_subparsers(dest="ingest_command", metavar="SUBCOMMAND")
    d = isub.add_parser("deadletters", help="list refused messages, newest first",
                        description="List dead letters: topic, reason, detail, payload.")
    d.add_argument("--config", required=True, help="ingest settings YAML")
    d.add_argument("--limit", type=int, default=20, help="how many; default 20")
    d.add_argument("--reason", help="only this reason (e.g. unknown_device)")
    d.set_defaults(runs_until_stopped=False)
    r = isub.add_parser(
        "retire", help="scale down: leave the shared group for good",
        description="Take this ingester (its client_id) out of the shared subscription for "
        "good: resume its session, unsubscribe, store what the broker still holds for it "
        "and what its spool holds, then end the session. Run it, with the same settings "
        "file, after stopping an ingester you will not start again; otherwise the broker "
        "keeps routing that ingester's share to its session. See docs/ingest.md.")
    r.add_argument("--config", required=True, help="the retired ingester's settings YAML")
    r.add_argument("--worker", type=int, metavar="K", default=argparse.SUPPRESS,
                   help="retire worker K of that file, one past its (lowered) 'workers'")
    r.add_argument("--idle", type=float, default=3.0, metavar="S",
                   help="done after S seconds without a message (default 3)")
    r.set_defaults(runs_until_stopped=False)
    p.set_defaults(handler=run, ingest_command=None, extra="ingest", runs_until_stopped=True)
