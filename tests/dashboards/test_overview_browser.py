"""The overview page in a real headless Chromium (dash[testing] + Debian's chromium)."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.store import Accounts
from cityhub.config.pack import CityPack
from cityhub.store import SQLiteStore
from dashboards.app import create_app
from dashboards.data import CityData
from tests.dashboards.conftest import Served, login, points, settings, shot

pytestmark = pytest.mark.browser


def test_overview_shows_live_city(dash_duo: Any, small_pack: CityPack, accounts: Accounts,
                                  city_data: tuple[CityData, SQLiteStore]) -> None:
    data, writer = city_data
    app = create_app(data, settings(), accounts=accounts)
    served = Served(dash_duo, app)
    try:
        dash_duo.driver.get(dash_duo.server.url)  # not logged in: the login form
        dash_duo.wait_for_element("#login-form", timeout=10)
        login(dash_duo, "vera")
        dash_duo.wait_for_text_to_equal("#overview-kpi-reporting", "5/6", timeout=20)
        dash_duo.wait_for_text_to_equal("#overview-kpi-flood", "Siaga IV", timeout=10)
        dash_duo.wait_for_element("#overview-map .js-plotly-plot", timeout=10)
        assert dash_duo.find_element("#shell-city").text == "Test City"
        assert dash_duo.find_element("#shell-user").text == "vera (viewer)"
        # the map drew sensor markers (MapLibre canvas) without any tiles or network
        dash_duo.wait_for_element("#overview-map canvas", timeout=10)
        assert "LOS A" in dash_duo.find_element("#overview-legend").text
        shot(dash_duo, "overview-normal")

        # new readings arrive: the page follows without a reload
        writer.write_sync(points(small_pack, speed=8.0, level=3.5))
        dash_duo.wait_for_text_to_equal("#overview-kpi-flood", "Siaga I", timeout=20)
        dash_duo.wait_for_text_to_equal("#overview-kpi-congested", "1", timeout=10)
        dash_duo.wait_for_contains_text("#overview-attention", "Siaga I", timeout=10)
        shot(dash_duo, "overview-alarm")

        # the district filter narrows the numbers and goes into the URL
        north = next(d for d in small_pack.districts if d.outline)
        dash_duo.select_dcc_dropdown("#overview-district", north.name)
        there = [d for d, (gw, s) in small_pack.sensors.items()
                 if (s.district or gw.district) == north.id]
        reporting = [d for d in there if d != "tfc-2"]  # tfc-2 is silent
        assert 0 < len(there) < len(small_pack.sensors)
        dash_duo.wait_for_text_to_equal("#overview-kpi-reporting",
                                        f"{len(reporting)}/{len(there)}", timeout=10)
        assert f"district={north.id}" in dash_duo.driver.current_url

        # switch to Bahasa Indonesia: the same page, in the other language
        dash_duo.driver.get(f"{dash_duo.server.url}/language/id")
        dash_duo.wait_for_contains_text("#overview-attention", "km/jam", timeout=10)
        dash_duo.wait_for_text_to_equal("#overview-kpi-flood", "Siaga I", timeout=20)
        shot(dash_duo, "overview-id")
        assert dash_duo.get_logs() == []

        # the session ends (here: the user is disabled): the page goes to the login form
        accounts.set_disabled("vera", True)
        dash_duo.wait_for_element("#login-form", timeout=15)
        assert "/login?next=" in dash_duo.driver.current_url
        refused = dash_duo.get_logs()  # the one callback the server refused, and no other
        assert refused and all("401" in e["message"] for e in refused), refused
    finally:
        served.stop()
