"""One command centre serving two cities (two packs with the same device ids, one store):
each page reads the request's city; a user scoped to a city gets only theirs; the others
switch between them. Over HTTP with Flask's test client, and in a real headless Chromium."""

from __future__ import annotations

import json
import re
import time
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
from tests.conftest import write_small_pack
from tests.dashboards.conftest import PASSWORDS, Served, click, login, points, settings

PASSWORDS.update({"bo": "bogor-only-pass", "far": "elsewhere-pass"})


@pytest.fixture
def two_cities(small_pack: CityPack, tmp_path: Path
               ) -> Iterator[tuple[CityPack, CityPack, list[CityData]]]:
    """City A (the small pack: two of its three roads reporting) and city B ("Kota B",
    the same devices: only tfc-1 reporting, congested), in one SQLite store."""
    root = write_small_pack(tmp_path / "b", f"test-{uuid.uuid4().hex[:8]}")
    city = root / "city.yaml"
    city.write_text(city.read_text().replace("name: Test City", "name: Kota B"))
    b = load_pack(root)
    db = tmp_path / "two.db"
    writer = SQLiteStore(db)
    now = int(time.time() * 1e9)
    slow = Point("traffic", tuple(sorted(b.tags_of("tfc-1").items())),
                 {"averageVehicleSpeed": 12.0, "intensity": 3.0}, now)
    writer.write_sync([*points(small_pack, speed=45.0, level=0.5), slow])

    async def open_store() -> SQLiteStore:
        return SQLiteStore(db)

    cities = [CityData(small_pack, open_store, cache_s=0), CityData(b, open_store, cache_s=0)]
    yield small_pack, b, cities
    for c in cities:
        c.close()


@pytest.fixture
def scoped(accounts: Accounts, two_cities: tuple[CityPack, CityPack, list[CityData]]
           ) -> Accounts:
    """vera sees every city; bo only city B; far only a city not served here."""
    accounts.add("bo", "viewer", PASSWORDS["bo"], city=two_cities[1].city.id)
    accounts.add("far", "viewer", PASSWORDS["far"], city="atlantis")
    return accounts


def _log_in(client: Any, name: str) -> Any:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token, page
    return client.post("/login", data={"username": name, "password": PASSWORDS[name],
                                       "csrf": token.group(1), "next": "/"})


def _shell(client: Any) -> str:
    r = client.get("/_dash-layout")
    assert r.status_code == 200, r.status_code
    return json.dumps(r.get_json())  # "/" unescaped


def _update(client: Any, *, shown: str) -> str:
    """The subscriptions page's add button, clicked on a page showing city ``shown``:
    Dash's own request to the callback, as the browser sends it."""
    state = [{"id": f"subscriptions-{i}", "property": p, "value": v} for i, p, v in (
        ("department", "value", "bpbd"), ("domains", "value", []), ("districts", "value", []),
        ("severity", "value", "warning"), ("rules", "value", []),
        ("table", "selectedRows", None), ("changed", "data", 0))]
    state.append({"id": "shell-city-shown", "property": "data", "value": shown})
    r = client.post("/_dash-update-component", json={
        "output": "..subscriptions-feedback.children...subscriptions-changed.data..",
        "outputs": [{"id": "subscriptions-feedback", "property": "children"},
                    {"id": "subscriptions-changed", "property": "data"}],
        "inputs": [{"id": "subscriptions-add", "property": "n_clicks", "value": 1},
                   {"id": "subscriptions-remove", "property": "n_clicks", "value": None}],
        "changedPropIds": ["subscriptions-add.n_clicks"], "state": state})
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    return str(r.get_data(as_text=True))


def test_each_user_sees_their_cities(two_cities: tuple[CityPack, CityPack, list[CityData]],
                                     scoped: Accounts) -> None:
    a, b, cities = two_cities
    app = create_app(cities, settings(), accounts=scoped)
    assert app.title == "Test City · Kota B command centre"

    # a user of a city not served here cannot log in, and is told why
    far = app.server.test_client()
    r = _log_in(far, "far")
    assert r.status_code == 403
    assert "Your account is for a city this command centre does not serve." in r.get_data(
        as_text=True)
    assert far.get("/_dash-layout").status_code == 401

    # bo: city B only, no menu of cities, no way into city A
    bo = app.server.test_client()
    assert _log_in(bo, "bo").status_code == 302
    shell = _shell(bo)
    assert "Kota B" in shell and "Test City" not in shell and "/city/" not in shell
    assert bo.get(f"/city/{a.city.id}").status_code == 404
    assert "Kota B" in _shell(bo)

    # vera: the first city, a menu with the other; the choice lasts the session; a
    # sensor's page is left for the overview (its sensors are the other city's)
    vera = app.server.test_client()
    assert _log_in(vera, "vera").status_code == 302
    shell = _shell(vera)
    assert '"label": "Test City"' in shell
    assert f"/city/{b.city.id}" in shell
    r = vera.get(f"/city/{b.city.id}", headers={"Referer": "http://localhost/sensor/tfc-1"})
    assert r.status_code == 302 and r.headers["Location"] == "/"
    r = vera.get(f"/city/{b.city.id}", headers={"Referer": "http://localhost/traffic?x=1"})
    assert r.headers["Location"] == "/traffic?x=1"
    shell = _shell(vera)
    assert '"label": "Kota B"' in shell
    assert f"/city/{a.city.id}" in shell
    assert vera.get("/city/atlantis").status_code == 404
    # the page's city for the browser's script (a tab of another city reloads itself)
    vera.get("/traffic")
    assert vera.get_cookie("cityhub_city").value == b.city.id
    # a link naming its city (an alarm's sensor link) opens that city
    assert vera.get(f"/sensor/tfc-1?city={a.city.id}").status_code == 200
    assert '"label": "Test City"' in _shell(vera)
    assert vera.get_cookie("cityhub_city").value == a.city.id
    # an action of a page showing another city than the session's is refused
    vera.get(f"/city/{b.city.id}")
    scoped.set_role("vera", "operator")
    answer = _update(vera, shown=a.city.id)
    assert "The city was changed in another tab" in answer, answer
    answer = _update(vera, shown=b.city.id)  # the page's own city: on to the alerts API
    assert "The alerts API is not configured" in answer, answer

    # scoping bo to every city takes effect at their next request
    scoped.set_city("bo", None)
    shell = _shell(bo)
    assert '"label": "Test City"' in shell
    assert f"/city/{b.city.id}" in shell
    # and scoping vera to a city not served here ends her session
    scoped.set_city("vera", "atlantis")
    assert vera.get("/_dash-layout").status_code == 401

    # the public view: any city by ?city=, links to the others
    anon = app.server.test_client()
    page = anon.get("/public").get_data(as_text=True)
    assert "Test City" in page and f'href="/public?city={b.city.id}"' in page
    page = anon.get(f"/public?city={b.city.id}").get_data(as_text=True)
    assert "</span> Kota B</h1>" in page and f'href="/public?city={a.city.id}"' in page


def test_a_request_in_flight_does_not_switch_the_city_back(
        two_cities: tuple[CityPack, CityPack, list[CityData]], scoped: Accounts) -> None:
    """vera switches to city A in one tab while another tab's callback, sent with the
    session as it was (city B), is still on its way: its answer must not set the session
    cookie again, or the browser would keep city B (Flask re-sends a permanent session's
    cookie on every request unless told not to; a CI run's browser test saw the city
    switch back)."""
    a, b, cities = two_cities
    app = create_app(cities, settings(), accounts=scoped)
    vera = app.server.test_client()
    assert _log_in(vera, "vera").status_code == 302
    vera.get(f"/city/{b.city.id}")
    cookie = vera.get_cookie("session")
    assert cookie is not None
    on_b = cookie.value
    vera.get(f"/city/{a.city.id}")
    other_tab = app.server.test_client()
    other_tab.set_cookie("session", on_b, domain=cookie.domain)
    r = other_tab.get("/_dash-layout")
    assert r.status_code == 200 and '"label": "Kota B"' in json.dumps(r.get_json())
    assert not [c for c in r.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert '"label": "Test City"' in _shell(vera)


@pytest.mark.browser
def test_switching_city_in_the_browser(dash_duo: Any, scoped: Accounts,
                                       two_cities: tuple[CityPack, CityPack, list[CityData]]
                                       ) -> None:
    """vera reads city A's traffic, picks city B in the menu, and reads B's; bo sees B's
    alone."""
    a, b, cities = two_cities
    served = Served(dash_duo, create_app(cities, settings(), accounts=scoped))
    try:
        login(dash_duo, "vera", then="/traffic")
        dash_duo.wait_for_text_to_equal(
            "#traffic-summary", "2 of 3 sensors reporting; 0 congested, 0 incidents.",
            timeout=20)
        click(dash_duo, "#shell-city")
        click(dash_duo, f"#shell-city-{b.city.id}")
        dash_duo.wait_for_contains_text("#shell-city", "Kota B", timeout=15)
        dash_duo.wait_for_text_to_equal(
            "#traffic-summary", "1 of 3 sensors reporting; 1 congested, 0 incidents.",
            timeout=20)
        assert dash_duo.driver.current_url.endswith("/traffic")
        # a second tab switches back to city A: this one follows within seconds
        driver = dash_duo.driver
        first = driver.current_window_handle
        driver.switch_to.new_window("tab")
        driver.get(f"{served.url}/city/{a.city.id}")
        dash_duo.wait_for_contains_text("#shell-city", "Test City", timeout=15)
        driver.close()  # the second tab
        driver.switch_to.window(first)
        dash_duo.wait_for_contains_text("#shell-city", "Test City", timeout=15)
        dash_duo.wait_for_text_to_equal(
            "#traffic-summary", "2 of 3 sensors reporting; 0 congested, 0 incidents.",
            timeout=20)
        assert dash_duo.get_logs() == []
        driver.get("about:blank")  # no page polls while the cookies go
        driver.delete_all_cookies()
        login(dash_duo, "bo", then="/traffic")
        dash_duo.wait_for_text_to_equal("#shell-city", "Kota B", timeout=15)
        dash_duo.wait_for_text_to_equal(
            "#traffic-summary", "1 of 3 sensors reporting; 1 congested, 0 incidents.",
            timeout=20)
        assert not dash_duo.driver.find_elements("css selector", f"#shell-city-{a.city.id}")
        assert dash_duo.get_logs() == []
    finally:
        served.stop()
