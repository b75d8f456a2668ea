"""A traffic sensor that drifts: its speed sits off its corridor's for hours (``drift``
events of the traffic rules); and what must not read as drift: the whole corridor
slowing (rain), an incident of an hour and a half at one sensor. The window median
they stand on (:class:`analytics.live.levels.WindowMedian`) is tested against its
reference in test_kernels.py."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from analytics.live.engine import Engine
from analytics.live.events import Event, iso
from analytics.settings import DetectionSettings
from cityhub.config import load_pack
from cityhub.config.pack import CityPack
from cityhub.senml import Reading
from tests.conftest import write_small_pack

MONDAY_6 = 1767571200 - 3600  # 2026-01-05 06:00 WIB
ROAD = ("tfc-a1", "tfc-a2", "tfc-a3", "tfc-a4")
CORRIDOR = """\
id: gw-c
district: south
location: {lat: -6.91, lon: 107.60}
sensors:
  - {id: tfc-a1, domain: traffic, location: {lat: -6.921, lon: 107.601}}
  - {id: tfc-a2, domain: traffic, location: {lat: -6.922, lon: 107.602}}
  - {id: tfc-a3, domain: traffic, location: {lat: -6.923, lon: 107.603}}
  - {id: tfc-a4, domain: traffic, location: {lat: -6.924, lon: 107.604}}
"""


@pytest.fixture
def pack(tmp_path: Path) -> CityPack:
    """tfc-a1..a4 on one corridor."""
    root = write_small_pack(tmp_path / "pack", f"test-{uuid.uuid4().hex[:8]}")
    (root / "gateways" / "gw-c.yaml").write_text(CORRIDOR)
    with (root / "city.yaml").open("a") as f:
        f.write(f"corridors:\n  - {{id: road-a, name: Road A, sensors: [{', '.join(ROAD)}]}}\n")
    return load_pack(root)


Speed = Callable[[str, float], float]  # (sensor, hours since 06:00) -> its speed factor


def run(pack: CityPack, week_3: Speed, *, weeks: int = 3, faulty_week: int = 2,
        params: DetectionSettings | None = None) -> list[Event]:
    """Mondays (three), 06:00-22:00, every sensor every minute, in micro-batches of ten
    minutes; the speeds of the third (``faulty_week``) times ``week_3``; the traffic
    ``drift`` events."""
    engine = Engine(pack, params or DetectionSettings())
    events: list[Event] = []
    for week in range(weeks):
        for start in range(0, 16 * 60, 10):
            batch = []
            for m in range(start, start + 10):
                t = (MONDAY_6 + week * 7 * 86400 + 60 * m) * 10**9
                for k, road in enumerate(ROAD):
                    speed = 45.0 - 12 * math.sin(math.pi * m / 960) + 0.3 * ((m + k) % 3)
                    if week == faulty_week:
                        speed *= week_3(road, m / 60)
                    batch += [Reading(road, "averageVehicleSpeed", speed, t),
                              Reading(road, "occupancy", 0.2 + 0.005 * ((m + k) % 2), t)]
            events += [e for e in engine.process(batch)[1] if e.kind == "drift"]
    return events


def at(h: float) -> str:
    return iso(round((MONDAY_6 + 14 * 86400 + h * 3600) * 10**9))


def test_a_sensor_reading_40_percent_low_from_08_00_has_drifted(pack: CityPack) -> None:
    """From 08:00 tfc-a1 reads 40 % low (a radar knocked out of line), back at 16:00: the
    window's median (06:00 on: 12 buckets before the step) tips once 13 buckets are low,
    at 10:10; held two hours, told at 12:10; closed when the low ones are outnumbered."""
    events = run(pack, lambda road, h: 0.6 if road == "tfc-a1" and 2 <= h < 10 else 1.0)
    opened, closed = events
    assert (opened.device, opened.domain, opened.severity) == ("tfc-a1", "traffic", "warning")
    assert opened.start == at(4 + 10 / 60) and opened.end is None
    assert opened.detail["ratio_to_neighbours"] == pytest.approx(0.6, abs=0.02)
    assert opened.detail["window_h"] == 6.0
    assert closed.id == opened.id and closed.end is not None and closed.end > at(10)
    # reading high is drift too
    [high, _] = run(pack, lambda road, h: 1.4 if road == "tfc-a2" and 2 <= h < 10 else 1.0)
    assert high.device == "tfc-a2" and high.detail["ratio_to_neighbours"] > 1.3


def test_what_is_not_drift(pack: CityPack) -> None:
    # the whole corridor slows by 40 % all afternoon (heavy rain, a match in town)
    assert run(pack, lambda road, h: 0.6 if 6 <= h < 14 else 1.0) == []
    # an incident at one sensor: an hour and a half at 40 % of its speed
    assert run(pack, lambda road, h: 0.4 if road == "tfc-a3" and 4 <= h < 5.5 else 1.0) == []
    # 15 % low all day: within the sensor's tolerance
    assert run(pack, lambda road, h: 0.85 if road == "tfc-a1" else 1.0) == []


def test_a_drifting_sensor_tells_no_incident(pack: CityPack) -> None:
    """tfc-a1 reads 40 % low from 08:00 (a drift, told at 12:10); at 15:00 a lane is
    blocked at tfc-a1 and tfc-a2 (speed down 60 %, occupancy up 150 %): an incident at
    tfc-a2, nothing at tfc-a1, known to be drifting (its speed is not to be trusted)."""
    engine = Engine(pack, DetectionSettings())
    kinds: list[tuple[str, str]] = []
    for week in range(3):
        for start in range(0, 16 * 60, 10):
            batch = []
            for m in range(start, start + 10):
                t = (MONDAY_6 + week * 7 * 86400 + 60 * m) * 10**9
                for k, road in enumerate(ROAD):
                    speed = 45.0 - 12 * math.sin(math.pi * m / 960) + 0.3 * ((m + k) % 3) \
                        + 0.4 * week  # weeks a little apart: a spread to score against
                    occ = 0.2 + 0.01 * week + 0.005 * ((m + k) % 2)
                    if week == 2 and road in ("tfc-a1", "tfc-a2"):
                        blocked = 9 * 60 <= m < 10 * 60
                        drifting = road == "tfc-a1" and m >= 2 * 60
                        speed *= (0.6 if drifting else 1) * (0.4 if blocked else 1)
                        occ *= 2.5 if blocked else 1
                    batch += [Reading(road, "averageVehicleSpeed", speed, t),
                              Reading(road, "occupancy", occ, t)]
            kinds += [(e.device, e.kind) for e in engine.process(batch)[1] if e.end is None]
    assert ("tfc-a1", "drift") in kinds and ("tfc-a2", "incident") in kinds
    assert ("tfc-a1", "incident") not in kinds


def test_the_events_do_not_depend_on_the_batches(pack: CityPack) -> None:
    """A lane blocked at tfc-a1 from 12:08, two minutes before its drift is told (12:10,
    from the condition that began at 10:10): whether the stream comes in ten-minute or
    one-minute batches, the same events (the readings after the drift opened judged as a
    drifting sensor's, whichever batch they are in)."""

    def readings(week: int, m: int) -> list[Reading]:
        t = (MONDAY_6 + week * 7 * 86400 + 60 * m) * 10**9
        out = []
        for k, road in enumerate(ROAD):
            speed = 45.0 - 12 * math.sin(math.pi * m / 960) + 0.3 * ((m + k) % 3) + 0.4 * week
            occ = 0.2 + 0.01 * week + 0.005 * ((m + k) % 2)
            if week == 2 and road == "tfc-a1":
                blocked = 368 <= m < 428
                speed *= (0.6 if m >= 120 else 1) * (0.4 if blocked else 1)
                occ *= 2.5 if blocked else 1
            out += [Reading(road, "averageVehicleSpeed", speed, t),
                    Reading(road, "occupancy", occ, t)]
        return out

    def events(minutes: int) -> list[tuple[str, str, str, bool]]:
        engine = Engine(pack, DetectionSettings())
        got = []
        for week in range(3):
            size = minutes if week == 2 else 10
            for start in range(0, 16 * 60, size):
                batch = [r for m in range(start, start + size) for r in readings(week, m)]
                got += [(e.device, e.kind, e.start, e.end is None)
                        for e in engine.process(batch)[1] if e.kind in ("drift", "incident")]
        return got

    ten = events(10)
    assert ten == events(1)
    assert [k for _, k, _, _ in ten] == ["drift"]
