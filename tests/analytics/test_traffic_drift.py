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
    corridor = f"corridors:\n  - {{id: road-a, name: Road A, sensors: [{', '.join(ROAD)}]}}\n"
    return load_pack(write_small_pack(tmp_path / "pack", f"test-{uuid.uuid4().hex[:8]}",
                                      gateways={"gw-c": CORRIDOR}, city_extra=corridor))


# (sensor, hours since 06:00) -> factors of its speed and its occupancy on the third Monday
Change = Callable[[str, float], tuple[float, float]]


def minute(week: int, m: int, change: Change) -> list[Reading]:
    """Every sensor's speed and occupancy at minute ``m`` after 06:00 of Monday ``week``
    (the weeks a little apart, a spread for the scores)."""
    t = (MONDAY_6 + week * 7 * 86400 + 60 * m) * 10**9
    out = []
    for k, road in enumerate(ROAD):
        speed = 45.0 - 12 * math.sin(math.pi * m / 960) + 0.3 * ((m + k) % 3) + 0.4 * week
        occ = 0.2 + 0.01 * week + 0.005 * ((m + k) % 2)
        if week == 2:
            on_speed, on_occ = change(road, m / 60)
            speed, occ = speed * on_speed, occ * on_occ
        out += [Reading(road, "averageVehicleSpeed", speed, t),
                Reading(road, "occupancy", occ, t)]
    return out


def events(pack: CityPack, change: Change, *, minutes: int = 10,
           kinds: tuple[str, ...] = ("drift",)) -> list[Event]:
    """Three Mondays, 06:00-22:00, every sensor every minute (the third changed by
    ``change``, in batches of ``minutes``; the others of ten): the events of ``kinds``."""
    engine = Engine(pack, DetectionSettings())
    got: list[Event] = []
    for week in range(3):
        size = minutes if week == 2 else 10
        for start in range(0, 16 * 60, size):
            batch = [r for m in range(start, start + size) for r in minute(week, m, change)]
            got += [e for e in engine.process(batch)[1] if e.kind in kinds]
    return got


def run(pack: CityPack, speed: Callable[[str, float], float]) -> list[Event]:
    """The drift events of the third Monday's speeds times ``speed(sensor, hours)``."""
    return events(pack, lambda road, h: (speed(road, h), 1.0))


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

    def change(road: str, h: float) -> tuple[float, float]:
        blocked = road in ("tfc-a1", "tfc-a2") and 9 <= h < 10
        drifting = road == "tfc-a1" and h >= 2
        return (0.6 if drifting else 1) * (0.4 if blocked else 1), 2.5 if blocked else 1

    kinds = [(e.device, e.kind) for e in events(pack, change, kinds=("drift", "incident"))
             if e.end is None]
    assert ("tfc-a1", "drift") in kinds and ("tfc-a2", "incident") in kinds
    assert ("tfc-a1", "incident") not in kinds


def test_the_events_do_not_depend_on_the_batches(pack: CityPack) -> None:
    """A lane blocked at tfc-a1 from 12:08, two minutes before its drift is told (12:10,
    from the condition that began at 10:10): whether the stream comes in ten-minute or
    one-minute batches, the same events (the readings after the drift opened judged as a
    drifting sensor's, whichever batch they are in)."""

    def change(road: str, h: float) -> tuple[float, float]:
        if road != "tfc-a1":
            return 1.0, 1.0
        blocked = 368 <= round(h * 60) < 428
        return (0.6 if h >= 2 else 1) * (0.4 if blocked else 1), 2.5 if blocked else 1

    def seen(minutes: int) -> list[tuple[str, str, str, bool]]:
        return [(e.device, e.kind, e.start, e.end is None)
                for e in events(pack, change, minutes=minutes, kinds=("drift", "incident"))]

    ten = seen(10)
    assert ten == seen(1)
    assert [k for _, k, _, _ in ten] == ["drift"]
