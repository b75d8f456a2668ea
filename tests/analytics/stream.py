"""A deterministic telemetry stream of the small test pack (tests/conftest.py) with known
episodes in it, for the streaming engine and service tests: congestion on tfc-1, a stuck
tfc-2, a river rising through Siaga III and II twice (with a river link downstream), a lamp
burning by day and one dark at night, and a heavy shower."""

from __future__ import annotations

import math
from pathlib import Path

from analytics.lighting import sun_elevation
from cityhub.senml import Reading, encode_pack
from cityhub.topics import telemetry_topic

T0 = 1_793_491_200  # 2026-11-01 00:00 UTC (07:00 in Bandung)
STEP = 60
MINUTES = 720
LAT, LON = -6.894, 107.604  # lamp-1

RIVER = """\
rivers:
  - id: test-river
    name: Test River
    forecast_points:
      - {id: downtown, name: Downtown, location: {lat: -6.2, lon: 106.8}}
    links:
      - {upstream: river-1, downstream: downtown, travel_h: [1, 3]}
"""


def add_river(pack_dir: Path) -> None:
    """Give the small pack a river link from river-1 to a forecast point."""
    city = pack_dir / "city.yaml"
    city.write_text(city.read_text() + RIVER)


def _minute(m: int) -> dict[str, list[Reading]]:
    t = T0 + m * STEP
    ns = t * 10**9
    jam = 100 <= m < 160 or 400 <= m < 430
    speed_1 = 20.0 + (m % 3) if jam else 45.0 + (m % 5) * 0.5
    speed_2 = 40.0 if 200 <= m < 260 else 38.0 + (m % 7) * 0.5
    level = 0.6 + 1.7 * max(0.0, math.sin(2 * math.pi * m / 360)) + (m % 3) * 0.001
    night = float(sun_elevation(LAT, LON, [t])[0]) < -3
    power = 90.0 + (m % 4) * 0.5 if night else 0.0
    if 300 <= m < 360:  # burning by day (Bandung's noon: minutes 300 .. 360 after 07:00)
        power = 90.0 + (m % 4) * 0.5
    if 660 <= m < 700:  # dark at night (18:00 .. 18:40 + )
        power = 0.0
    rain = 25.0 + (m % 4) if 50 <= m < 80 else 0.0
    return {
        "traffic": [Reading("tfc-1", "averageVehicleSpeed", speed_1, ns, 10 * m),
                    Reading("tfc-1", "occupancy", 0.2, ns, 10 * m + 1),
                    Reading("tfc-2", "averageVehicleSpeed", speed_2, ns, 10 * m + 2)],
        "flood": [Reading("river-1", "currentLevel", round(level, 3), ns, 10 * m + 3)],
        "lighting": [Reading("lamp-1", "activePower", power, ns, 10 * m + 4)],
        "rain": [Reading("rain-1", "rainRate", rain, ns, 10 * m + 5)],
    }


def messages(city: str, minutes: int = MINUTES) -> list[tuple[str, bytes]]:
    """(topic, payload) of every message, in publishing order: one pack per domain a
    minute, from gateway gw-a."""
    out = []
    for m in range(minutes):
        for domain, readings in _minute(m).items():
            out.append((telemetry_topic(city, domain, "gw-a"),
                        encode_pack(readings, domain=domain)))
    return out
