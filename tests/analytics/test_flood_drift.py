"""A river gauge that drifts: its level creeps up while the gauge linked to it on the
river holds still and the city is dry (``drift`` events of the flood rules); and what
must not read as drift: a flood (rain, both gauges rising), a rise the neighbour shares,
a gauge with no neighbour, a city whose rain is not known."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from analytics.live.engine import Engine
from analytics.live.events import Event
from analytics.settings import DetectionSettings
from cityhub.config import load_pack
from cityhub.config.pack import CityPack
from cityhub.senml import Reading
from tests.conftest import write_small_pack

T0 = 1_793_491_200  # 2026-11-01 00:00 UTC
HOUR = 3600

GAUGES = """\
id: gw-b
district: south
location: {lat: -6.91, lon: 107.60}
sensors:
  - {id: river-2, profile: gauge, location: {lat: -6.912, lon: 107.602}}
  - {id: river-3, profile: gauge, location: {lat: -6.913, lon: 107.603}}
  - {id: rain-2, domain: rain, location: {lat: -6.914, lon: 107.604}}
  - {id: rain-3, domain: rain, location: {lat: -6.915, lon: 107.605}}
"""

RIVER = """\
rivers:
  - id: test-river
    name: Test River
    links:
      - {upstream: river-1, downstream: river-2, travel_h: [0.5, 2]}
"""


@pytest.fixture
def pack(tmp_path: Path) -> CityPack:
    """river-1 -> river-2 on one river; river-3 on no river; three rain gauges."""
    return load_pack(write_small_pack(tmp_path / "pack", f"test-{uuid.uuid4().hex[:8]}",
                                      gateways={"gw-b": GAUGES}, city_extra=RIVER))


def run(pack: CityPack, hours: float, level: dict[str, object], rain: float = 0.0,
        rain_gauges: tuple[str, ...] = ("rain-1", "rain-2", "rain-3")) -> list[Event]:
    """Every gauge every minute for ``hours`` (``level[gauge](hours since T0)``), the rain
    gauges at ``rain`` mm/h, in micro-batches of ten minutes; the drift events."""
    engine = Engine(pack, DetectionSettings())
    events: list[Event] = []
    for start in range(0, int(hours * 60), 10):
        batch = []
        for minute in range(start, start + 10):
            t = T0 + minute * 60
            for gauge, f in level.items():
                batch.append(Reading(gauge, "currentLevel", f(minute / 60), t * 10**9))  # type: ignore[operator]
            batch += [Reading(g, "rainRate", rain, t * 10**9) for g in rain_gauges]
        events += engine.process(batch)[1]
    return [e for e in events if e.kind == "drift" and e.domain == "flood"]


def flat(h: float) -> float:
    return 0.5


def creeping(h: float) -> float:
    """Flat for 8 hours (the city's dry spell and the window fill), then +0.1 m an hour."""
    return 0.5 + max(0.0, h - 8) * 0.1


def test_a_gauge_creeping_up_alone_in_dry_weather_has_drifted(pack: CityPack) -> None:
    events = run(pack, 20, {"river-1": flat, "river-2": creeping, "river-3": flat})
    [opened] = [e for e in events if e.end is None]
    assert opened.device == "river-2" and opened.severity == "warning"
    # 0.3 m over the 6-hour window 3 hours into the creep, then held 2 hours: opened at
    # the start of the condition, told once it had held
    assert opened.start == f"{_iso(T0 + 11 * HOUR)}"
    assert opened.detail["rise_m"] >= 0.3 and opened.detail["neighbours_rise_m"] == 0.0
    assert opened.detail["window_h"] == 6.0


def test_what_is_not_drift(pack: CityPack) -> None:
    # a flood: it rains, and both gauges rise (river-1 an hour ahead)
    assert run(pack, 20, {"river-1": lambda h: creeping(h + 1), "river-2": creeping,
                          "river-3": flat}, rain=5.0) == []
    # rain over the city, one gauge rising alone (a tributary between the two gauges)
    assert run(pack, 20, {"river-1": flat, "river-2": creeping, "river-3": flat},
               rain=5.0) == []
    # dry, but the neighbour upstream rises as much (a release from a dam upstream)
    assert run(pack, 20, {"river-1": lambda h: creeping(h + 1), "river-2": creeping,
                          "river-3": flat}) == []
    # a gauge on no river: nothing to compare with
    assert run(pack, 20, {"river-1": flat, "river-2": flat, "river-3": creeping}) == []
    # fewer than three rain gauges report: the city's rain is not known
    assert run(pack, 20, {"river-1": flat, "river-2": creeping, "river-3": flat},
               rain_gauges=("rain-1",)) == []


def test_the_drift_closes_when_the_gauge_stops_creeping(pack: CityPack) -> None:
    def back(h: float) -> float:  # creeps from hour 8 to 14, then holds at +0.6 m
        return 0.5 + min(max(0.0, h - 8), 6) * 0.1

    events = run(pack, 26, {"river-1": flat, "river-2": back, "river-3": flat})
    assert [(e.device, e.end is None) for e in events] == [("river-2", True),
                                                           ("river-2", False)]
    opened, closed = events
    assert opened.id == closed.id  # one episode, told twice


def _iso(t_s: int) -> str:
    from analytics.live.events import iso

    return iso(t_s * 10**9)
