"""The traffic, flood and lighting pages in a real headless Chromium, on readings and
derived points written to the real SQLite store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accounts.store import Accounts
from cityhub.config import load_pack
from cityhub.config.pack import CityPack
from cityhub.point import Point
from cityhub.store import SQLiteStore
from dashboards.app import create_app
from dashboards.data import CityData
from dashboards.i18n import Lang
from tests.conftest import write_small_pack
from tests.dashboards.conftest import Served, login, points, settings, shot, text_of

pytestmark = pytest.mark.browser

RIVER = """
rivers:
  - id: test-river
    name: Test River
    forecast_points:
      - {id: sea-gate, name: Sea Gate, location: {lat: -6.80, lon: 107.70}}
    links:
      - {upstream: river-1, downstream: sea-gate, travel_h: [2, 4]}
"""


@pytest.fixture
def river_pack(tmp_path: Path) -> CityPack:
    """The small city, with river-1 flowing to a place downstream, outside the city."""
    return load_pack(write_small_pack(tmp_path / "pack", f"test-{uuid.uuid4().hex[:8]}",
                                      city_extra=RIVER))


@pytest.fixture
def live(river_pack: CityPack, tmp_path: Path) -> Iterator[tuple[CityData, int]]:
    """Readings now (tfc-1 slow, river-1 at Siaga III, lamp-1 on), the analytics' derived
    points of them, and three earlier hours of tfc-1 and lamp-1; the readings' time."""
    pack = river_pack
    now_points = points(pack, speed=10.0, level=1.5)
    t = next(x.time_ns for x in now_points if dict(x.tags)["device"] == "river-1")

    def p(device: str, meas: str, time_ns: int, **fields: object) -> Point:
        return Point(meas, tuple(sorted(pack.tags_of(device).items())), fields, time_ns)  # type: ignore[arg-type]

    derived = [p("tfc-1", "traffic_state", t, tti=5.0, los="F", congested=True,
                 incident=True),
               p("river-1", "flood_state", t, siaga=3.0, rise_m_per_h=0.25,
                 eta_next_level_s=7200.0),
               p("lamp-1", "light_state", t, fault="day_burning", sun_elevation=40.0)]
    hour = 3600 * 10**9
    earlier = [p("tfc-1", "traffic", t - k * hour, averageVehicleSpeed=30.0, intensity=9.0)
               for k in (1, 2, 3)]
    earlier += [p("lamp-1", "lighting", t - k * hour, powerState="on", status="ok",
                  activePower=90.0) for k in (1, 2, 3)]
    db = tmp_path / "r.db"
    writer = SQLiteStore(db)
    writer.write_sync(earlier + now_points + derived)

    async def open_store() -> SQLiteStore:
        return SQLiteStore(db)

    data = CityData(pack, open_store, cache_s=0)
    yield data, t
    data.close()


def test_traffic_flood_and_lighting_pages(dash_duo: Any, river_pack: CityPack,
                                          accounts: Accounts,
                                          live: tuple[CityData, int]) -> None:
    data, t = live
    app = create_app(data, settings(), accounts=accounts)
    en = Lang("en", river_pack.city.timezone)
    served = Served(dash_duo, app)
    try:
        login(dash_duo, "vera", then="/traffic")

        # traffic: tfc-1 has an incident (first in the table), tfc-2 is silent
        dash_duo.wait_for_text_to_equal(
            "#traffic-summary", "2 of 3 sensors reporting; 1 congested, 1 incidents.",
            timeout=20)
        dash_duo.wait_for_element("#traffic-heatmap .js-plotly-plot", timeout=15)
        link = dash_duo.find_element("#traffic-heatmap a.chart-csv")  # the chart's data
        assert link.get_attribute("download") == "traffic-speed-by-hour.csv"
        assert link.get_attribute("href").startswith("data:text/csv")
        dash_duo.wait_for_element('#traffic-table a[href="/sensor/tfc-1"]', timeout=15)
        dash_duo.wait_for_text_to_equal('#traffic-table .ag-pinned-left-cols-container '
                                        'div[row-index="0"]', "tfc-1", timeout=10)
        # its row: incident, LOS F, a travel-time index of 5
        dash_duo.wait_for_contains_text('#traffic-table .ag-center-cols-container '
                                        'div[row-index="0"]', "incident", timeout=10)
        dash_duo.wait_for_contains_text('#traffic-table .ag-center-cols-container '
                                        'div[row-index="0"]', "5.00", timeout=10)
        # the heatmap's rows: the districts with data
        heat = dash_duo.find_element("#traffic-heatmap").text
        assert "North" in heat and "South" in heat
        assert text_of(dash_duo, '#traffic-roads a[href="/sensor/tfc-b1"]') == "tfc-b1"
        dash_duo.find_element("#traffic-export").click()
        shot(dash_duo, "traffic")

        # flood: river-1 at Siaga III, rising; its water expected at Sea Gate in 2-4 h
        dash_duo.driver.get(f"{dash_duo.server.url}/flood")
        expected = (f"Expected at Sea Gate between {en.when(t / 1e9 + 2 * 3600)} and "
                    f"{en.when(t / 1e9 + 4 * 3600)}")
        dash_duo.wait_for_contains_text("#flood-downstream", expected, timeout=20)
        dash_duo.wait_for_contains_text("#flood-table", "Siaga III", timeout=10)
        for value in ("1.50", "0.25", "in 2 h", "1.00 / 2.00 / 3.00"):
            dash_duo.wait_for_contains_text('#flood-table .ag-center-cols-container '
                                            'div[row-index="0"]', value, timeout=10)
        dash_duo.wait_for_element("#flood-levels .js-plotly-plot", timeout=10)
        dash_duo.wait_for_element('#flood-sparks a[href="/sensor/river-1"]', timeout=10)
        dash_duo.wait_for_element("#flood-sparks .js-plotly-plot", timeout=10)
        shot(dash_duo, "flood")

        # lighting: lamp-1 burns by day (a fault the analytics found), 4 h x 90 W = 0.36 kWh
        dash_duo.driver.get(f"{dash_duo.server.url}/lighting")
        dash_duo.wait_for_text_to_equal("#lighting-kpi-faulty", "1", timeout=20)
        dash_duo.wait_for_text_to_equal("#lighting-kpi-lit", "0/1", timeout=10)
        dash_duo.wait_for_text_to_equal("#lighting-kpi-energy", "0.36", timeout=10)
        dash_duo.wait_for_contains_text("#lighting-table", "burning by day, 90 W",
                                        timeout=10)
        dash_duo.wait_for_element('#lighting-table a[href="/sensor/lamp-1"]', timeout=10)
        dash_duo.wait_for_contains_text("#lighting-counts", "North", timeout=10)
        shot(dash_duo, "lighting")

        # the district filter from the URL: no lamp in the south
        dash_duo.driver.get(f"{dash_duo.server.url}/lighting?district=south")
        dash_duo.wait_for_text_to_equal("#lighting-kpi-lit", "0/0", timeout=20)
        dash_duo.wait_for_contains_text("#lighting-counts", "No street lights here.",
                                        timeout=10)
        dash_duo.wait_for_text_to_equal("#lighting-kpi-energy", "no data", timeout=10)
        assert dash_duo.get_logs() == []
    finally:
        served.stop()
