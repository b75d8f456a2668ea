"""The subscriptions page in Chromium against the real alerts service (and Mosquitto):
a department's operator adds a subscription and removes it again; a viewer, and an
operator of no department, may only read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accounts.store import Accounts
from cityhub.config.pack import CityPack
from cityhub.store import SQLiteStore
from dashboards.app import create_app
from dashboards.data import CityData
from dashboards.data.alarms import AlarmsClient
from devservices import LocalMosquitto
from tests.dashboards.conftest import Served, login, settings, shot
from tests.dashboards.test_alarms_browser import alerts_service
from tests.dashboards.test_alarms_client import pack_with_alarms

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_a_department_manages_its_own_subscriptions(
        dash_duo: Any, small_pack: CityPack, accounts: Accounts, mosquitto: LocalMosquitto,
        tmp_path: Path, city_data: tuple[CityData, SQLiteStore]) -> None:
    pack = pack_with_alarms(small_pack)  # department "ops" (Pusdalops)
    accounts.set_department("otto", "ops")

    async def open_store() -> SQLiteStore:
        return SQLiteStore(tmp_path / "r.db")

    data = CityData(pack, open_store, cache_s=0)
    with alerts_service(pack, mosquitto, tmp_path) as url:
        app = create_app(data, settings(alerts_api=url), accounts=accounts)
        served = Served(dash_duo, app)
        try:
            login(dash_duo, "otto", "/subscriptions?department=ops")
            dash_duo.wait_for_contains_text("#subscriptions-who", "You act for ops",
                                            timeout=20)
            dash_duo.wait_for_contains_text("#subscriptions-table", "city pack", timeout=20)
            dash_duo.wait_for_element("#subscriptions-add:not([disabled])", timeout=10)

            # traffic, from critical, in one district: added through the API as otto
            north = next(d for d in pack.districts if d.outline)
            dash_duo.find_element("#subscriptions-domains input[value='traffic']").click()
            dash_duo.find_element("#subscriptions-severity input[value='critical']").click()
            dash_duo.select_dcc_dropdown("#subscriptions-districts", north.name)
            dash_duo.find_element("#subscriptions-add").click()
            dash_duo.wait_for_contains_text("#subscriptions-feedback", "Added.", timeout=15)
            dash_duo.wait_for_contains_text("#subscriptions-table", "added", timeout=15)
            table = dash_duo.find_element("#subscriptions-table").text
            assert "otto" in table and north.name in table
            token = accounts.issue_token("ada", "test")
            stored = [s for s in data.call(lambda: AlarmsClient(url).subscriptions(
                token, "ops")) if s["source"] == "api"]
            assert [(s["domains"], s["districts"], s["min_severity"], s["created_by"])
                    for s in stored] == [(["traffic"], [north.id], "critical",
                                          "api-token:otto")]  # the API's name of the actor
            shot(dash_duo, "subscriptions")

            # the pack's row cannot be removed; the added one can
            rows = dash_duo.driver.find_elements(
                "css selector", "#subscriptions-table .ag-center-cols-container .ag-row")
            added = next(r for r in rows if "added" in r.text)
            added.find_element("css selector", ".ag-cell").click()
            dash_duo.wait_for_element("#subscriptions-remove:not([disabled])", timeout=10)
            dash_duo.find_element("#subscriptions-remove").click()
            dash_duo.wait_for_contains_text("#subscriptions-feedback", "Removed.", timeout=15)
            assert [s for s in data.call(lambda: AlarmsClient(url).subscriptions(
                token, "ops")) if s["source"] == "api"] == []

            # a viewer reads, and cannot add
            dash_duo.find_element("#shell-logout").click()
            dash_duo.wait_for_element("#login-form", timeout=10)
            login(dash_duo, "vera", "/subscriptions?department=ops")
            dash_duo.wait_for_contains_text("#subscriptions-table", "city pack", timeout=20)
            dash_duo.wait_for_contains_text("#subscriptions-who", "no department",
                                            timeout=10)
            assert not dash_duo.find_element("#subscriptions-add").is_enabled()
            logs = dash_duo.get_logs()
            assert logs == [], logs
        finally:
            served.stop()
            data.close()
