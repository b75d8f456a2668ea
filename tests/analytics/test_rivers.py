"""``cityhub analytics rivers``: a link's travel time as the history shows it, beside the
pack's range, on a SQLite store holding two gauges whose rises are 70 minutes apart."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import random
from pathlib import Path

import pytest

from analytics.rivers import river_lags
from cityhub.cli import main
from cityhub.config import load_pack
from cityhub.point import Point
from cityhub.store import SQLiteStore
from tests.conftest import write_small_pack

T0 = 1_793_491_200  # 2026-11-01 00:00 UTC
LAG_S = 70 * 60

GAUGE = """\
id: gw-b
district: south
location: {lat: -6.91, lon: 107.60}
sensors:
  - {id: tfc-b1, domain: traffic, location: {lat: -6.911, lon: 107.601}}
  - {id: river-2, profile: gauge, location: {lat: -6.912, lon: 107.602}}
"""

RIVERS = """\
rivers:
  - id: test-river
    name: Test River
    forecast_points:
      - {id: delta, name: The Delta, location: {lat: -6.2, lon: 106.8}}
    links:
      - {upstream: river-1, downstream: river-2, travel_h: [FROM, TO]}
      - {upstream: river-1, downstream: delta, travel_h: [6, 12]}
"""


def level(t: float, rises: list[float]) -> float:
    """0.5 m, plus a one-hour swell of 1 m after each rise time."""
    return 0.5 + sum(math.exp(-(((t - r) / 1800) ** 2)) for r in rises)


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Path, Path]:
    root = write_small_pack(tmp_path / "pack", "rivertown")
    (root / "gateways" / "gw-b.yaml").write_text(GAUGE)
    rng = random.Random(4)
    rises = sorted(T0 + rng.uniform(0, 9 * 86400) for _ in range(25))
    db = tmp_path / "readings.db"

    async def fill() -> None:
        pack = load_pack(_with_range(root, 0.5, 2))
        store = SQLiteStore(db)
        points = []
        for device, shift in (("river-1", 0), ("river-2", LAG_S)):
            tags = tuple(sorted(pack.tags_of(device).items()))
            points += [Point("flood", tags, {"currentLevel": level(t - shift, rises)
                                             + rng.gauss(0, 0.002)}, int(t) * 10**9)
                       for t in range(T0, T0 + 10 * 86400, 300)]
        await store.write(points)
        await store.aclose()
    asyncio.run(fill())
    return root, db


def _with_range(root: Path, lo: float, hi: float) -> Path:
    city = root / "city.yaml"
    text = city.read_text().split("rivers:")[0]
    city.write_text(text + RIVERS.replace("FROM", str(lo)).replace("TO", str(hi)))
    return root


async def _lags(root: Path, db: Path) -> list:  # type: ignore[type-arg]
    store = SQLiteStore(db)
    try:
        start = dt.datetime.fromtimestamp(T0, dt.UTC)
        return await river_lags(load_pack(root), store, start,
                                start + dt.timedelta(days=10))
    finally:
        await store.aclose()


def test_the_history_shows_the_travel_time(filled: tuple[Path, Path]) -> None:
    root, db = filled
    gauges, point = asyncio.run(_lags(_with_range(root, 0.5, 2), db))
    assert abs(gauges.lag_h - LAG_S / 3600) <= 10 / 60  # the grid's 10-minute step
    assert gauges.correlation > 0.9 and gauges.within is True
    assert (point.downstream, point.lag_h, point.within) == ("delta", None, None)
    # the same history against a range that no longer holds
    [stale, _] = asyncio.run(_lags(_with_range(root, 3, 5), db))
    assert stale.within is False and "outside" in stale.note


def test_the_command_prints_each_link(filled: tuple[Path, Path],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    root, db = filled
    _with_range(root, 0.5, 2)
    assert main(["analytics", "rivers", "--city", str(root), "--sqlite", str(db),
                 "--from", "2026-11-01", "--to", "2026-11-11"]) == 0
    out = capsys.readouterr().out
    assert "river-1 -> river-2" in out and "within the pack's range" in out
    assert "river-1 -> delta" in out and "forecast point" in out
