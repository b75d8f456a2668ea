"""One analytics process serving several cities (``packs: [bandung, bogor]``): ``cityhub
analytics run`` on the real Mosquitto and InfluxDB, a gauge of each city rising through
Siaga levels; and the settings of one city or several."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import orjson
import pytest

from analytics.settings import AnalyticsSettings
from cityhub.config import load_settings
from cityhub.config.loader import pack_dir
from cityhub.errors import ConfigError
from cityhub.senml import Reading, encode_pack
from cityhub.topics import event_filter, telemetry_topic
from devservices import LocalInfluxDB, LocalMosquitto, free_port, http
from tests.analytics.test_service import start, stored
from tests.feeds import received
from tests.ingest.test_end_to_end import publish, until

# city -> (gateway, flood gauge, a level under Siaga III, at Siaga III, at Siaga II): one
# gauge of each shipped pack (bogor extends bandung; its Katulampa weir has its own levels)
GAUGES = {"bandung": ("gw-dago", "flood-cikapundung-dago", 0.6, 1.7, 2.2),
          "bogor": ("gw-katulampa", "flood-katulampa", 0.5, 1.0, 1.7)}


def readings(city: str, t0: int, steps: range) -> list[tuple[str, bytes]]:
    """The city's gauge at minutes ``steps`` after ``t0``: under Siaga III, at III, at II."""
    gateway, device, *levels = GAUGES[city]
    return [(telemetry_topic(city, "flood", gateway),
             encode_pack([Reading(device, "currentLevel", levels[k], (t0 + 60 * k) * 10**9, k)],
                         domain="flood")) for k in steps]


def every_event(mosquitto: LocalMosquitto
                ) -> AbstractAsyncContextManager[list[tuple[str, Any]]]:
    """(topic, event) of every event of every city published while the block runs."""
    return received(mosquitto.port, [event_filter()], lambda t, p: (t, orjson.loads(p)),
                    name="events")


def siaga_changes(got: list[tuple[str, Any]], city: str) -> list[tuple[int, int]]:
    """(from, to) of the siaga_change events of the city's gauge; each on its city's
    topic."""
    device = GAUGES[city][1]
    out = []
    for topic, e in got:
        if e["device"] == device and e["kind"] == "siaga_change":
            assert topic == f"city/{city}/events/flood/siaga_change", (topic, e)
            assert e["city"] == city
            out.append((e["detail"]["from"], e["detail"]["to"]))
    return out


def samples(text: str, name: str) -> dict[str, float]:
    """city -> value of metric ``name`` (no other label) in a /metrics text."""
    out = {}
    for m in re.finditer(rf'^{name}\{{city="([^"]+)"\}} (\S+)$', text, re.MULTILINE):
        out[m[1]] = float(m[2])
    return out


def stored_levels(influxdb: LocalInfluxDB, database: str, city: str) -> dict[str, int]:
    """device -> how many flood_state points the store holds of it under ``city``."""
    out: dict[str, int] = {}
    for measurement, device, _ in stored(influxdb, database, city):
        if measurement == "flood_state":
            out[device] = out.get(device, 0) + 1
    return out


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0


@pytest.mark.integration
@pytest.mark.timeout(300)
async def test_one_process_serves_two_cities(mosquitto: LocalMosquitto,
                                             influxdb: LocalInfluxDB, database: str,
                                             tmp_path: Path) -> None:
    """Each city's derived points stored under its city tag, its events on its own topics,
    its metrics labelled with it on the one /metrics; each city's checkpoint in its own
    state directory, from which it resumes, and its own persistent session, which keeps
    what came while the process was stopped."""
    port, state = free_port(), tmp_path / "state"
    client_id = f"analytics-{uuid.uuid4().hex[:6]}"
    config = tmp_path / "analytics.yaml"
    config.write_text(
        f"packs: [bandung, bogor]\nclient_id: {client_id}\n"
        f"shared_group: g{uuid.uuid4().hex[:8]}\n"  # no other test's session in its group
        f"broker: {{host: 127.0.0.1, port: {mosquitto.port}}}\n"
        f"store: {{kind: influxdb-v1, url: '{influxdb.url}', database: {database}}}\n"
        f"flush_interval_s: 0.1\ncheckpoint_interval_s: 0.5\nstate_dir: {state}\n"
        f"metrics_port: {port}\n")
    log = tmp_path / "analytics.log"
    t0 = (int(time.time()) // 60 - 30) * 60

    def metrics() -> str:
        return http.get(f"http://127.0.0.1:{port}/metrics", timeout_s=1)[1].decode()

    def healthy() -> bool:
        return http.get(f"http://127.0.0.1:{port}/healthz", timeout_s=1)[0] == 200

    def checkpointed() -> bool:
        done = samples(metrics(), "cityhub_analytics_checkpoints_total")
        return set(done) == set(GAUGES) and min(done.values()) >= 1

    proc = start(config, log)
    try:
        async with every_event(mosquitto) as got:
            await until(healthy, "both cities subscribed")
            _, body = http.get(f"http://127.0.0.1:{port}/healthz")
            health = orjson.loads(body)
            assert set(health["cities"]) == {"bandung", "bogor"}
            assert all(c["connected"] for c in health["cities"].values())

            await publish(mosquitto, readings("bandung", t0, range(2))
                          + readings("bogor", t0, range(2)))
            await until(lambda: all(siaga_changes(got, c) for c in GAUGES),
                        "a Siaga III event of each city")
            assert siaga_changes(got, "bandung") == siaga_changes(got, "bogor") == [(4, 3)]
            await until(lambda: stored_levels(influxdb, database, "bandung")
                        == {"flood-cikapundung-dago": 2}, "bandung's flood_state points")
            assert stored_levels(influxdb, database, "bogor") == {"flood-katulampa": 2}

            text = metrics()
            assert samples(text, "cityhub_analytics_readings_total") == \
                {"bandung": 2.0, "bogor": 2.0}
            assert samples(text, "cityhub_analytics_connected") == {"bandung": 1.0,
                                                                    "bogor": 1.0}
            events = {m[1]: float(m[2]) for m in re.finditer(
                r'^cityhub_analytics_events_total\{city="([^"]+)",kind="siaga_change"\} '
                r"(\S+)$", text, re.MULTILINE)}
            assert events == {"bandung": 1.0, "bogor": 1.0}
            await until(checkpointed, "a checkpoint of each city")
            stop(proc)

            # each city's state in its own directory; nothing of a single pack's layout
            for city in GAUGES:
                assert (state / city / "state.npz").stat().st_size > 0
                assert (state / city / "inbox.log").stat().st_size == 0  # checkpointed
            assert not (state / "state.npz").exists()

            # while stopped: each city's session keeps its telemetry for it
            await publish(mosquitto, readings("bandung", t0, range(2, 3))
                          + readings("bogor", t0, range(2, 3)))
            proc = start(config, log)
            # Siaga III -> II: the level before is each city's own, from its checkpoint
            await until(lambda: all(len(siaga_changes(got, c)) == 2 for c in GAUGES),
                        "a Siaga II event of each city, after the restart")
            assert siaga_changes(got, "bandung") == siaga_changes(got, "bogor") == \
                [(4, 3), (3, 2)]
            await until(lambda: stored_levels(influxdb, database, "bandung")
                        == {"flood-cikapundung-dago": 3}
                        and stored_levels(influxdb, database, "bogor")
                        == {"flood-katulampa": 3}, "each city's third point")
            assert samples(metrics(), "cityhub_analytics_messages_total") == \
                {"bandung": 1.0, "bogor": 1.0}
    finally:
        if proc.poll() is None:
            stop(proc)
    text = log.read_text()
    assert "Traceback" not in text
    for city in GAUGES:
        assert f"resumed from the checkpoint in {state / city} " in text


def test_pack_and_packs_together_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "analytics.yaml"
    path.write_text("pack: bandung\npacks: [bandung, bogor]\n")
    with pytest.raises(ConfigError, match=r"give pack \(one city\) or packs \(several\), "
                       "not both"):
        load_settings(path, AnalyticsSettings)
    path.write_text("client_id: a\n")
    with pytest.raises(ConfigError, match=r"pack .* or packs .* is required"):
        load_settings(path, AnalyticsSettings)


def test_one_pack_keeps_its_session_state_and_endpoint(tmp_path: Path) -> None:
    """``pack:`` is one city's service as before; with ``packs:`` (even of one) each city
    gets its own session and state directory, and no endpoint of its own."""
    path = tmp_path / "analytics.yaml"
    path.write_text("pack: bandung\nstate_dir: /s\nmetrics_port: 9109\n")
    one = load_settings(path, AnalyticsSettings)
    assert one.pack_names == ("bandung",) and not one.per_city
    assert one.for_city("bandung", "bandung") == one
    path.write_text("packs: [bandung]\nclient_id: an\nstate_dir: /s\n")
    listed = load_settings(path, AnalyticsSettings)
    assert listed.per_city and listed.for_city("bandung", "bandung").state_dir == "/s/bandung"
    path.write_text("packs: [bandung, bogor]\nclient_id: an\nstate_dir: /s\n"
                    "metrics_port: 9109\n")
    several = load_settings(path, AnalyticsSettings)
    assert several.per_city
    bogor = several.for_city("bogor", "bogor")
    assert (bogor.client_id, bogor.state_dir, bogor.metrics_port) == ("an-bogor", "/s/bogor",
                                                                      None)
    assert bogor.pack_names == ("bogor",)
    assert bogor.detection == several.detection and bogor.broker == several.broker


def test_two_packs_of_one_city_are_refused_at_start(tmp_path: Path) -> None:
    for name in ("bandung", "bogor"):  # bogor extends ../bandung
        shutil.copytree(pack_dir(name), tmp_path / name)
    config = tmp_path / "analytics.yaml"
    config.write_text(f"packs: [bogor, {tmp_path / 'bogor'}]\n")
    done = subprocess.run([sys.executable, "-m", "cityhub", "analytics", "run", "--config",
                           str(config)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2
    assert "is also the city of bogor: one pack per city" in done.stdout + done.stderr


def test_the_several_cities_example_in_the_docs_loads(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "analytics.md").read_text()
    section = doc.split("### Several cities", 1)[1]
    path = tmp_path / "analytics.yaml"
    path.write_text(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    settings = load_settings(path, AnalyticsSettings)
    assert settings.pack_names == ("bandung", "bogor") and settings.metrics_port == 9109
    bandung = settings.for_city("bandung", "bandung")
    assert (bandung.client_id, bandung.state_dir) == ("cityhub-analytics-1-bandung",
                                                      str(Path("var/analytics/bandung")))
