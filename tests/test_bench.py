"""The ingest benchmark's own correctness (not its speed: no timed assertions here).

``bench/ingest.py`` is how issue 4's targets are measured, so what it counts must be
right: a bench bug (stopped subscribers' sessions left queueing copies) once went
unnoticed for several sessions.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devservices import LocalMosquitto
from tests.ingest.test_end_to_end import publish, until

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "ingest.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_ingest", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Subscriber:
    """A paho client on a persistent session (clean_session False): whether the broker
    had a session for it, and what it receives."""

    def __init__(self, port: int, cid: str) -> None:
        self.session_present: bool | None = None
        self.got: list[bytes] = []
        self.connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid,
                                  clean_session=False)
        self.subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.on_message = lambda _c, _u, msg: self.got.append(bytes(msg.payload))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.connected.wait(10), f"{cid} did not connect"

    def _on_connect(self, _c: object, _u: object, flags: mqtt.ConnectFlags, *_a: object
                    ) -> None:
        self.session_present = flags.session_present
        self.connected.set()

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(10), "no SUBACK"

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def test_ending_a_stopped_subscribers_session_stops_the_broker_queueing_for_it(
        mosquitto: LocalMosquitto) -> None:
    """A stopped subscriber's persistent session keeps its subscription, and the broker
    queues every later message for it; ``end_sessions`` ends it: a later connect finds
    no session and nothing queued. (Checked first that, left alone, it does queue.)"""
    end_sessions = _bench().end_sessions
    topic = "bench-test/stale"
    for cid, ended in (("bench-test-kept", False), ("bench-test-ended", True)):
        sub = _Subscriber(mosquitto.port, cid)
        sub.subscribe(topic)
        sub.stop()
        await publish(mosquitto, [(topic, b"while stopped")])
        if ended:
            end_sessions(mosquitto, [cid])
        again = _Subscriber(mosquitto.port, cid)
        try:
            if ended:
                assert again.session_present is False
            else:
                assert again.session_present is True
                await until(lambda s=again: bool(s.got), "the message queued meanwhile")
                assert again.got == [b"while stopped"]
        finally:
            again.stop()
            end_sessions(mosquitto, [cid])


def test_the_ingest_bench_counts_every_point_of_every_run(tmp_path: Path) -> None:
    """A tiny full run of ``bench/ingest.py`` (its own broker and InfluxDB), two rounds:
    the JSON line has every figure and round, nothing lost or duplicated in any run."""
    r = subprocess.run([sys.executable, str(BENCH), "--tiny", "--rounds", "2"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    result = orjson.loads(r.stdout.strip().splitlines()[-1])
    assert result["rounds"] == 2
    assert result["lost"] == 0 and result["duplicates"] == 0, result
    assert result["naive_lost"] == 0
    assert result["rebuilt_points"] == 0  # every batch went to InfluxDB as decoded
    assert len(result["ratio_batched_by_round"]) == 2
    assert len(result["workers_2"]["ratio_batched_by_round"]) == 2
    assert len(result["store_limit_by_round"]) == 2
    assert set(result["store_limit_by_encoding_and_connections"]) == {
        f"{e}_{c}" for e in ("gzip", "plain") for c in (1, 2, 4, 8)}
    for key in ("broker_limit_msgs_per_s", "store_limit_points_per_s", "naive_points_per_s",
                "hub_one_point_per_msg_points_per_s", "hub_batched_points_per_s"):
        assert result[key] > 0, key
    assert 0 < result["hub_rss_mb"] < 1000
    assert "warm-up (not counted)" in r.stderr
