"""``workers: N``: one settings file, N ingester processes in one shared group, supervised.
Real Mosquitto, real InfluxDB, real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest

from cityhub.cli import main
from cityhub.config import load_settings
from cityhub.errors import ConfigError
from devservices import LocalInfluxDB, LocalMosquitto, child_pids, free_ports, http
from ingest.settings import IngestSettings
from ingest.supervisor import Supervisor
from tests.ingest.test_chaos import PER_PACK, pack
from tests.ingest.test_end_to_end import publish, until


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """``cityhub ingest --config config``: with ``workers: 2``, the supervisor."""
    return subprocess.Popen([sys.executable, "-m", "cityhub", "ingest", "--config", str(config)],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


def worker_pid(pids: set[int], k: int) -> int:
    """Which of ``pids`` runs ``--worker k``."""
    return next(p for p in pids
                if Path(f"/proc/{p}/cmdline").read_bytes().endswith(b"--worker\x00%d\x00" % k))


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_worker_settings(tmp_path: Path) -> None:
    cfg = tmp_path / "ingest.yaml"
    cfg.write_text("pack: bandung\nclient_id: ing-a\nworkers: 3\nmetrics_port: 9300\n"
                   "spool_path: /var/lib/cityhub/spool.db\n"
                   "deadletter_path: /var/lib/cityhub/dl.db\n")
    s = load_settings(cfg, IngestSettings)
    w0, w2 = s.for_worker(0), s.for_worker(2)
    assert (w0.client_id, w0.spool_path, w0.metrics_port) == (
        "ing-a", "/var/lib/cityhub/spool.db", 9300)
    assert (w2.client_id, w2.spool_path, w2.metrics_port) == (
        "ing-a-w2", "/var/lib/cityhub/spool-w2.db", 9302)
    assert w2.deadletter_path == w0.deadletter_path  # one file: one list of dead letters
    assert s.for_worker(4).client_id == "ing-a-w4"  # a worker lowered away, for retire


@pytest.mark.parametrize(("text", "says"), [
    ("workers: 2\nshared_group: null\n", "workers > 1 needs a shared_group"),
    ("workers: 3\nmetrics_port: 65534\n", "past 65535"),
    ("workers: 0\n", "workers"),
])
def test_worker_settings_refused(tmp_path: Path, text: str, says: str) -> None:
    cfg = tmp_path / "ingest.yaml"
    cfg.write_text("pack: bandung\n" + text)
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, IngestSettings)
    assert says in str(e.value) and "ingest.yaml" in str(e.value)


@pytest.mark.parametrize(("argv", "says"), [
    ("ingest --config CFG --worker 2", "runs workers 0 to 1"),
    ("ingest --config CFG --worker -1", "numbered from 0"),
    ("ingest retire --config CFG --worker -1", "numbered from 0"),
    ("ingest retire --config CFG", "worker 0 is one of the 2"),
    ("ingest retire --config CFG --worker 1", "worker 1 is one of the 2"),
    ("ingest --worker 1 retire --config CFG", "worker 1 is one of the 2"),  # K given first
])
def test_worker_numbers_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                argv: str, says: str) -> None:
    cfg = tmp_path / "ingest.yaml"
    cfg.write_text("pack: bandung\nworkers: 2\n")
    assert main([str(cfg) if a == "CFG" else a for a in argv.split()]) == 2
    assert says in capsys.readouterr().err


@pytest.mark.allow_logged_errors
def test_a_configuration_error_stops_every_worker() -> None:
    """A worker exiting with status 2 would fail the same way again: the supervisor
    stops the others and exits 2."""
    sup = Supervisor([sys.executable, "-c", "import sys, time\n"
                      "if sys.argv[-1] == '1': sys.exit(2)\ntime.sleep(60)"], 2, grace_s=5)
    assert asyncio.run(asyncio.wait_for(sup.run(), 30)) == 2
    assert sup.procs[0].returncode == -signal.SIGTERM  # the healthy one was stopped
    assert sup.starts == [1, 1]


@pytest.mark.allow_logged_errors
def test_a_failing_worker_is_started_again_with_backoff() -> None:
    async def scenario() -> Supervisor:
        sup = Supervisor([sys.executable, "-c", "import sys; sys.exit(1)"], 1,
                         backoff_base_s=0.05, backoff_cap_s=0.2)
        task = asyncio.create_task(sup.run())
        for _ in range(200):
            if sup.starts[0] >= 4:
                break
            await asyncio.sleep(0.05)
        sup.stop()
        assert await asyncio.wait_for(task, 10) == 0
        return sup

    assert asyncio.run(scenario()).starts[0] >= 4


def test_workers_die_with_their_supervisor(tmp_path: Path) -> None:
    """kill -9 of the supervisor: Linux sends each worker SIGTERM (no orphan keeps a
    session)."""
    child = ("from ingest.supervisor import follow_supervisor; follow_supervisor(); "
             "import time; time.sleep(120)")
    code = ("import asyncio, sys; from ingest.supervisor import Supervisor; "
            f"asyncio.run(Supervisor([sys.executable, '-c', {child!r}], 2).run())")
    sup = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(200):
            workers = child_pids(sup.pid)
            if len(workers) == 2:
                break
            time.sleep(0.05)
        assert len(workers) == 2
        time.sleep(0.5)  # let the workers ask for the signal
    finally:
        sup.kill()
        sup.wait()
    for _ in range(200):
        if not any(alive(p) for p in workers):
            break
        time.sleep(0.05)
    assert not any(alive(p) for p in workers)


@pytest.mark.integration
@pytest.mark.timeout(300)
async def test_two_workers_split_the_stream_and_a_killed_one_comes_back(
        small_pack_dir: Path, mosquitto: LocalMosquitto, influxdb: LocalInfluxDB, database: str,
        tmp_path: Path) -> None:
    from cityhub.config import load_pack

    city = load_pack(small_pack_dir).city.id
    port = free_ports(2)
    config = tmp_path / "ingest.yaml"
    config.write_text(
        f"pack: {small_pack_dir}\nclient_id: wk-{uuid.uuid4().hex[:6]}\nworkers: 2\n"
        f"shared_group: wk-{uuid.uuid4().hex[:6]}\n"
        f"broker: {{host: 127.0.0.1, port: {mosquitto.port}}}\n"
        f"store: {{kind: influxdb-v1, url: '{influxdb.url}', database: {database}}}\n"
        f"batch_lines: 2000\nflush_interval_s: 0.2\n"
        f"deadletter_path: {tmp_path / 'dl.db'}\nspool_path: {tmp_path / 'spool.db'}\n"
        f"metrics_port: {port}\n")
    log = tmp_path / "ingest.log"
    sup = start(config, log)
    topic = f"city/{city}/traffic/gw-a"

    async def health(k: int) -> dict[str, int] | None:
        status, body = await http.aget(f"http://127.0.0.1:{port + k}/healthz", timeout_s=1)
        return orjson.loads(body) if status == 200 else None  # type: ignore[no-any-return]

    def stored() -> tuple[int, float]:
        res = influxdb.query("SELECT count(intensity), sum(intensity) FROM traffic", database)
        series = res["results"][0].get("series")  # type: ignore[index]
        return (0, 0.0) if not series else tuple(series[0]["values"][0][1:])  # type: ignore[return-value]

    async def both_healthy() -> bool:
        return all([await health(0), await health(1)])

    try:
        for _ in range(200):  # until both workers serve their health
            if await both_healthy():
                break
            await asyncio.sleep(0.1)
        assert await both_healthy(), log.read_text()[-2000:]
        first = child_pids(sup.pid)
        assert len(first) == 2

        await publish(mosquitto, [(topic, pack(i)) for i in range(200)])
        for _ in range(600):  # both have stored a share, and together every reading
            shares = [(await health(k)) or {} for k in (0, 1)]
            if sum(int(h.get("stored_points", 0)) for h in shares) >= 200 * PER_PACK:
                break
            await asyncio.sleep(0.1)
        assert all(int(h["stored_points"]) > 0 for h in shares), shares  # both worked
        assert sum(int(h["stored_points"]) for h in shares) == 200 * PER_PACK

        # kill -9 worker 1 mid-stream: the supervisor starts it again; nothing is lost.
        async def producer() -> None:
            for lo in range(200, 1000, 50):
                await publish(mosquitto, [(topic, pack(i)) for i in range(lo, lo + 50)])
                await asyncio.sleep(0.1)

        before = int(shares[1]["received"])
        prod = asyncio.create_task(producer())
        for _ in range(300):  # until worker 1 takes part in the new stream
            h1 = await health(1)
            if h1 is not None and int(h1["received"]) > before:
                break
            await asyncio.sleep(0.05)
        victim = worker_pid(first, 1)
        os.kill(victim, signal.SIGKILL)
        assert not prod.done()  # killed mid-stream
        await prod
        for _ in range(300):
            now = child_pids(sup.pid)
            if len(now) == 2 and victim not in now and await health(1):
                break
            await asyncio.sleep(0.1)
        assert len(now) == 2 and victim not in now, log.read_text()[-2000:]
        want = (1000 * PER_PACK, float(sum(j % 997 for j in range(1000 * PER_PACK))))
        await until(lambda: stored()[0] >= want[0], "all 1000 packs stored", timeout_s=120)
        assert stored() == want  # each reading once
        workers = child_pids(sup.pid)
    finally:
        sup.send_signal(signal.SIGTERM)
        try:
            code = sup.wait(30)
        except subprocess.TimeoutExpired:
            sup.kill()
            raise
    assert code == 0
    assert not any(alive(p) for p in workers)  # the supervisor stopped its workers
    text = log.read_text()
    assert "worker 1 (pid" in text and "exited with status -9" in text
    assert "Traceback" not in text
