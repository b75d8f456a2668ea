"""``cityhub analytics rivers``: a link's travel time as the history shows it, beside the
pack's range, on a SQLite store holding two gauges whose rises are 70 minutes apart."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import random
from pathlib import Path

import pytest

from analytics.live.checkpoint import StateDir
from analytics.live.events import Event, iso
from analytics.rivers import LinkLag, refined_travel, river_lags
from analytics.service import AnalyticsService
from analytics.settings import AnalyticsSettings
from cityhub.cli import main
from cityhub.config import load_pack
from cityhub.point import Point
from cityhub.senml import Reading
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
    root = write_small_pack(tmp_path / "pack", "rivertown", gateways={"gw-b": GAUGE})
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


def test_refined_travel_narrows_within_the_packs_range() -> None:
    def lag(h: float | None, corr: float | None, pack: tuple[float, float] = (0.5, 2.0)
            ) -> LinkLag:
        return LinkLag("r", "up", "down", pack, h, corr, "")

    # 70 minutes, well matched: +/- a quarter of it and the grid's 10 minutes
    lo, hi = refined_travel((0.5, 2.0), lag(7 / 6, 0.95), min_correlation=0.6,
                            margin=0.25)  # type: ignore[misc]
    assert (lo, hi) == (round(7 / 6 - 7 / 24 - 1 / 6, 3), round(7 / 6 + 7 / 24 + 1 / 6, 3))
    # never wider than the pack's range
    assert refined_travel((1.0, 1.3), lag(7 / 6, 0.95, (1.0, 1.3)), min_correlation=0.6,
                          margin=0.25) == (1.0, 1.3)
    # kept: a weak match, no lag, a lag outside the pack's range
    for weak in (lag(7 / 6, 0.4), lag(None, None), lag(3.0, 0.95)):
        assert refined_travel((0.5, 2.0), weak, min_correlation=0.6, margin=0.25) is None


def _service(root: Path, store: SQLiteStore, tmp: Path) -> AnalyticsService:
    settings = AnalyticsSettings(pack=str(root), state_dir=str(tmp / "state"))
    return AnalyticsService(settings, load_pack(root), store, StateDir(tmp / "state"))


def _rise(svc: AnalyticsService, t_s: int) -> list[Event]:
    """river-1 from normal to Siaga III (1.0 m) at ``t_s``: its forecasts downstream."""
    _points, events = svc.engine.process([
        Reading("river-1", "currentLevel", 0.5, (t_s - 60) * 10**9),
        Reading("river-1", "currentLevel", 1.5, t_s * 10**9)])
    return [e for e in events if e.kind == "flood_eta"]


def test_the_live_service_forecasts_with_the_historys_lag(
        filled: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The streaming service correlates the stored history of a gauge-to-gauge link and
    narrows that link's forecast window to it; a link to a forecast point, and a link
    whose range the history contradicts, keep the pack's range (the latter said loudly)."""
    root, db = filled

    async def run(lo: float, hi: float) -> tuple[list[Event], AnalyticsService]:
        store = SQLiteStore(db)
        try:
            svc = _service(_with_range(root, lo, hi), store, tmp_path / f"{lo}-{hi}")
            await svc.refine_rivers(now=T0 + 10 * 86400)
            return _rise(svc, T0 + 11 * 86400), svc
        finally:
            await store.aclose()

    events, svc = asyncio.run(run(0.5, 2))
    by_target = {e.detail["downstream"]: e.detail for e in events}
    gauge, delta = by_target["river-2"], by_target["delta"]
    lo, hi = gauge["travel_h"]
    assert 0.5 <= lo < LAG_S / 3600 < hi <= 2 and hi - lo < 1.5 - 0.01  # narrowed
    assert gauge["travel_h_pack"] == [0.5, 2.0]
    assert abs(gauge["lag_h"] - LAG_S / 3600) <= 10 / 60 and gauge["lag_correlation"] > 0.9
    t = T0 + 11 * 86400
    assert gauge["expected_from"] == iso(int((t + lo * 3600) * 1e9))
    assert delta["travel_h"] == [6.0, 12.0] and "lag_h" not in delta  # a forecast point
    get = svc.metrics.registry.get_sample_value
    labels = {"upstream": "river-1", "downstream": "river-2"}
    assert get("cityhub_analytics_river_travel_refined", labels) == 1
    assert abs(get("cityhub_analytics_river_lag_hours", labels) - LAG_S / 3600) <= 10 / 60

    caplog.set_level(logging.WARNING, "cityhub.analytics")
    events, svc = asyncio.run(run(3, 5))
    gauge = {e.detail["downstream"]: e.detail for e in events}["river-2"]
    assert gauge["travel_h"] == [3.0, 5.0] and "lag_h" not in gauge
    assert svc.metrics.registry.get_sample_value(
        "cityhub_analytics_river_travel_refined", labels) == 0
    assert any("lies outside the pack's travel_h" in r.getMessage() for r in caplog.records)
