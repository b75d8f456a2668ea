"""The alarms page in a real headless Chromium, against the real alerts service (real
Mosquitto) sharing the dashboards' accounts file: an operator acknowledges an alarm and
the audit trail names him; a viewer is refused."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from selenium.common.exceptions import StaleElementReferenceException

from accounts.store import Accounts
from cityhub.config.pack import CityPack
from cityhub.store import SQLiteStore
from dashboards.app import create_app
from dashboards.data import CityData
from devservices import LocalMosquitto
from tests.alerts.service_kit import serving, settings_for
from tests.dashboards.conftest import Served, login, settings, shot
from tests.dashboards.test_alarms_client import pack_with_alarms, publish_level

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ROW_RULE = "#alarms-table .ag-center-cols-container .ag-row .ag-cell[col-id='rule']"
# what the browser would send if the viewer's disabled "Resolve" were clicked anyway
FORCED_CLICK = """
const done = arguments[arguments.length - 1];
const ids = ["acknowledge", "assign", "comment", "resolve", "close"];
fetch("/_dash-update-component", {method: "POST", headers: {"Content-Type":
      "application/json"}, body: JSON.stringify({
  output: "..alarms-feedback.children...alarms-changed.data..",
  outputs: [{id: "alarms-feedback", property: "children"},
            {id: "alarms-changed", property: "data"}],
  inputs: ids.map(a => ({id: "alarms-" + a, property: "n_clicks",
                         value: a === "resolve" ? 1 : null})),
  changedPropIds: ["alarms-resolve.n_clicks"],
  state: [{id: "alarms-table", property: "selectedRows", value: [{id: arguments[0]}]},
          {id: "alarms-assignee", property: "value", value: null},
          {id: "alarms-comment-text", property: "value", value: null},
          {id: "alarms-changed", property: "data", value: 0}]})})
  .then(r => r.text().then(t => done([r.status, t])));
"""


def select_row(dash_duo: Any) -> None:
    """Click the alarm's row until the grid says it is selected: the table refreshes
    every tick, and a click that lands while it re-renders selects nothing."""
    for _ in range(10):
        with contextlib.suppress(StaleElementReferenceException):
            dash_duo.find_element(ROW_RULE).click()
            if dash_duo.driver.find_elements(
                    "css selector", "#alarms-table .ag-row.ag-row-selected"):
                return
        time.sleep(0.5)
    raise AssertionError("the alarm's row never became selected")


@contextlib.contextmanager
def alerts_service(pack: CityPack, mosquitto: LocalMosquitto, tmp: Path) -> Iterator[str]:
    """The alerts service running on its own event loop (a thread) until the block ends;
    yields its API's URL."""
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(
            serving(settings_for(mosquitto.port, tmp), pack, {})) as service:
        yield f"http://127.0.0.1:{service.http_port}"


def test_operator_acknowledges_and_viewer_is_refused(
        dash_duo: Any, small_pack: CityPack, accounts: Accounts, mosquitto: LocalMosquitto,
        tmp_path: Path, city_data: tuple[CityData, SQLiteStore]) -> None:
    pack = pack_with_alarms(small_pack)

    async def open_store() -> SQLiteStore:  # the fixture's store, read with the same pack
        return SQLiteStore(tmp_path / "r.db")  # as the alerts service's (its departments)

    data = CityData(pack, open_store, cache_s=0)
    with alerts_service(pack, mosquitto, tmp_path) as url:
        data.call(lambda: publish_level(pack, mosquitto.port, 1.6))  # Siaga III: an alarm
        public = accounts.issue_token("vera", "public view")
        app = create_app(data, settings(alerts_api=url, public_token=public),
                         accounts=accounts)
        served = Served(dash_duo, app)
        try:
            login(dash_duo, "otto", "/alarms")
            dash_duo.wait_for_contains_text("#alarms-table", "river-1", timeout=30)
            assert "River at Siaga level" in dash_duo.find_element("#alarms-table").text
            assert not dash_duo.find_element("#alarms-acknowledge").is_enabled()
            select_row(dash_duo)
            dash_duo.wait_for_text_to_equal("#alarms-detail-title", "River at Siaga level",
                                             timeout=15)
            dash_duo.wait_for_contains_text("#alarms-audit", "system", timeout=10)
            dash_duo.wait_for_element("#alarms-acknowledge:not([disabled])", timeout=10)
            dash_duo.find_element("#alarms-acknowledge").click()
            dash_duo.wait_for_contains_text("#alarms-feedback", "Acknowledged.", timeout=15)
            dash_duo.wait_for_contains_text("#alarms-audit", "otto", timeout=15)
            dash_duo.wait_for_contains_text("#alarms-table", "acknowledged", timeout=15)
            assert "otto" in dash_duo.find_element("#alarms-table").text  # acknowledged by
            dash_duo.wait_for_element("#alarms-resolve:not([disabled])", timeout=10)
            assert not dash_duo.find_element("#alarms-acknowledge").is_enabled()
            shot(dash_duo, "alarms")

            # the filters go into the URL, and a shared URL opens the same view
            dash_duo.select_dcc_dropdown("#alarms-severity", "critical")
            dash_duo.wait_for_contains_text("#alarms-message", "Alarms: 0 ", timeout=15)
            assert "severity=critical" in dash_duo.driver.current_url
            dash_duo.driver.get(f"{dash_duo.server.url}/alarms?severity=warning")
            dash_duo.wait_for_contains_text("#alarms-table", "river-1", timeout=30)
            dash_duo.wait_for_contains_text("#alarms-message", "Alarms: 1 ", timeout=15)

            # a viewer sees the alarm but cannot act, even by reaching the server
            dash_duo.find_element("#shell-logout").click()
            dash_duo.wait_for_element("#login-form", timeout=10)
            login(dash_duo, "vera", "/alarms")
            dash_duo.wait_for_contains_text("#alarms-table", "river-1", timeout=30)
            select_row(dash_duo)
            dash_duo.wait_for_contains_text("#alarms-audit", "otto", timeout=15)
            for action in ("acknowledge", "assign", "comment", "resolve", "close"):
                assert not dash_duo.find_element(f"#alarms-{action}").is_enabled(), action
            assert "operator role" in dash_duo.find_element("#alarms-feedback").text
            aid = dash_duo.driver.execute_script(
                "return document.querySelector('#alarms-table .ag-center-cols-container "
                ".ag-row').getAttribute('row-id')")
            status, answer = dash_duo.driver.execute_async_script(FORCED_CLICK, aid)
            assert status == 200, answer
            said = json.dumps(json.loads(answer)["response"]["alarms-feedback"])
            assert "You are not allowed: needs the operator role; you are viewer" in said
            dash_duo.wait_for_contains_text("#alarms-table", "acknowledged", timeout=10)
            assert "resolved" not in dash_duo.find_element("#alarms-table").text

            # the overview's live feed and the sensor's page show the same alarm
            dash_duo.driver.get(dash_duo.server.url)
            dash_duo.wait_for_contains_text("#overview-alarms", "River at Siaga level",
                                            timeout=20)
            assert "acknowledged" in dash_duo.find_element("#overview-alarms").text
            dash_duo.driver.get(f"{dash_duo.server.url}/sensor/river-1")
            dash_duo.wait_for_contains_text("#sensor-alarms", "River at Siaga level",
                                            timeout=20)
            dash_duo.driver.get(f"{dash_duo.server.url}/sensor/tfc-1")
            dash_duo.wait_for_contains_text("#sensor-alarms", "No alarm of this sensor",
                                            timeout=20)

            # the public view: the department's response, in numbers, no names
            dash_duo.driver.get(f"{served.url}/public")
            dash_duo.wait_for_contains_text("#public-response", "Pusdalops", timeout=10)
            response = dash_duo.find_element("#public-response").text
            assert "otto" not in response and "vera" not in response
            logs = dash_duo.get_logs()
            assert logs == [], logs
        finally:
            served.stop()
            data.close()
