"""One alerts process, several cities (``packs: [bandung, bogor]``): each city its own
MQTT session and alarm store, one API picking the city per request, and users scoped to
a city refused the other's, by every route. Real Mosquitto, a real webhook receiver."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client import generate_latest
from pydantic import ValidationError

from accounts import Accounts, Role, User
from alerts.api import CityRefused, pick_city
from alerts.model import AlarmFilter
from alerts.openapi import openapi_document
from alerts.service import AlertsHub, AlertsService
from alerts.settings import AlertsSettings
from alerts.store import SqliteAlarmStore
from cityhub.config import load_pack, load_settings
from cityhub.config.pack import CityPack
from cityhub.config.packs import load_packs
from devservices import LocalMosquitto, free_port
from tests.alerts.receivers import WebhookReceiver
from tests.alerts.service_kit import (
    GAUGE,
    Api,
    add_users,
    level_message,
    pack_reaching,
    publish,
    settings_for,
)
from tests.feeds import received
from tests.ingest.test_end_to_end import until

KATULAMPA = "flood-katulampa"  # Bogor, gateway gw-katulampa: Siaga III at 0.8 m

# scoped users: name -> (role, city, department)
SCOPED = {"op-bandung": ("operator", "bandung", None),
          "admin-bandung": ("admin", "bandung", None),
          "viewer-bogor": ("viewer", "bogor", None),
          "op-bogor": ("operator", "bogor", "ops"),
          "bpbd-anywhere": ("operator", None, "bpbd"),
          "bpbd-bandung": ("operator", "bandung", "bpbd")}
PASSWORD = "city-scoped-pass-1"


def basic(user: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- without a broker -----------------------------------------------------------------------

def test_one_pack_names_everything_as_before_and_packs_name_each_city(tmp_path: Path
                                                                       ) -> None:
    one = AlertsSettings(pack="bandung", client_id="cityhub-alerts-1",
                         database="var/alerts/alarms.db")
    assert not one.per_city and one.pack_names == ("bandung",)
    assert one.client_id_of("bandung") == "cityhub-alerts-1"
    assert one.database_of("bandung") == "var/alerts/alarms.db"
    several = AlertsSettings(packs=("bandung", "bogor"), client_id="cityhub-alerts-1",
                             database="var/alerts/alarms.db")
    assert several.per_city and several.pack_names == ("bandung", "bogor")
    assert several.client_id_of("bogor") == "cityhub-alerts-1-bogor"
    assert several.database_of("bogor") == "var/alerts/alarms-bogor.db"
    assert several.database_of("bandung") == "var/alerts/alarms-bandung.db"
    assert AlertsSettings(packs=("bogor",), database="/data/alarms").database_of(
        "bogor") == "/data/alarms-bogor"
    with pytest.raises(ValidationError, match="not both"):
        AlertsSettings(pack="bandung", packs=("bogor",))
    with pytest.raises(ValidationError, match="required"):
        AlertsSettings()

    # a pack: file as deployments have it: the same session, store and metrics
    (tmp_path / "alerts.yaml").write_text("pack: bandung\nclient_id: cityhub-alerts-1\n"
                                          f"database: {tmp_path / 'alarms.db'}\n")
    settings = load_settings(tmp_path / "alerts.yaml", AlertsSettings)
    store = SqliteAlarmStore(settings.database_of("bandung"))
    try:
        service = AlertsService(settings, load_pack("bandung"), store, {})
        assert service.client_id == "cityhub-alerts-1"
        hub = AlertsHub([service], labelled=False)
        assert hub.registry is service.metrics.registry
        assert b"city=" not in generate_latest(hub.registry)
        assert "cities" not in hub.health()[1]
    finally:
        store.close_db()
    assert (tmp_path / "alarms.db").is_file()


async def test_a_city_never_takes_another_citys_alarm_store(tmp_path: Path) -> None:
    """A city split off to a process of its own, its database pointed at the file the
    shared process wrote for another city: refused at start, naming both cities, before
    anything connects (no broker here)."""
    from alerts.run import running_service
    from cityhub.errors import ConfigError

    settings = settings_for(1, tmp_path)
    claimed = SqliteAlarmStore(settings.database)
    claimed.claim_city("bandung")
    claimed.close_db()
    with pytest.raises(ConfigError, match="holds the alarms of city 'bandung', not 'bogor'"):
        async with running_service(settings, load_pack("bogor")):
            pass
    async with running_service(settings, load_pack("bandung")) as service:  # its own: fine
        assert service.store.city() == "bandung"


@pytest.mark.parametrize(("asked", "user_city", "served", "expected"), [
    (None, None, ("bandung",), "bandung"),  # the only city
    (None, None, ("bandung", "bogor"), 400),  # which one?
    (None, "bogor", ("bandung", "bogor"), "bogor"),  # the user's own
    (None, "jakarta", ("bandung", "bogor"), 404),  # the user's own is not served here
    ("bogor", None, ("bandung", "bogor"), "bogor"),
    ("bogor", "bogor", ("bandung", "bogor"), "bogor"),
    ("bandung", "bogor", ("bandung", "bogor"), 403),
    ("jakarta", None, ("bandung", "bogor"), 404),
    ("jakarta", "bogor", ("bandung", "bogor"), 404),
    ("bandung", "bogor", ("bandung",), 403),
    ("", None, ("bandung",), 404),
])
def test_the_city_a_request_is_about(asked: str | None, user_city: str | None,
                                     served: tuple[str, ...], expected: str | int) -> None:
    user = User("u", Role.VIEWER, "password", city=user_city)
    if isinstance(expected, str):
        assert pick_city(asked, user, served) == expected
        return
    with pytest.raises(CityRefused) as e:
        pick_city(asked, user, served)
    assert e.value.status == expected
    if expected == 400:
        assert e.value.message == ("which city? add ?city=<id>: this service serves "
                                   "bandung, bogor")
    if expected == 404:
        assert e.value.message.endswith("; this service serves: " + ", ".join(served))


# -- the service ----------------------------------------------------------------------------

def packs_served(webhook_url: str) -> list[CityPack]:
    """Bandung as shipped (its departments on MQTT); Bogor (which extends it: Bandung's
    rules and Bogor's own) with its departments replaced by ``ops``, reaching the test's
    webhook receiver."""
    bandung, bogor = load_packs(["bandung", "bogor"])
    return [bandung, pack_reaching(bogor, webhook_url=webhook_url)]


@contextlib.asynccontextmanager
async def hub_serving(settings: AlertsSettings, packs: list[CityPack], env: dict[str, str]
                      ) -> AsyncIterator[AlertsHub]:
    """The hub running (every city connected) until the block ends."""
    from alerts.run import running_hub

    add_users(settings.accounts)
    with Accounts(settings.accounts) as accounts:
        for name, (role, city, dept) in SCOPED.items():
            accounts.add(name, role, PASSWORD, dept, city)
    async with running_hub(settings, packs, env=env) as hub:
        task = asyncio.create_task(hub.run())
        try:
            await asyncio.wait_for(hub.wait_connected(), 30)
            assert hub.http_port
            yield hub
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def feed(port: int) -> AbstractAsyncContextManager[list[str]]:
    """The topics of every alarm and department message while the block runs."""
    return received(port, ["city/+/alerts/#", "city/+/notify/#"], lambda t, _p: t)


def filled(template: str, ids: dict[str, str]) -> str:
    """A documented path naming what exists (in Bogor)."""
    if template.startswith("/api/alarms/"):
        return template.replace("{id}", ids["alarm"])
    if template.startswith("/api/silences/"):
        return template.replace("{id}", ids["silence"])
    if template.startswith("/api/subscriptions/"):
        return template.replace("{id}", ids["subscription"])
    if template.startswith("/api/contacts/"):
        return template.replace("{department}", "ops").replace("{contact}", "hook")
    assert "{" not in template, template
    return template


BODIES: dict[str, Any] = {
    "/api/alarms/{id}/assign": {"assignee": "intruder"},
    "/api/alarms/{id}/comments": {"text": "from the other city"},
    "/api/silences": {"district": "bogor-timur", "duration_s": 600},
    "/api/subscriptions": {"department": "ops", "min_severity": "info"},
}


@pytest.mark.integration
async def test_two_cities_in_one_process_each_alarm_in_its_city_and_users_see_theirs(
        mosquitto: LocalMosquitto, tmp_path: Path, webhook_receiver: WebhookReceiver,
        webhook_secret: str, http_session: aiohttp.ClientSession) -> None:
    settings = settings_for(mosquitto.port, tmp_path, packs=("bandung", "bogor"))
    packs = packs_served(webhook_receiver.url)
    env = {"TEST_WEBHOOK_SECRET": webhook_secret}
    async with feed(mosquitto.port) as topics, hub_serving(settings, packs, env) as hub:
        assert hub.cities == ("bandung", "bogor")
        bandung, bogor = hub.services["bandung"], hub.services["bogor"]
        # each city its own session and store
        assert bandung.client_id == f"{settings.client_id}-bandung"
        assert bogor.client_id == f"{settings.client_id}-bogor"
        assert bandung.store.path == str(tmp_path / "alarms-bandung.db")
        assert bogor.store.path == str(tmp_path / "alarms-bogor.db")
        assert not (tmp_path / "alarms.db").exists()

        # a reading in each city opens an alarm in that city's store, and only there
        await publish(mosquitto.port, [
            level_message(1.7),
            level_message(1.0, device=KATULAMPA, gateway="gw-katulampa", city="bogor")])
        await until(lambda: bandung.store.find(AlarmFilter()) and bogor.store.find(
            AlarmFilter()), "an alarm in each city")
        await asyncio.sleep(0.3)  # nothing else comes
        [in_bandung] = bandung.store.find(AlarmFilter())
        [in_bogor] = bogor.store.find(AlarmFilter())
        assert (in_bandung.device, in_bandung.rule) == (GAUGE, "flood-siaga")
        assert (in_bogor.device, in_bogor.rule) == (KATULAMPA, "flood-siaga")
        # each city's departments told: Bogor's webhook, Bandung's MQTT topics
        await until(lambda: webhook_receiver.delivered, "Bogor's webhook")
        hook = webhook_receiver.delivered[0].payload
        assert hook["city"] == "bogor"
        assert [n["alarm"]["device"] for n in hook["notifications"]] == [KATULAMPA]
        await until(lambda: {"city/bandung/alerts/flood/warning", "city/bandung/notify/bpbd",
                             "city/bogor/alerts/flood/warning"} <= set(topics),
                    "each city's MQTT feed")
        assert not any(t.startswith("city/bogor/notify/bpbd") for t in topics)

        port = hub.http_port
        assert port
        admin = Api(http_session, port, "admin")  # sees every city

        # -- the city rule, as an unscoped user
        status, body = await admin.call("GET", "/api/alarms")
        assert status == 400
        assert body["error"] == ("which city? add ?city=<id>: this service serves "
                                 "bandung, bogor")
        status, body = await admin.call("GET", "/api/alarms?city=jakarta")
        assert status == 404
        assert body["error"] == "no city jakarta here; this service serves: bandung, bogor"
        assert (await admin.call("GET", "/api/alarms?city=bandung&city=bogor"))[0] == 400
        status, body = await admin.call("GET", "/api/alarms?city=bandung")
        assert status == 200 and body["city"] == "bandung"
        assert [(a["id"], a["city"], a["device"]) for a in body["alarms"]] == [
            (in_bandung.id, "bandung", GAUGE)]
        status, body = await admin.call("GET", "/api/alarms?city=bogor")
        assert [(a["id"], a["city"], a["device"]) for a in body["alarms"]] == [
            (in_bogor.id, "bogor", KATULAMPA)]
        # ids are per city store
        assert (await admin.call("GET", f"/api/alarms/{in_bogor.id}?city=bogor"))[1][
            "city"] == "bogor"
        assert (await admin.call("GET", f"/api/alarms/{in_bogor.id}?city=bandung"))[0] == 404
        assert (await admin.call("GET", "/api/whoami"))[1] == {
            "name": "admin", "role": "admin", "via": "password", "department": None,
            "city": None, "cities": ["bandung", "bogor"]}

        # what exists in Bogor, added through the API (an admin who sees it)
        status, silence = await admin.call("POST", "/api/silences?city=bogor",
                                           {"district": "bogor-selatan", "duration_s": 3600})
        assert status == 201 and silence["city"] == "bogor"
        status, sub = await admin.call("POST", "/api/subscriptions?city=bogor",
                                       {"department": "ops", "min_severity": "critical"})
        assert status == 201 and sub["city"] == "bogor"
        # Bandung has no department ops: the city's own pack decides
        assert (await admin.call("POST", "/api/subscriptions?city=bandung",
                                 {"department": "ops"}))[0] == 422
        assert (await admin.call("GET", "/api/silences?city=bandung"))[1] == {
            "city": "bandung", "silences": []}
        ids = {"alarm": in_bogor.id, "silence": silence["id"],
               "subscription": str(sub["id"])}

        # -- a user scoped to Bandung: refused every Bogor route, by token and password
        with Accounts(settings.accounts) as accounts:
            token = accounts.issue_token("admin-bandung", "test")
            bogor_token = accounts.issue_token("op-bogor", "test")
        as_token = Api(http_session, port, None, authorization=f"Bearer {token}")
        status, me = await as_token.call("GET", "/api/whoami")
        assert status == 200 and (me["via"], me["city"], me["cities"]) == (
            "token", "bandung", ["bandung"])
        document = openapi_document()
        refused = 0
        for template, item in document["paths"].items():
            if template in ("/api/whoami", "/api/openapi.json"):
                continue
            path = filled(template, ids)
            for method in item:
                body = BODIES.get(template, {}) if method == "post" else None
                status, answer = await as_token.call(method.upper(), f"{path}?city=bogor",
                                                     body)
                assert status == 403, (method, path, status, answer)
                assert "may see city bandung only" in answer["error"]
                refused += 1
                # without ?city: Bandung's, where Bogor's ids name nothing
                if "{" in template:
                    status, answer = await as_token.call(method.upper(), path, body)
                    assert status == 404, (method, path, status, answer)
                elif method == "get":
                    status, answer = await as_token.call("GET", path)
                    assert status == 200 and answer["city"] == "bandung", (path, answer)
                    assert orjson.dumps(answer).find(b"bogor") < 0, (path, answer)
        # every documented operation but whoami is about a city
        assert refused == sum(len(item) for item in document["paths"].values()) - 1 >= 18
        # nothing of Bogor's changed
        now_bogor = bogor.store.get(in_bogor.id)
        assert now_bogor.state.value == "open" and now_bogor.assignee is None
        assert [e.action for e in bogor.store.audit(in_bogor.id)] == ["opened"]
        assert [s.id for s in bogor.store.silences(now=bogor.clock())] == [silence["id"]]
        assert [s.id for s in bogor.store.subscriptions()] == [sub["id"]]
        assert bandung.store.silences() == [] and bandung.store.subscriptions() == []

        # a Bandung operator by password: Bandung's alarms, not Bogor's
        op_bandung = Api(http_session, port, None, authorization=basic("op-bandung"))
        status, body = await op_bandung.call("GET", "/api/alarms")
        assert status == 200 and [a["id"] for a in body["alarms"]] == [in_bandung.id]
        status, body = await op_bandung.call("GET", "/api/alarms?city=bogor")
        assert status == 403
        assert (await op_bandung.call("GET", "/api/alarms?city=jakarta"))[0] == 404
        assert (await op_bandung.call("POST", f"/api/alarms/{in_bogor.id}/acknowledge",
                                      {}))[0] == 404
        status, body = await op_bandung.call("POST",
                                             f"/api/alarms/{in_bandung.id}/acknowledge", {})
        assert status == 200 and body["city"] == "bandung"
        assert body["state"] == "acknowledged"

        # -- users scoped to Bogor: the viewer (password) and the operator (token)
        viewer_bogor = Api(http_session, port, None, authorization=basic("viewer-bogor"))
        for path in ("/api/alarms", f"/api/alarms/{in_bandung.id}",
                     f"/api/alarms/{in_bandung.id}/audit",
                     f"/api/alarms/{in_bandung.id}/deliveries", "/api/silences",
                     "/api/notifications", "/api/subscriptions", "/api/contacts"):
            status, body = await viewer_bogor.call("GET", path + "?city=bandung")
            assert status == 403, (path, body)
        status, body = await viewer_bogor.call("GET", "/api/alarms")
        assert status == 200 and [(a["id"], a["city"]) for a in body["alarms"]] == [
            (in_bogor.id, "bogor")]
        status, body = await viewer_bogor.call("GET", "/api/notifications")
        assert status == 200 and body["city"] == "bogor" and body["notifications"]
        assert {n["alarm_id"] for n in body["notifications"]} == {in_bogor.id}
        op_bogor = Api(http_session, port, None, authorization=f"Bearer {bogor_token}")
        status, body = await op_bogor.call("POST", f"/api/alarms/{in_bogor.id}/acknowledge",
                                           {"comment": "seen in Bogor"})
        assert status == 200 and (body["city"], body["state"]) == ("bogor", "acknowledged")
        assert body["acknowledged_by"] == "api-token:op-bogor"
        status, body = await op_bogor.call("POST", "/api/subscriptions",
                                           {"department": "ops", "min_severity": "info"})
        assert status == 201 and body["city"] == "bogor"  # its department, its city
        assert (await op_bogor.call("POST", "/api/subscriptions?city=bandung",
                                    {"department": "bpbd"}))[0] == 403
        # a department is of one city: an operator of bpbd scoped to no city acts for
        # no city's bpbd (two cities may both have one); scoped to Bandung, for Bandung's
        anywhere = Api(http_session, port, None, authorization=basic("bpbd-anywhere"))
        status, body = await anywhere.call("POST", "/api/subscriptions?city=bandung",
                                           {"department": "bpbd"})
        assert status == 403 and "scoped to no city" in body["error"], body
        bpbd = Api(http_session, port, None, authorization=basic("bpbd-bandung"))
        status, body = await bpbd.call("POST", "/api/subscriptions",
                                       {"department": "bpbd", "min_severity": "critical"})
        assert status == 201 and body["city"] == "bandung", body
        assert (await anywhere.call("DELETE", f"/api/subscriptions/{body['id']}?city=bandung"
                                    ))[0] == 403
        assert (await bpbd.call("DELETE", f"/api/subscriptions/{body['id']}"))[0] == 204

        # -- one /metrics, one /healthz, every city in them
        async with http_session.get(f"http://127.0.0.1:{port}/metrics") as r:
            metrics = (await r.read()).decode()
        for city in ("bandung", "bogor"):
            assert (f'cityhub_alerts_alarms_opened_total{{city="{city}",rule="flood-siaga"}}'
                    " 1.0") in metrics
            assert f'cityhub_alerts_connected{{city="{city}"}} 1.0' in metrics
        async with http_session.get(f"http://127.0.0.1:{port}/healthz") as r:
            health = orjson.loads(await r.read())
            assert r.status == 200
        assert health["ok"] and set(health["cities"]) == {"bandung", "bogor"}
        assert health["cities"]["bogor"]["alarms_opened"] == 1


@pytest.mark.integration
async def test_the_command_serves_the_packs_of_its_settings_file(
        mosquitto: LocalMosquitto, tmp_path: Path, http_session: aiohttp.ClientSession
        ) -> None:
    """``cityhub alerts run`` with ``packs: [bandung, bogor]`` (the shipped packs, as
    the settings file names them): both cities on one port."""
    from alerts.cli import _serve

    port = free_port()
    (tmp_path / "alerts.yaml").write_text(
        "packs: [bandung, bogor]\n"
        f"client_id: cli-{uuid.uuid4().hex[:6]}\nshared_group: g{uuid.uuid4().hex[:6]}\n"
        f"broker: {{host: 127.0.0.1, port: {mosquitto.port}, protocol: '3.1.1'}}\n"
        f"database: {tmp_path / 'alarms.db'}\naccounts: {tmp_path / 'accounts.db'}\n"
        f"http_port: {port}\ntick_s: 0.1\n")
    settings = load_settings(tmp_path / "alerts.yaml", AlertsSettings)
    add_users(settings.accounts)
    task = asyncio.create_task(_serve(settings))
    try:
        health: dict[str, Any] = {}

        async def healthy() -> bool:
            with contextlib.suppress(aiohttp.ClientError):
                async with http_session.get(f"http://127.0.0.1:{port}/healthz") as r:
                    health.update(orjson.loads(await r.read()))
                    return r.status == 200
            return False

        for _ in range(600):
            assert not task.done(), task
            if await healthy():
                break
            await asyncio.sleep(0.05)
        assert health.get("ok") and set(health["cities"]) == {"bandung", "bogor"}, health
        assert (tmp_path / "alarms-bandung.db").is_file()
        assert (tmp_path / "alarms-bogor.db").is_file()
        api = Api(http_session, port, "viewer")
        status, body = await api.call("GET", "/api/subscriptions?city=bogor")
        assert status == 200 and {s["department"] for s in body["subscriptions"]} == {
            "bpbd", "dishub"}
        assert (await api.call("GET", "/api/subscriptions"))[0] == 400
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
