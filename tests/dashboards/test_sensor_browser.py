"""The sensor page in a real headless Chromium: header and state, the history chart,
the range picker in the URL, zooming in, the CSV, a silent and an unknown sensor."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.by import By

from accounts.store import Accounts
from cityhub.config.pack import CityPack
from cityhub.point import Point
from cityhub.store import SQLiteStore
from dashboards.app import create_app
from dashboards.data import CityData
from tests.dashboards.conftest import Served, click, login, settings, shot

pytestmark = pytest.mark.browser

NS = 1_000_000_000
WEEK_MIN = 7 * 24 * 60


def write_week(pack: CityPack, writer: SQLiteStore) -> int:
    """A week of 1-minute levels of river-1 rising to 3.4 m (Siaga I at 3 m) and back,
    with the analytics' Siaga of each reading; returns the newest reading's time (ns)."""
    tags = tuple(sorted(pack.tags_of("river-1").items()))
    # not floored to the minute: the oldest reading, 7 days less a minute before now,
    # stays inside the page's 7-day window for the minute after writing (floored, it
    # left it as soon as the clock passed the next minute: the count then read 20,159)
    now = int(time.time())
    first = now - (WEEK_MIN - 1) * 60
    level = [0.5 + 2.9 * max(0.0, 1 - abs(i - WEEK_MIN / 2) / 600) for i in range(WEEK_MIN)]
    writer.write_sync([Point("flood", tags, {"currentLevel": round(x, 4)}, (first + 60 * i) * NS)
                       for i, x in enumerate(level)])
    writer.write_sync([Point("flood_state", tags, {"siaga": 1.0 if x >= 3 else 4.0},
                             (first + 60 * i) * NS) for i, x in enumerate(level)])
    return now * NS


def plot_data(dash_duo: Any) -> list[dict[str, Any]]:
    """The traces the chart holds: name and number of points of each."""
    return dash_duo.driver.execute_script(  # type: ignore[no-any-return]
        "const gd = document.querySelector('#sensor-history .js-plotly-plot');"
        "return gd && gd.data ? gd.data.map(t => ({name: t.name, n: t.x.length})) : [];")


def test_sensor_page(dash_duo: Any, small_pack: CityPack, accounts: Accounts,
                     city_data: tuple[CityData, SQLiteStore]) -> None:
    data, writer = city_data
    write_week(small_pack, writer)
    app = create_app(data, settings(), accounts=accounts)
    served = Served(dash_duo, app)
    try:
        login(dash_duo, "vera")
        url = dash_duo.server.url
        dash_duo.driver.get(f"{url}/sensor/river-1")
        dash_duo.wait_for_text_to_equal("#sensor-title", "river-1", timeout=15)
        dash_duo.wait_for_contains_text("#sensor-state", "Siaga IV", timeout=10)
        assert dash_duo.find_element("#sensor-district").text == "North"
        assert dash_duo.find_element("#sensor-gateway").text == "gw-a"
        assert dash_duo.find_element("#sensor-domain").text == "flood gauges"
        assert dash_duo.find_element("#sensor-banner").text == ""  # it reports
        # the last 24 h: 1,440 raw levels and their Siaga, each its own panel
        dash_duo.wait_for_contains_text("#sensor-scale", "(raw)", timeout=15)
        until(lambda: len(plot_data(dash_duo)) == 2, timeout=10)
        traces = {t["name"]: t["n"] for t in plot_data(dash_duo)}
        # the week's minutes of the last day, and the fixture's one reading of now
        assert 1440 <= traces["water level"] <= 1442
        assert 0 <= traces["water level"] - traces["Siaga level (analytics)"] <= 1
        # no alerts API in this app: the alarms' place says so (test_alarms_browser.py
        # shows a sensor's alarms from a real alerts service)
        dash_duo.wait_for_contains_text("#sensor-alarms", "alerts API is not configured",
                                        timeout=10)

        # the picker: a week, in the URL; downsampled to at most 2,000 points a trace
        dash_duo.driver.find_element(
            By.XPATH, "//*[@id='sensor-range-preset']//label[normalize-space()='7 d']").click()
        until(lambda: "range=7d" in dash_duo.driver.current_url, timeout=10)
        week_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 7 * 3600 - 7 * 86400))
        until(lambda: dash_duo.find_element("#sensor-range-start").get_attribute("value")
              .startswith(week_ago), timeout=10)
        until(
            lambda: {t["name"]: t["n"] for t in plot_data(dash_duo)}.get("water level", 0)
            == 2000, timeout=15)
        dash_duo.wait_for_contains_text("#sensor-scale", "points read (raw)", timeout=10)
        assert "20,16" in dash_duo.find_element("#sensor-scale").text  # 2 x 10,080 (+1)
        # the flood peak is drawn whole, with the Siaga bands
        peak = dash_duo.driver.execute_script(
            "const gd = document.querySelector('#sensor-history .js-plotly-plot');"
            "let y = gd.data[0].y;"
            "if (!Array.isArray(y)) {"  # a typed array, as plotly.py sends numbers
            "  const b = atob(y.bdata);"
            "  y = Array.from(new Float64Array(Uint8Array.from(b, c => c.charCodeAt(0)).buffer));"
            "}"
            "return Math.max(...y);")
        assert peak == pytest.approx(3.4)
        assert "Siaga I" in dash_duo.find_element("#sensor-history").text
        shot(dash_duo, "sensor-history")

        # zooming in to an hour reads that hour again, raw
        dash_duo.driver.execute_script(
            "const gd = document.querySelector('#sensor-history .js-plotly-plot');"
            "const x = gd.data[0].x; const end = x[x.length - 1];"
            "const t = new Date(end.replace(' ', 'T') + 'Z');"
            "const start = new Date(t.getTime() - 3600e3).toISOString()"
            "  .replace('T', ' ').replace('Z', '');"
            "Plotly.relayout(gd, {'xaxis.range[0]': start, 'xaxis.range[1]': end});")
        until(
            lambda: 59 <= {t["name"]: t["n"] for t in plot_data(dash_duo)}.get(
                "water level", 0) <= 62, timeout=15)
        shown = {t["name"]: t["n"] for t in plot_data(dash_duo)}["water level"]
        assert "range=7d" in dash_duo.driver.current_url

        # the CSV of the shown (zoomed) range: its raw levels, times in WIB
        click(dash_duo, "#sensor-csv")
        target = Path(dash_duo.download_path) / "river-1.csv"
        until(lambda: target.exists() and target.stat().st_size > 0, timeout=10)
        rows = list(csv.reader(target.open()))
        assert rows[0] == ["time", "currentLevel", "measuredDistance"]
        assert len(rows) - 1 == shown
        assert all(r[0].endswith("+07:00") and float(r[1]) >= 0.5 for r in rows[1:])

        # the range inputs follow what is shown; a custom range goes into the URL
        frm = dash_duo.find_element("#sensor-range-start")
        assert len(frm.get_attribute("value")) == 16  # YYYY-MM-DDTHH:MM, the zoom's start
        for sel, value in (("#sensor-range-start", "2020-01-01T06:00"),
                           ("#sensor-range-end", "2020-01-01T18:00")):
            box = dash_duo.find_element(sel)
            box.clear()
            box.send_keys(value)
        click(dash_duo, "#sensor-range-apply")
        until(lambda: "start=2020-01-01T06%3A00&end=2020-01-01T18%3A00"
              in dash_duo.driver.current_url, timeout=10)
        dash_duo.wait_for_text_to_equal("#sensor-scale", "No data in this range", timeout=15)

        # a sensor that never reported says so, and has no data to draw
        dash_duo.driver.get(f"{url}/sensor/tfc-2?range=1h")
        dash_duo.wait_for_contains_text("#sensor-banner", "never sent a reading", timeout=15)
        dash_duo.wait_for_text_to_equal("#sensor-scale", "No data in this range", timeout=15)
        assert "no data" in dash_duo.find_element("#sensor-state").text
        # a shared link's range is taken from the URL
        assert dash_duo.find_element(
            "#sensor-range-preset input:checked").get_attribute("value") == "1h"

        # an unknown id: a message and a way back, no traceback
        dash_duo.driver.get(f"{url}/sensor/no-such-sensor")
        dash_duo.wait_for_contains_text("#sensor-unknown", "no-such-sensor", timeout=15)
        dash_duo.find_element("#sensor-back").click()
        dash_duo.wait_for_element("#overview-kpi-reporting", timeout=15)
        assert dash_duo.get_logs() == []
    finally:
        served.stop()
