"""Who may see what, over HTTP (Flask's test client on the real app and accounts):
everything but the login page, the public view and static files needs a login; the login
form needs its CSRF token; a login expires; logout revokes the session's API token."""

from __future__ import annotations

import re
import time
from typing import Any

import flask_login
import pytest

from accounts import Role
from accounts.store import Accounts
from cityhub.store import SQLiteStore
from dashboards import auth
from dashboards.app import create_app
from dashboards.data import CityData
from tests.dashboards.conftest import PASSWORDS, settings


@pytest.fixture
def client(city_data: tuple[CityData, SQLiteStore], accounts: Accounts) -> Any:
    app = create_app(city_data[0], settings(alerts_api="http://127.0.0.1:9"),
                     accounts=accounts)
    return app.server.test_client()


def csrf(client: Any) -> str:
    page = client.get("/login").get_data(as_text=True)
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def log_in(client: Any, name: str, *, nxt: str = "/") -> Any:
    return client.post("/login", data={"username": name, "password": PASSWORDS[name],
                                       "csrf": csrf(client), "next": nxt})


def test_nothing_but_login_public_and_static_without_a_login(client: Any) -> None:
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=/")
    assert client.get("/alarms?state=open").headers["Location"] == \
        "/login?next=/alarms%3Fstate%3Dopen"
    for path in ("/_dash-layout", "/_dash-dependencies"):
        assert client.get(path).status_code == 401
    r = client.post("/_dash-update-component", json={"output": "overview-map.figure"})
    assert r.status_code == 401
    assert client.get("/login").status_code == 200
    assert client.get("/public").status_code == 200
    assert client.get("/assets/style.css").status_code == 200
    assert client.get("/healthz").get_json() == {"ok": True}


def test_the_login_form_needs_its_csrf_token_and_the_right_password(client: Any) -> None:
    r = client.post("/login", data={"username": "vera", "password": PASSWORDS["vera"],
                                    "csrf": "forged"})
    assert r.status_code == 400
    r = client.post("/login", data={"username": "vera", "password": "nope",
                                    "csrf": csrf(client)})
    assert r.status_code == 401 and "Wrong user name or password" in r.get_data(as_text=True)
    assert client.get("/_dash-layout").status_code == 401
    r = log_in(client, "vera", nxt="/gateways")
    assert r.status_code == 302 and r.headers["Location"] == "/gateways"
    assert client.get("/_dash-layout").status_code == 200
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_no_redirect_off_the_site(client: Any) -> None:
    for evil in ("//evil.example/x", "https://evil.example/", "evil", "/\\evil.example",
                 "/x\\..\\evil"):
        assert log_in(client, "vera", nxt=evil).headers["Location"] == "/"


def test_a_login_expires_and_a_disabled_user_is_out(client: Any, accounts: Accounts) -> None:
    log_in(client, "vera")
    assert client.get("/_dash-layout").status_code == 200
    with client.session_transaction() as s:
        s["login_at"] = time.time() - 13 * 3600  # settings: 12 h
    assert client.get("/_dash-layout").status_code == 401
    log_in(client, "otto")
    assert client.get("/_dash-layout").status_code == 200
    accounts.set_disabled("otto", True)
    assert client.get("/_dash-layout").status_code == 401


def session_token(client: Any) -> str:
    """The session's alerts-API token: sealed in the cookie, opened with the app's key."""
    with client.session_transaction() as s:
        sealed = s["api_token"]
    assert "chub_" not in sealed  # never readable in the cookie
    token = auth.unseal(client.application.secret_key, sealed)
    assert token is not None and auth.unseal("another secret", sealed) is None
    return token


def test_logout_revokes_the_sessions_api_token(client: Any, accounts: Accounts) -> None:
    log_in(client, "otto")
    token = session_token(client)
    assert accounts.verify_token(token) is not None
    r = client.post("/logout")
    assert r.status_code == 302
    assert accounts.verify_token(token) is None
    assert client.get("/_dash-layout").status_code == 401


def test_an_expired_session_still_logs_out_and_a_second_login_revokes_the_first(
        client: Any, accounts: Accounts) -> None:
    log_in(client, "otto")
    first = session_token(client)
    log_in(client, "otto")  # again, in the same browser
    assert accounts.verify_token(first) is None
    second = session_token(client)
    with client.session_transaction() as s:
        s["login_at"] = time.time() - 13 * 3600
    assert client.get("/_dash-layout").status_code == 401
    assert client.post("/logout").status_code == 302
    assert accounts.verify_token(second) is None


def test_odd_requests_are_refused_not_crashed(client: Any) -> None:
    r = client.post("/login", data={"username": "vera", "password": "x", "csrf": "ü"})
    assert r.status_code == 400
    for path in ("/publicity", "/public/x"):
        assert client.get(path).status_code == 302  # to the login, like any other page


def test_roles_are_checked_where_an_action_is_taken(client: Any) -> None:
    app = client.application
    log_in(client, "vera")
    with app.test_request_context("/"):
        assert auth.current() is None  # a fresh request context has no login
        with pytest.raises(auth.Refused, match="not logged in"):
            auth.require(Role.VIEWER)


        flask_login.login_user(auth.LoginUser("vera", Role.VIEWER))
        with pytest.raises(auth.Refused, match="needs the operator role; you are viewer"):
            auth.require(Role.OPERATOR)
        flask_login.login_user(auth.LoginUser("otto", Role.OPERATOR))
        assert auth.require(Role.OPERATOR).name == "otto"


def test_the_public_view_shows_warnings_without_names_or_controls(
        client: Any, city_data: tuple[CityData, SQLiteStore], small_pack: Any) -> None:
    from tests.dashboards.conftest import points

    page = client.get("/public").get_data(as_text=True)
    assert "No flood warning" in page
    city_data[1].write_sync(points(small_pack, speed=8.0, level=3.5))
    page = client.get("/public").get_data(as_text=True)
    assert "Siaga I" in page and "3.50 m" in page
    assert "<form" not in page and "otto" not in page and "vera" not in page
    client.get("/language/id")
    assert "Peringatan banjir" in client.get("/public").get_data(as_text=True)
    # the choice outlives the session: a new session in the same browser keeps it
    with client.session_transaction() as s:
        s.clear()
    assert "Peringatan banjir" in client.get("/public").get_data(as_text=True)
    client.get("/language/en")
    assert "Flood warnings" in client.get("/public").get_data(as_text=True)


def test_anonymous_visitors_share_one_rendering_of_the_public_view(
        city_data: tuple[CityData, SQLiteStore], accounts: Accounts, small_pack: Any) -> None:
    from tests.dashboards.conftest import points

    app = create_app(city_data[0], settings(public_page_s=3600), accounts=accounts)
    client = app.server.test_client()
    first = client.get("/public").get_data(as_text=True)
    city_data[1].write_sync(points(small_pack, speed=8.0, level=3.5))
    assert client.get("/public").get_data(as_text=True) == first  # the same, for an hour
    client.get("/language/id")  # each language its own
    assert "Peringatan banjir" in client.get("/public").get_data(as_text=True)
