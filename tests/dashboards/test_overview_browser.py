"""The overview page in a real headless Chromium (dash[testing] + Debian's chromium)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from cityhub.config.pack import CityPack
from cityhub.point import Point
from cityhub.store import SQLiteStore
from dashboards.app import create_app
from dashboards.context import DashboardSettings
from dashboards.data import CityData
from devservices import free_port

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def points(pack: CityPack, speed: float, level: float) -> list[Point]:
    now = int(time.time() * 1e9)

    def p(device: str, meas: str, **fields: object) -> Point:
        return Point(meas, tuple(sorted(pack.tags_of(device).items())), fields, now)  # type: ignore[arg-type]

    return [p("tfc-1", "traffic", averageVehicleSpeed=speed, intensity=20.0),
            p("tfc-b1", "traffic", averageVehicleSpeed=48.0, intensity=5.0),
            p("river-1", "flood", currentLevel=level),
            p("lamp-1", "lighting", powerState="on", status="ok", activePower=90.0),
            p("rain-1", "rain", rainRate=3.0, precipitation=0.05)]


def test_overview_shows_live_city(dash_duo: Any, small_pack: CityPack, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    writer = SQLiteStore(db)
    writer.write_sync(points(small_pack, speed=45.0, level=0.5))

    async def open_store() -> SQLiteStore:
        return SQLiteStore(db)

    data = CityData(small_pack, open_store, cache_s=0)
    app = create_app(data, DashboardSettings(refresh_s=0.5))
    try:
        dash_duo.start_server(app, port=free_port())
        dash_duo.wait_for_text_to_equal("#kpi-reporting", "5/6", timeout=20)
        dash_duo.wait_for_text_to_equal("#kpi-flood", "Siaga IV", timeout=10)
        dash_duo.wait_for_element("#city-map .js-plotly-plot", timeout=10)
        assert dash_duo.find_element("#city-name").text == "Test City"
        # the map drew sensor markers (MapLibre canvas) without any tiles or network
        dash_duo.wait_for_element("#city-map canvas", timeout=10)
        SHOTS.mkdir(parents=True, exist_ok=True)
        dash_duo.driver.save_screenshot(str(SHOTS / "overview-normal.png"))

        # new readings arrive: the page follows without a reload
        writer.write_sync(points(small_pack, speed=8.0, level=3.5))
        dash_duo.wait_for_text_to_equal("#kpi-flood", "Siaga I", timeout=20)
        dash_duo.wait_for_text_to_equal("#kpi-congested", "1", timeout=10)
        dash_duo.wait_for_contains_text("#attention-list", "Siaga I", timeout=10)
        dash_duo.driver.save_screenshot(str(SHOTS / "overview-alarm.png"))
        logs = dash_duo.get_logs()
        assert logs == []
    finally:
        dash_duo.driver.get("about:blank")  # stop the page polling before the store closes
        data.close()
        writer.write_sync([])
