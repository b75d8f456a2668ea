"""In a real headless Chromium: the gateways page fed by the real broker, wall mode, the
public view without a login, and every page of the app without a console error."""

from __future__ import annotations

import time
import uuid
from typing import Any

import dash
import pytest

from accounts.store import Accounts
from cityhub.config.pack import CityPack
from cityhub.mqtt import BrokerSettings
from cityhub.store import SQLiteStore
from dashboards.app import create_app
from dashboards.data import CityData
from dashboards.data.live import LiveFeed
from devservices import LocalMosquitto
from tests.dashboards.conftest import Served, login, points, settings, shot
from tests.dashboards.mqtt import send

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def live(mosquitto: LocalMosquitto, small_pack: CityPack) -> Any:
    feed = LiveFeed(small_pack.city.id, BrokerSettings(host="127.0.0.1", port=mosquitto.port,
                                                       protocol="5"),
                    client_id=f"dash-{uuid.uuid4().hex[:6]}")
    feed.start()
    assert feed.connected.wait(15)
    yield feed
    feed.close()
    for gw in small_pack.gateways:  # clear the retained statuses
        send(mosquitto.port, f"city/{small_pack.city.id}/status/{gw.id}", b"", retain=True)


def test_gateways_wall_mode_and_every_page(dash_duo: Any, small_pack: CityPack,
                                           accounts: Accounts, mosquitto: LocalMosquitto,
                                           live: LiveFeed,
                                           city_data: tuple[CityData, SQLiteStore]) -> None:
    data, writer = city_data
    app = create_app(data, settings(wall_cycle_s=1.0), accounts=accounts, live=live)
    city = small_pack.city.id
    send(mosquitto.port, f"city/{city}/status/gw-a",
         {"state": "online", "gateway": "gw-a", "version": "9.9.9", "backlog": 4321,
          "oldest_age_s": 600.0, "dropped": 0, "faulty_sensors": [], "time": time.time()},
         retain=True)
    send(mosquitto.port, f"city/{city}/status/gw-b", {"state": "offline", "gateway": "gw-b"},
         retain=True)
    served = Served(dash_duo, app)
    try:
        base = dash_duo.server.url.rstrip("/")

        # the public view needs no login, and offers no controls
        dash_duo.driver.get(f"{base}/public")
        dash_duo.wait_for_element("#public-flood", timeout=10)
        assert dash_duo.driver.find_elements("css selector", "form") == []
        shot(dash_duo, "public")

        login(dash_duo, "ada", then="/gateways")
        dash_duo.wait_for_contains_text("#gateways-summary", "1 of 2 gateways online",
                                        timeout=20)
        dash_duo.wait_for_contains_text("#gateways-table", "9.9.9", timeout=10)
        table = dash_duo.find_element("#gateways-table").text
        assert "offline" in table and "4321" in table
        shot(dash_duo, "gateways")

        # an incident the analytics found, as the broker delivers it: on the traffic page
        send(mosquitto.port, f"city/{city}/events/traffic/incident",
             {"id": "inc-1", "city": city, "domain": "traffic", "kind": "incident",
              "device": "tfc-1", "gateway": "gw-a", "district": "north",
              "start": "2026-11-30T10:00:00.000Z", "end": None, "severity": "critical",
              "detail": {"speed_kmh": 4.0}})
        dash_duo.driver.get(f"{base}/traffic")
        dash_duo.wait_for_contains_text("#traffic-events", "incident", timeout=20)
        assert "tfc-1" in dash_duo.find_element("#traffic-events").text
        dash_duo.driver.get(f"{base}/flood")
        dash_duo.wait_for_contains_text("#flood-events", "Nothing under way", timeout=20)

        # every page of the app renders without a console error
        for page in dash.page_registry.values():
            path = page["path"] if "<" not in page["path"] else "/sensor/tfc-1"
            dash_duo.driver.get(f"{base}{path}")
            dash_duo.wait_for_element("#shell-user", timeout=15)
            time.sleep(1.5)  # let the page's first callbacks answer
            assert dash_duo.get_logs() == [], path

        # wall mode: no controls, and the pages cycle by themselves
        dash_duo.driver.get(f"{base}/?wall=1")
        dash_duo.wait_for_element("body.wall", timeout=10)
        assert not dash_duo.find_element("#shell-logout").is_displayed()
        shot(dash_duo, "wall")
        deadline = time.monotonic() + 15
        while dash_duo.driver.current_url.split("?")[0].rstrip("/") == base:
            assert time.monotonic() < deadline, "the wall did not move on"
            time.sleep(0.2)
        assert "wall=1" in dash_duo.driver.current_url
        assert dash_duo.get_logs() == []
        writer.write_sync(points(small_pack, speed=45.0, level=0.5))
    finally:
        served.stop()
