"""The dashboards' fixtures: users of each role, an app on a small city, and a browser
that logs in the way a person does."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accounts.store import Accounts
from cityhub.config.pack import CityPack
from cityhub.point import Point
from cityhub.store import SQLiteStore
from dashboards.context import DashboardSettings
from dashboards.data import CityData
from devservices import free_port

PASSWORDS = {"vera": "viewer-pass-1", "otto": "operator-pass-1", "ada": "admin-pass-1"}
ROLES = {"vera": "viewer", "otto": "operator", "ada": "admin"}
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[Accounts]:
    """A viewer (vera), an operator (otto) and an admin (ada)."""
    with Accounts(tmp_path / "accounts.db") as a:
        for name, role in ROLES.items():
            a.add(name, role, PASSWORDS[name])
        yield a


def points(pack: CityPack, speed: float, level: float, age_s: float = 0) -> list[Point]:
    """One reading of each of the small pack's sensors but one (tfc-2 stays silent)."""
    now = int((time.time() - age_s) * 1e9)

    def p(device: str, meas: str, **fields: object) -> Point:
        return Point(meas, tuple(sorted(pack.tags_of(device).items())), fields, now)  # type: ignore[arg-type]

    return [p("tfc-1", "traffic", averageVehicleSpeed=speed, intensity=20.0),
            p("tfc-b1", "traffic", averageVehicleSpeed=48.0, intensity=5.0),
            p("river-1", "flood", currentLevel=level),
            p("lamp-1", "lighting", powerState="on", status="ok", activePower=90.0),
            p("rain-1", "rain", rainRate=3.0, precipitation=0.05)]


@pytest.fixture
def city_data(small_pack: CityPack, tmp_path: Path) -> Iterator[tuple[CityData, SQLiteStore]]:
    """The small city's data, read through the dashboards' data package, and a writer."""
    db = tmp_path / "r.db"
    writer = SQLiteStore(db)
    writer.write_sync(points(small_pack, speed=45.0, level=0.5))

    async def open_store() -> SQLiteStore:
        return SQLiteStore(db)

    data = CityData(small_pack, open_store, cache_s=0)
    yield data, writer
    data.close()


def settings(**kw: Any) -> DashboardSettings:
    return DashboardSettings(**{"refresh_s": 0.5, "live_refresh_s": 0.5,
                                "secret_key": "test-secret", "public_page_s": 0.0, **kw})


def login(dash_duo: Any, name: str, then: str = "/") -> None:
    """Log in through the form, as a person would, and wait for the page."""
    driver = dash_duo.driver
    driver.get(f"{dash_duo.server.url}/login?next={then}")
    dash_duo.wait_for_element("#username", timeout=10).send_keys(name)
    dash_duo.find_element("#password").send_keys(PASSWORDS[name])
    dash_duo.find_element("#login-submit").click()
    dash_duo.wait_for_element("#shell-user", timeout=15)


def shot(dash_duo: Any, name: str) -> None:
    """A screenshot under var/screenshots (the CI's artifacts; docs/dashboards.md)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    dash_duo.driver.save_screenshot(str(SHOTS / f"{name}.png"))


class Served:
    """An app served to the test's browser, counting the requests it is answering, so a
    test ends only once none is in flight (else the fixtures would close the store or
    the accounts under a callback still running)."""

    def __init__(self, dash_duo: Any, app: Any) -> None:
        self.dash_duo, self.busy, self._lock = dash_duo, 0, threading.Lock()
        inner = app.server.wsgi_app

        def counted(environ: Any, start_response: Any) -> Any:
            with self._lock:
                self.busy += 1
            try:
                return inner(environ, start_response)
            finally:
                with self._lock:
                    self.busy -= 1

        app.server.wsgi_app = counted
        dash_duo.server(app, port=free_port())
        self.url = dash_duo.server.url.rstrip("/")

    def stop(self) -> None:
        """Leave the page (its timers stop) and wait for the answers in flight."""
        self.dash_duo.driver.get("about:blank")
        deadline = time.monotonic() + 15
        while self.busy and time.monotonic() < deadline:
            time.sleep(0.05)


def click(dash_duo: Any, css: str) -> None:
    """Click ``css`` as a person would: scrolled to the middle of the window first (a
    button below the fold can be covered by a chart's layers while the page settles)."""
    element = dash_duo.find_element(css)
    dash_duo.driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", element)
    try:
        element.click()
    except Exception:
        on_top = dash_duo.driver.execute_script(
            "const r = arguments[0].getBoundingClientRect();"
            "const e = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);"
            "return [r.y, window.innerHeight, e ? e.outerHTML.slice(0, 300) : null];",
            element)
        shot(dash_duo, "click-failed")
        raise AssertionError(f"{css} covered: {on_top}") from None


def text_of(dash_duo: Any, css: str) -> str:
    """The text of ``css``, read again if a refresh replaced the element meanwhile (a
    container's children are new elements after each tick)."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(50):
        try:
            return str(dash_duo.find_element(css).text)
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError(f"{css} kept being replaced")
