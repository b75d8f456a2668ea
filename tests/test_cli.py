"""The README's demo command, run for real as a user would (shortened with --duration)."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cityhub.cli import main
from cityhub.config import load_pack
from devservices import free_port, http

pytestmark = pytest.mark.integration


def run_demo(tmp_path: Path, *args: str, seconds: int = 20) -> tuple[str, int]:
    port = free_port()
    cmd = [sys.executable, "-m", "cityhub", "demo", "--port", str(port), "--data-dir",
           str(tmp_path), "--duration", str(seconds), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    status = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        status, _ = http.get(f"http://127.0.0.1:{port}/")
        if status == 200:
            break
        time.sleep(0.3)
    out, _ = proc.communicate(timeout=seconds + 60)
    assert proc.returncode == 0, out
    return out, status


def devices_stored(db: Path) -> set[str]:
    with sqlite3.connect(db) as c:
        return {r[0] for r in c.execute("SELECT DISTINCT s.device FROM readings r "
                                        "JOIN series s ON s.id = r.series")}


def test_demo_bandung_with_mosquitto(tmp_path: Path, mosquitto: object) -> None:
    out, status = run_demo(tmp_path, "--fresh")
    assert status == 200
    assert "dashboard: http://127.0.0.1:" in out
    # the broker runs the generated accounts and ACL: every part logged in with its own
    # account, and every gateway's readings came through
    assert "Mosquitto on" in out and "locked down" in out
    pack = load_pack("bandung")
    assert devices_stored(tmp_path / "bandung" / "readings.db") == set(pack.sensors)
    assert "'dead_lettered': {}" in out


def test_demo_bogor_with_embedded_broker(tmp_path: Path) -> None:
    out, status = run_demo(tmp_path, "--city", "bogor", "--broker", "amqtt")
    assert status == 200
    assert "embedded amqtt" in out
    assert "'dead_lettered': {}" in out
    assert devices_stored(tmp_path / "bogor" / "readings.db") == set(load_pack("bogor").sensors)


def test_demo_of_two_cities_on_one_hub(tmp_path: Path, mosquitto: object) -> None:
    """`cityhub demo --city bandung --city bogor`: one locked-down broker, one store, every
    service serving both cities; each city's every device stored under its own city."""
    out, status = run_demo(tmp_path, "--city", "bandung", "--city", "bogor",
                           "--alerts-port", "0", seconds=25)
    assert status == 200
    assert "cityhub demo: Kota Bandung and Kota Bogor," in out, out[-3000:]
    assert "Mosquitto on" in out and "locked down" in out
    assert "'dead_lettered': {}" in out
    with sqlite3.connect(tmp_path / "bandung-bogor" / "readings.db") as c:
        stored = set(c.execute("SELECT DISTINCT s.city, s.device FROM readings r "
                               "JOIN series s ON s.id = r.series"))
    for city in ("bandung", "bogor"):
        assert {d for c_, d in stored if c_ == city} == set(load_pack(city).sensors), city
        # each city's alarm store and analytics state, named after it
        assert (tmp_path / "bandung-bogor" / f"alarms-{city}.db").is_file()
        assert (tmp_path / "bandung-bogor" / "analytics" / city).is_dir()
    # each city's analytics and alerts took that city's telemetry (the stop line's figures)
    stopped = next(line for line in out.splitlines() if line.startswith("cityhub demo: stopped"))
    analytics, alerts = stopped.split("; analytics ")[1].split("; alerts ")
    for city in ("bandung", "bogor"):
        for part in (analytics, alerts):
            got = re.search(rf"'{city}': {{'messages': ([0-9.]+)", part)
            assert got and float(got.group(1)) > 0, (city, part)


def test_help_of_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["demo", "--help"], ["config", "check", "--help"],
                 ["city", "new", "--help"],
                 ["edge", "run", "--help"], ["edge", "status", "--help"], ["ingest", "--help"],
                 ["ingest", "retire", "--help"], ["ingest", "deadletters", "--help"],
                 ["dashboard", "--help"], ["analytics", "report", "--help"],
                 ["analytics", "backfill", "--help"], ["alerts", "run", "--help"],
                 ["alerts", "report", "--help"], ["users", "add", "--help"],
                 ["broker", "config", "--help"], ["broker", "certs", "--help"],
                 ["edge", "doctor", "--help"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0
        assert "usage: cityhub" in capsys.readouterr().out


def test_ingest_deadletters_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                    ) -> None:
    from ingest.deadletters import DeadLetters

    dl = DeadLetters(tmp_path / "dl.db")
    dl.add_many([("city/x/traffic/gw", b"\x00junk", "json", "pack is not JSON")])
    dl.close()
    cfg = tmp_path / "ingest.yaml"
    cfg.write_text(f"pack: bandung\ndeadletter_path: {tmp_path / 'dl.db'}\n")
    assert main(["ingest", "deadletters", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "1 dead letters" in out
    assert "json" in out
    assert "pack is not JSON" in out


def test_json_log_lines() -> None:
    """--log-format json: each log record of a process is one JSON line, tracebacks
    included."""
    import subprocess
    import sys

    import orjson

    code = ("import logging; from cityhub.logs import setup_logging; "
            "setup_logging('INFO', 'json'); log = logging.getLogger('cityhub.x'); "
            "log.warning('queued %d', 7)\ntry:\n    1 / 0\nexcept ZeroDivisionError:\n"
            "    log.exception('failed')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    first, second = (orjson.loads(ln) for ln in proc.stderr.splitlines())
    assert {k: first[k] for k in ("level", "logger", "message")} == {
        "level": "WARNING", "logger": "cityhub.x", "message": "queued 7"}
    assert second["message"] == "failed" and "ZeroDivisionError" in second["exception"]


def test_request_loggers_are_quiet_unless_debug() -> None:
    """werkzeug logs every request (each dashboard callback) at INFO: only its warnings reach the
    log, unless --log-level DEBUG."""
    import subprocess
    import sys

    code = ("import logging, sys; from cityhub.logs import setup_logging; "
            "setup_logging(sys.argv[1]); "
            "logging.getLogger('werkzeug').info('POST /_dash-update-component 200'); "
            "logging.getLogger('werkzeug').warning('slow'); "
            "logging.getLogger('cityhub.x').info('ours')")
    for level, want in (("INFO", ["slow", "ours"]),
                        ("DEBUG", ["POST /_dash-update-component 200", "slow", "ours"])):
        proc = subprocess.run([sys.executable, "-c", code, level], capture_output=True,
                              text=True, timeout=60, check=True)
        assert [ln.split(": ", 1)[1] for ln in proc.stderr.splitlines()] == want


async def test_demo_webhook_receives_a_signed_flood_alarm(tmp_path: Path,
                                                          mosquitto: object) -> None:
    """The README's promise: `cityhub demo --webhook URL` and a signed alarm arrives at
    the user's own receiver (here one that verifies the signature) about a minute in."""
    import asyncio
    import signal

    from alerts.channels.webhook import new_secret
    from tests.alerts.receivers import WebhookReceiver
    from tests.ingest.test_end_to_end import until

    secret = new_secret()
    async with WebhookReceiver(secret) as receiver:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cityhub", "demo", "--port", str(free_port()),
            "--alerts-port", "0", "--data-dir", str(tmp_path), "--webhook", receiver.url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1",
                 "CITYHUB_DEMO_WEBHOOK_SECRET": secret})

        def flood_alarms() -> list[dict[str, object]]:
            return [n["alarm"] for r in receiver.delivered
                    for n in r.payload["notifications"] if n["alarm"]["domain"] == "flood"]
        try:
            await until(lambda: bool(flood_alarms()) or proc.returncode is not None,
                        "a flood alarm at the webhook", 240)
            assert flood_alarms(), f"no flood alarm; rejected: {receiver.rejected}"
            assert flood_alarms()[0]["rule"] == "flood-siaga"
            assert receiver.rejected == []  # every request verified
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            out, _ = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode == 0, out.decode()[-3000:]
        assert "webhook:   alarms to " + receiver.url in out.decode()


def test_demo_webhook_needs_its_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CITYHUB_DEMO_WEBHOOK_SECRET"}
    proc = subprocess.run([sys.executable, "-m", "cityhub", "demo", "--data-dir",
                           str(tmp_path), "--webhook", "http://127.0.0.1:9/hook"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert "set CITYHUB_DEMO_WEBHOOK_SECRET" in proc.stderr and "whsec_" in proc.stderr
