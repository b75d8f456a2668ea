"""Graceful stop of ``cityhub edge run`` (SIGTERM from systemd, SIGINT from a terminal),
as a subprocess on the real Mosquitto: exit 0, the queue published or kept, the retained
status and the status file say so."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import uuid
from pathlib import Path

import aiomqtt
import orjson
import pytest

from cityhub.config.pack import CityPack
from cityhub.topics import status_topic
from devservices import LocalMosquitto, free_port
from edge.queue import DiskQueue
from tests.edge.test_store_and_forward import start_collecting
from tests.ingest.test_end_to_end import until

pytestmark = pytest.mark.integration


def depth(qpath: Path) -> int:
    if not qpath.exists():
        return 0
    q = DiskQueue(qpath)
    with contextlib.closing(q):
        return q.stats().depth


def read_status(path: Path) -> dict[str, object]:
    st: dict[str, object] = orjson.loads(path.read_bytes())
    return st


async def retained_status(port: int, topic: str) -> dict[str, object]:
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"st-{uuid.uuid4().hex[:6]}"
                              ) as c:
        await c.subscribe(topic, qos=1)
        async with asyncio.timeout(10):
            async for m in c.messages:
                assert m.retain
                st: dict[str, object] = orjson.loads(bytes(m.payload))  # type: ignore[arg-type]
                return st
    raise AssertionError("no retained status")


@pytest.mark.timeout(180)
async def test_sigterm_and_sigint_stop_gracefully(
        small_pack_dir: Path, small_pack: CityPack, mosquitto: LocalMosquitto,
        tmp_path: Path) -> None:
    qpath = tmp_path / "edge.db"
    status_file = Path(f"{qpath}.status.json")

    def agent(port: int, *extra: str) -> list[str]:
        return [sys.executable, "-m", "cityhub", "edge", "run", "--gateway",
                str(small_pack_dir / "gateways" / "gw-a.yaml"), "--broker-host", "127.0.0.1",
                "--broker-port", str(port), "--queue", str(qpath), "--interval-scale", "0.01",
                "--flush-interval", "0.3", *extra]

    log = (tmp_path / "edge.log").open("ab")

    # 1. No broker: SIGTERM while reconnecting. Exit 0, readings kept, "stopped" on file.
    proc = await asyncio.create_subprocess_exec(*agent(free_port()), stdout=log,
                                                stderr=asyncio.subprocess.STDOUT)
    await until(lambda: depth(qpath) >= 40, "a backlog without a broker", 60)
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 20) == 0
    backlog = depth(qpath)
    assert backlog >= 40
    st = read_status(status_file)
    assert st["state"] == "stopped" and st["backlog"] == backlog

    # 2. Broker up, backlog replayed at 1 reading per flush (it cannot drain by itself in
    # time); SIGINT: the queue is published whole before exit, then the retained offline.
    seqs: list[int] = []
    async with asyncio.TaskGroup() as tg:
        sub = await start_collecting(tg, mosquitto.port, small_pack.city.id, seqs)
        proc = await asyncio.create_subprocess_exec(
            *agent(mosquitto.port, "--replay-rate", "1"), stdout=log,
            stderr=asyncio.subprocess.STDOUT)
        await until(lambda: any(s > backlog for s in seqs), "live readings", 60)
        assert depth(qpath) > 0  # the old backlog is still waiting
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        q = DiskQueue(qpath)
        with contextlib.closing(q):
            queued = {x.reading.seq for x in q.oldest(1_000_000)}
            last = q.stats().next_seq - 1
        await until(lambda: set(range(1, last + 1)) <= set(seqs) | queued, "every seq", 30)
        sub.cancel()
    assert queued == set()  # published on the way out
    assert set(seqs) == set(range(1, last + 1))  # none lost

    st = read_status(status_file)
    assert st["state"] == "stopped" and st["backlog"] == 0
    retained = await retained_status(mosquitto.port,
                                     status_topic(small_pack.city.id, "gw-a"))
    assert retained["state"] == "offline" and retained["backlog"] == 0
    assert retained["published"] == st["published"]  # ours, not the will from connect time
    out = (tmp_path / "edge.log").read_text()
    assert "SIGTERM: stopping" in out and "SIGINT: stopping" in out
