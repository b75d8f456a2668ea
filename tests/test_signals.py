"""SIGTERM (systemd, Docker) stops every long-running command like Ctrl-C: it finishes or
hands back what is in flight, stops its children, removes what it created, exits 0.
(``cityhub edge run``: tests/edge/test_shutdown.py; the ingest supervisor:
tests/ingest/test_workers.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from cityhub.config.pack import CityPack
from cityhub.signals import raise_if_cancelling, run_until_stopped
from devservices import LocalMosquitto, free_port, http
from tests.ingest.test_end_to_end import publish, traffic_pack

pytestmark = pytest.mark.integration


def wait(cond: Callable[[], bool], what: str, timeout_s: float = 90) -> None:
    """Poll until ``cond`` holds (a deadline against hangs, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def http_status(url: str) -> int:
    return http.get(url)[0]


@contextlib.contextmanager
def cityhub(*args: str, cwd: Path) -> Iterator[subprocess.Popen[str]]:
    # faulthandler: a process that does not stop is sent SIGABRT (stop()), and prints
    # where each of its threads was, so a hang names its place in the failure's output
    proc = subprocess.Popen([sys.executable, "-m", "cityhub", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1",
                                 "PYTHONFAULTHANDLER": "1"})
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


def gone(proc: psutil.Process) -> bool:
    """Whether a process has exited (a zombie, not yet reaped by its parent, counts)."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM, then its output once it exited; it must exit 0. One that has not after a
    minute is aborted, and its threads' stacks are in the failure."""
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        out, _ = proc.communicate(timeout=30)
        raise AssertionError(f"did not stop within 60 s of SIGTERM:\n{out[-20000:]}") from None
    assert proc.returncode == 0, out
    return out


def stored_rows(db: Path) -> int:
    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(db)) as c:
        try:
            return int(c.execute("SELECT count(*) FROM readings WHERE field = 'intensity'"
                                 ).fetchone()[0])
        except sqlite3.OperationalError:  # not created yet
            return 0


@pytest.mark.timeout(240)
async def test_ingest_stops_on_sigterm_and_loses_nothing(
        small_pack_dir: Path, small_pack: CityPack, mosquitto: LocalMosquitto,
        tmp_path: Path) -> None:
    city = small_pack.city.id
    db = tmp_path / "readings.db"
    metrics = free_port()
    cfg = tmp_path / "ingest.yaml"
    cfg.write_text(
        f"pack: {small_pack_dir}\nclient_id: sig-{uuid.uuid4().hex[:6]}\n"
        f"broker: {{host: 127.0.0.1, port: {mosquitto.port}}}\n"
        f"store: {{kind: sqlite, path: {db}}}\nflush_interval_s: 0.2\n"
        f"deadletter_path: {tmp_path / 'dl.db'}\nspool_path: {tmp_path / 'spool.db'}\n"
        f"metrics_port: {metrics}\n")
    healthy = f"http://127.0.0.1:{metrics}/healthz"
    n = 3000
    with cityhub("ingest", "--config", str(cfg), cwd=tmp_path) as proc:
        wait(lambda: http_status(healthy) == 200, "the ingester to connect")
        await publish(mosquitto, [(f"city/{city}/traffic/gw-a", traffic_pack(i))
                                  for i in range(n)])
        # a positive signal first: some stored, then the stop while more are in flight
        wait(lambda: stored_rows(db) > 0, "the first readings stored")
        out = stop(proc)
    assert "SIGTERM: stopping" in out and "cityhub ingest: stopped" in out
    assert http_status(healthy) == 0  # its endpoint is gone with it
    # What was in flight was not acknowledged: the next run stores all of it, once.
    with cityhub("ingest", "--config", str(cfg), cwd=tmp_path) as proc:
        wait(lambda: http_status(healthy) == 200, "the ingester to connect again")
        wait(lambda: stored_rows(db) == 2 * n, f"all {2 * n} readings stored")
        stop(proc)
    assert stored_rows(db) == 2 * n


@pytest.mark.timeout(180)
def test_dashboard_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with cityhub("dashboard", "--city", "bandung", "--sqlite", str(tmp_path / "r.db"),
                 "--port", str(port), cwd=tmp_path) as proc:
        wait(lambda: http_status(url) == 200, "the dashboard to serve")
        out = stop(proc)
    assert "SIGTERM: stopping" in out and "cityhub dashboard: stopped" in out
    assert http_status(url) == 0


@pytest.mark.timeout(240)
def test_demo_stops_on_sigterm_with_its_broker_and_temp_dir(
        tmp_path: Path, mosquitto: LocalMosquitto) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with cityhub("demo", "--port", str(port), "--data-dir", str(tmp_path / "demo"),
                 "--broker", "mosquitto", cwd=tmp_path) as proc:
        wait(lambda: http_status(url) == 200, "the demo's dashboard")
        children = psutil.Process(proc.pid).children(recursive=True)
        broker = next(c for c in children if "mosquitto" in c.name())
        conf = Path(broker.cmdline()[broker.cmdline().index("-c") + 1])
        assert conf.exists()
        out = stop(proc)
    assert "cityhub demo: stopped" in out
    assert gone(broker), "the demo's Mosquitto outlived it"
    assert not conf.parent.exists(), "the demo left its temporary directory"
    # the city's data stays for the next run (``--fresh`` clears it)
    assert (tmp_path / "demo" / "bandung" / "readings.db").exists()


@pytest.mark.timeout(240)
def test_a_killed_demo_takes_its_broker_with_it(tmp_path: Path,
                                                mosquitto: LocalMosquitto) -> None:
    """kill -9 leaves no time to clean up: Linux stops the demo's Mosquitto all the same
    (PR_SET_PDEATHSIG), so no broker is left running on its own."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with cityhub("demo", "--port", str(port), "--data-dir", str(tmp_path / "demo"),
                 "--broker", "mosquitto", cwd=tmp_path) as proc:
        wait(lambda: http_status(url) == 200, "the demo's dashboard")
        broker = next(c for c in psutil.Process(proc.pid).children(recursive=True)
                      if "mosquitto" in c.name())
        conf = Path(broker.cmdline()[broker.cmdline().index("-c") + 1])
        proc.kill()
        proc.communicate(timeout=60)
    wait(lambda: gone(broker), "the orphaned broker to stop")
    shutil.rmtree(conf.parent)  # what kill -9 gave the demo no chance to remove


async def test_a_stop_turned_into_another_error_is_not_swallowed() -> None:
    """A retry loop that catches the error a library made of a cancellation (aiomqtt's
    connect: MqttError; Python 3.11's wait_for: TimeoutError) stops all the same."""
    attempts = 0

    async def retry_forever() -> None:
        nonlocal attempts
        while attempts < 3:  # without the check: three attempts, then it gives up
            attempts += 1
            try:
                try:
                    await asyncio.sleep(30)
                except asyncio.CancelledError as e:
                    raise ConnectionError("converted by a library") from e
            except ConnectionError:
                raise_if_cancelling()

    task = asyncio.create_task(retry_forever())
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.wait({task}, timeout=10)
    assert task.cancelled() and attempts == 1


async def test_a_second_signal_does_not_cut_the_clean_up_short() -> None:
    """The first SIGTERM stops the work; one that comes during its clean-up (a terminal's
    Ctrl-C, then the supervisor's SIGTERM) lets the clean-up finish; the handlers from
    before are back afterwards."""
    before = signal.getsignal(signal.SIGTERM)
    cleaned = asyncio.Event()

    async def work() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # a second signal, during clean-up
            await asyncio.sleep(0.2)
            cleaned.set()

    task = asyncio.create_task(run_until_stopped(work(), name="test"))
    await asyncio.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(task, 10) is None
    assert cleaned.is_set()
    assert signal.getsignal(signal.SIGTERM) == before


def test_main_puts_back_the_sigterm_handler(capsys: pytest.CaptureFixture[str]) -> None:
    from cityhub.cli import main

    before = signal.getsignal(signal.SIGTERM)
    assert main(["config", "check", "bandung"]) == 0
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.parametrize("which", ["analytics", "alerts"])
async def test_a_service_cancelled_at_any_moment_of_its_start_stops(
        which: str, small_pack_dir: Path, small_pack: CityPack, mosquitto: LocalMosquitto,
        tmp_path: Path) -> None:
    """Cancelled while connecting, subscribing or just connected (as the demo is by a
    SIGTERM right after it starts), a service stops: a cancellation that a TaskGroup or
    aiomqtt turned into an MQTT error is not taken for a lost connection and retried
    (the demo hung on it in CI: the analytics service reconnected after the SIGTERM)."""
    from alerts.store import SqliteAlarmStore
    from analytics.live.checkpoint import StateDir
    from analytics.service import AnalyticsService
    from analytics.settings import AnalyticsSettings
    from cityhub.mqtt import BrokerSettings
    from cityhub.store import SQLiteStore
    from tests.alerts.service_kit import settings_for

    rng = __import__("random").Random(7)
    broker = BrokerSettings(host="127.0.0.1", port=mosquitto.port, protocol="3.1.1")
    for k in range(12):
        closing: list[Callable[[], object]] = []
        svc: Any
        if which == "analytics":
            store = SQLiteStore(tmp_path / f"r{k}.db")
            state = StateDir(tmp_path / f"s{k}")
            svc = AnalyticsService(AnalyticsSettings(
                pack=str(small_pack_dir), client_id=f"cancel-{uuid.uuid4().hex[:6]}",
                broker=broker), small_pack, store, state)
            closing.append(state.close)
        else:
            from alerts.service import AlertsService

            alarms = SqliteAlarmStore(tmp_path / f"a{k}.db")
            svc = AlertsService(settings_for(mosquitto.port, tmp_path), small_pack, alarms, {})
            closing.append(alarms.close_db)
        task = asyncio.create_task(svc.run())
        await asyncio.sleep(rng.uniform(0.0, 0.4))
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=20)
        assert done, f"{which} still running 20 s after its cancellation (round {k})"
        assert task.cancelled(), task.exception()
        for close in closing:
            close()
        if which == "analytics":
            await store.aclose()


@pytest.mark.parametrize("which", ["analytics", "alerts"])
async def test_a_service_stops_when_its_client_turns_the_stop_into_an_mqtt_error(
        which: str, small_pack_dir: Path, small_pack: CityPack, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The race above, made certain: a client whose connect turns a cancellation into
    aiomqtt.MqttError (as Python 3.11's wait_for does when the cancellation meets its
    timeout, or a TaskGroup that drops the CancelledError for its children's errors)."""
    import aiomqtt

    from alerts.service import AlertsService
    from alerts.store import SqliteAlarmStore
    from analytics.live.checkpoint import StateDir
    from analytics.service import AnalyticsService
    from analytics.settings import AnalyticsSettings
    from cityhub.mqtt import BrokerSettings
    from cityhub.store import SQLiteStore
    from tests.alerts.service_kit import settings_for

    connects = 0

    class Converting:
        async def __aenter__(self) -> Converting:
            nonlocal connects
            connects += 1
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                raise aiomqtt.MqttError("Operation timed out") from None
            return self

        async def __aexit__(self, *exc: object) -> None:
            return None

    broker = BrokerSettings(host="127.0.0.1", port=1, protocol="3.1.1")
    svc: Any
    if which == "analytics":
        store = SQLiteStore(tmp_path / "r.db")
        svc = AnalyticsService(AnalyticsSettings(pack=str(small_pack_dir), broker=broker),
                               small_pack, store, StateDir(tmp_path / "s"))
        monkeypatch.setattr(svc, "_publisher", Converting)
    else:
        store = SqliteAlarmStore(tmp_path / "a.db")  # type: ignore[assignment]
        svc = AlertsService(settings_for(1, tmp_path), small_pack, store, {})  # type: ignore[arg-type]
        monkeypatch.setattr(svc, "_publisher_client", Converting)
    task = asyncio.create_task(svc.run())
    await asyncio.sleep(0.3)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=10)
    assert done and task.cancelled(), "the stop was taken for a lost connection"
    assert connects == 1  # and not retried


def test_no_asyncio_wait_for_in_the_hub() -> None:
    """Python 3.11's asyncio.wait_for returns the result when a cancellation meets the
    inner future's completion, swallowing the stop: the demo then ran on after SIGTERM
    (it waited for its services with wait_for as they connected). The hub uses
    ``async with asyncio.timeout(...)``, which keeps the cancellation (fixed in 3.12)."""
    root = Path(__file__).resolve().parents[1]
    packages = ("cityhub", "edge", "ingest", "subscriber", "stores", "analytics", "alerts",
                "accounts", "dashboards", "demo", "devservices")
    found = [f"{path.relative_to(root)}:{n}" for package in packages
             for path in sorted((root / package).rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if "wait_for(" in line and not line.lstrip().startswith("#")]
    assert found == []
