"""kill -9 of the ingester process at random points of a 50,000-reading stream, restarted
several times: every reading stored exactly once (count and checksum)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest

from devservices import LocalInfluxDB, LocalMosquitto, free_port, http
from tests.ingest.test_end_to_end import T0, publish, until

pytestmark = pytest.mark.integration
PER_PACK = 50
PACKS = 1000  # 50,000 readings


def pack(i: int) -> bytes:
    recs: list[dict[str, object]] = [
        {"n": "intensity", "v": (i * PER_PACK + k) % 997, "t": k, "seq": i * PER_PACK + k}
        for k in range(PER_PACK)]
    recs[0] |= {"bn": "tfc-1:", "bt": T0 + i * PER_PACK}
    return orjson.dumps(recs)


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "cityhub", "ingest", "--config", str(config)],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


@pytest.mark.timeout(600)
async def test_kill_9_mid_stream_stores_everything_once(
        small_pack_dir: Path, mosquitto: LocalMosquitto, influxdb: LocalInfluxDB, database: str,
        tmp_path: Path) -> None:
    from cityhub.config import load_pack

    city = load_pack(small_pack_dir).city.id
    port = free_port()
    config = tmp_path / "ingest.yaml"
    config.write_text(
        f"pack: {small_pack_dir}\nclient_id: chaos-{uuid.uuid4().hex[:6]}\n"
        f"broker: {{host: 127.0.0.1, port: {mosquitto.port}}}\n"
        f"store: {{kind: influxdb-v1, url: '{influxdb.url}', database: {database}}}\n"
        f"batch_lines: 2000\nflush_interval_s: 0.3\nmax_inflight: 200\n"
        f"deadletter_path: {tmp_path / 'dl.db'}\nspool_path: {tmp_path / 'spool.db'}\n"
        f"metrics_port: {port}\n")
    log = tmp_path / "ingest.log"
    rng = random.Random(1234)
    proc = start(config, log)
    topic = f"city/{city}/traffic/gw-a"

    def healthy() -> bool:
        return http.get(f"http://127.0.0.1:{port}/healthz", timeout_s=1)[0] == 200

    # The session must exist before the stream starts: MQTT keeps messages only for
    # subscriptions that exist (in production the ingester's session outlives deploys).
    await until(healthy, "the first ingester to subscribe")

    async def producer() -> None:
        for lo in range(0, PACKS, 50):
            await publish(mosquitto, [(topic, pack(i)) for i in range(lo, lo + 50)])
            await asyncio.sleep(0.2)

    try:
        prod = asyncio.create_task(producer())
        killed_mid_stream = 0
        for _ in range(4):
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            killed_mid_stream += not prod.done()
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            await asyncio.sleep(rng.uniform(0, 0.5))
            proc = start(config, log)
        await prod
        assert killed_mid_stream >= 2  # the test means something only if it hit the stream

        def stored() -> tuple[int, float]:
            res = influxdb.query("SELECT count(intensity), sum(intensity) FROM traffic",
                                 database)
            series = res["results"][0].get("series")  # type: ignore[index]
            return (0, 0.0) if not series else tuple(series[0]["values"][0][1:])  # type: ignore[return-value]

        want = (PACKS * PER_PACK, float(sum(j % 997 for j in range(PACKS * PER_PACK))))
        await until(lambda: stored()[0] >= want[0], "all readings stored", timeout_s=300)
        assert stored() == want
    finally:
        proc.kill()
        proc.wait()
    assert "Traceback" not in log.read_text()
