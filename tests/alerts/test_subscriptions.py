"""The departments' run-time subscriptions: routed beside the pack's, changed through the
API by the department's operators or an admin, seen by the running service at once (real
Mosquitto, the department's own MQTT topic as the contact observed)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from accounts import Accounts
from alerts.model import Alarm, AlarmFilter, State
from alerts.routing import Router
from alerts.subscriptions import StoredSubscription
from cityhub.config import load_pack
from cityhub.config.alerting import AlertsPolicy, Subscription
from cityhub.config.pack import CityPack
from cityhub.fields import Domain
from devservices import LocalMosquitto
from tests.alerts.service_kit import GAUGE, Api, level_message, publish, serving, settings_for
from tests.feeds import received
from tests.ingest.test_end_to_end import until

OPS_PASSWORD = "ops-operator-pass"
PU_PASSWORD = "pu-operator-pass"


@pytest.fixture(scope="module")
def bandung() -> CityPack:
    return load_pack("bandung")


def pack_with(pack: CityPack) -> CityPack:
    """Two departments, neither hearing of floods from the pack: ``ops`` (traffic; its
    own MQTT topic) and ``pu`` (lighting, no contacts)."""
    policy = AlertsPolicy.model_validate({
        "rules": [r.model_dump() for r in pack.alerts.rules],
        "departments": [
            {"id": "ops", "name": "Pusdalops", "group_s": 0.1,
             "subscriptions": [{"domains": ["traffic"], "min_severity": "info"}],
             "contacts": [{"id": "feed", "channel": "mqtt"}]},
            {"id": "pu", "name": "Dinas PU", "subscriptions": [{"domains": ["lighting"]}]}]})
    return pack.model_copy(update={"alerts": policy})


def flood_alarm(device: str = GAUGE, severity: str = "warning") -> Alarm:
    return Alarm("a1", "flood-siaga", f"device/{device}", State.OPEN, severity, "flood",
                 "River at Siaga level", device, "gw-dago", "coblong", 1.7, {}, 1, True,
                 0.0, 0.0)


def stored(sid: int, department: str, **sub: Any) -> StoredSubscription:
    return StoredSubscription(sid, department, Subscription.model_validate(sub), "ann", 0.0)


# -- routing ------------------------------------------------------------------------------

def test_the_router_matches_stored_subscriptions_too(bandung: CityPack,
                                                     caplog: pytest.LogCaptureFixture
                                                     ) -> None:
    router = Router(pack_with(bandung))
    assert router.departments_for(flood_alarm()) == []
    with caplog.at_level(logging.WARNING, logger="cityhub.alerts"):
        router.use_stored([stored(1, "ops", domains=["flood"], min_severity="critical"),
                           stored(2, "pu", domains=["flood"], districts=["andir"]),
                           stored(3, "gone", domains=["flood"]),
                           stored(4, "gone", domains=["flood"])])
        router.use_stored([stored(1, "ops", domains=["flood"], min_severity="critical"),
                           stored(3, "gone", domains=["flood"])])  # again: no new warning
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "'gone'" in warnings[0], warnings
    # ops wants critical floods only, pu floods in andir only (the alarm is in coblong)
    assert router.departments_for(flood_alarm()) == []
    assert [d.id for d in router.departments_for(flood_alarm(severity="critical"))] == ["ops"]
    intents = router.route(flood_alarm(severity="critical"), "opened", 0.0, [])
    assert {(i.department, i.contact) for i in intents} == {("*", "mqtt"), ("ops", "feed")}
    # the pack's own subscriptions still count; stored ones gone, only they are
    router.use_stored([])
    assert router.departments_for(flood_alarm(severity="critical")) == []
    traffic = dataclasses.replace(flood_alarm(), domain="traffic", rule="traffic-crawl")
    assert [d.id for d in router.departments_for(traffic)] == ["ops"]


# -- the live service -----------------------------------------------------------------------

def department_topic(port: int) -> AbstractAsyncContextManager[list[dict[str, Any]]]:
    """Every message on ``city/bandung/notify/ops`` while the block runs."""
    return received(port, ["city/bandung/notify/ops"], lambda _t, p: orjson.loads(p),
                    name="ops")


def as_user(session: aiohttp.ClientSession, port: int, name: str, password: str) -> Api:
    api = Api(session, port, None)
    api.headers["Authorization"] = "Basic " + base64.b64encode(
        f"{name}:{password}".encode()).decode()
    return api


def devices_told(messages: list[dict[str, Any]]) -> list[str]:
    return [n["alarm"]["device"] for m in messages for n in m["notifications"]]


@pytest.mark.integration
async def test_a_department_subscribes_at_run_time_and_unsubscribes(
        bandung: CityPack, mosquitto: LocalMosquitto, tmp_path: Path,
        http_session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture) -> None:
    settings = settings_for(mosquitto.port, tmp_path)
    with Accounts(settings.accounts) as accounts:
        accounts.add("ops-op", "operator", OPS_PASSWORD, department="ops")
        accounts.add("pu-op", "operator", PU_PASSWORD, department="pu")
    second, third = "flood-cikapundung-siliwangi", "flood-cisaranten"
    caplog.set_level(logging.INFO, logger="cityhub.alerts")
    async with department_topic(mosquitto.port) as told, \
            serving(settings, pack_with(bandung), {}) as service:
        port = service.http_port
        assert port
        ops = as_user(http_session, port, "ops-op", OPS_PASSWORD)
        pu = as_user(http_session, port, "pu-op", PU_PASSWORD)
        store = service.store

        async def opened(device: str) -> Alarm:
            await until(lambda: bool(store.find(AlarmFilter(device=device))), f"{device}'s alarm")
            [alarm] = store.find(AlarmFilter(device=device))
            return alarm

        # 1. no subscription of ops hears of floods: the alarm goes to the common feed only
        await publish(mosquitto.port, [level_message(1.7)])
        first = await opened(GAUGE)
        assert {n.department for n in store.notifications(alarm_id=first.id)} == {"*"}

        # 2. ops subscribes to floods; the next flood alarm reaches its topic
        status, me = await ops.call("GET", "/api/whoami")
        assert status == 200 and me["department"] == "ops"
        status, body = await pu.call("POST", "/api/subscriptions",
                                     {"department": "ops", "domains": ["flood"]})
        assert status == 403, body
        assert body["error"].startswith("only operators of department ops or an admin")
        status, sub = await ops.call("POST", "/api/subscriptions",
                                     {"department": "ops", "domains": ["flood"],
                                      "min_severity": "warning"})
        assert status == 201, sub
        assert sub["source"] == "api" and sub["created_by"] == "ops-op"
        assert sub["domains"] == ["flood"] and sub["districts"] == [] and sub["rules"] == []
        status, listed = await pu.call("GET", "/api/subscriptions?department=ops")
        assert status == 200 and [s["source"] for s in listed["subscriptions"]] == [
            "pack", "api"]
        assert listed["subscriptions"][1] == sub

        await publish(mosquitto.port, [level_message(1.7, device=second)])
        routed = await opened(second)  # routed as it opened, with the new subscription
        assert {n.department for n in store.notifications(alarm_id=routed.id)} == {
            "*", "ops"}
        await until(lambda: second in devices_told(told), "the alarm on ops's topic", 30)
        assert GAUGE not in devices_told(told)  # the one before the subscription: not told

        # 3. removed (pu's operator may not): the next flood alarm does not reach ops
        status, body = await pu.call("DELETE", f"/api/subscriptions/{sub['id']}")
        assert status == 403, body
        status, body = await ops.call("DELETE", f"/api/subscriptions/{sub['id']}")
        assert status == 204, body
        assert (await ops.call("DELETE", f"/api/subscriptions/{sub['id']}"))[0] == 404
        await publish(mosquitto.port, [level_message(1.7, device=third,
                                                     gateway="gw-gedebage")])
        last = await opened(third)
        assert {n.department for n in store.notifications(alarm_id=last.id)} == {"*"}
        await until(lambda: bool(store.notifications(alarm_id=last.id, state="sent")),
                    "the last alarm on the common feed")
        await asyncio.sleep(0.5)  # what ops's topic would have had by now
        assert devices_told(told) == [second]
    audit = [r.getMessage() for r in caplog.records if "subscription" in r.getMessage()
             and r.levelno == logging.INFO]
    assert any("added by ops-op" in m for m in audit), audit
    assert any("removed by ops-op" in m for m in audit), audit


@pytest.mark.integration
async def test_the_subscriptions_api(bandung: CityPack, mosquitto: LocalMosquitto,
                                     tmp_path: Path, http_session: aiohttp.ClientSession
                                     ) -> None:
    settings = settings_for(mosquitto.port, tmp_path)
    with Accounts(settings.accounts) as accounts:
        accounts.add("ops-op", "operator", OPS_PASSWORD, department="ops")
    async with serving(settings, pack_with(bandung), {}) as service:
        port = service.http_port
        assert port
        admin, op, viewer = (Api(http_session, port, u) for u in ("admin", "op", "viewer"))
        ops = as_user(http_session, port, "ops-op", OPS_PASSWORD)
        assert (await admin.call("GET", "/api/whoami"))[1]["department"] is None

        status, body = await viewer.call("GET", "/api/subscriptions")
        assert status == 200
        assert [(s["department"], s["source"], s["id"], s["created_by"], s["created_at"])
                for s in body["subscriptions"]] == [("ops", "pack", None, None, None),
                                                    ("pu", "pack", None, None, None)]
        assert body["subscriptions"][0]["domains"] == ["traffic"]
        assert (await viewer.call("GET", "/api/subscriptions?department=nope"))[0] == 404
        assert (await viewer.call("GET", "/api/subscriptions?department="))[0] == 404

        # who may: an admin for any department, an operator for their own only
        status, body = await viewer.call("POST", "/api/subscriptions", {"department": "ops"})
        assert status == 403 and body["error"].startswith("viewer may not")
        status, body = await op.call("POST", "/api/subscriptions", {"department": "ops"})
        assert status == 403 and "only operators of department ops or an admin" in \
            body["error"]
        status, by_admin = await admin.call("POST", "/api/subscriptions",
                                            {"department": "pu", "districts": ["coblong"],
                                             "rules": ["flood-siaga"],
                                             "min_severity": "critical"})
        assert status == 201, by_admin
        assert by_admin["domains"] == [d.value for d in Domain]  # the default: all
        assert (by_admin["districts"], by_admin["rules"], by_admin["min_severity"]) == (
            ["coblong"], ["flood-siaga"], "critical")
        status, mine = await ops.call("POST", "/api/subscriptions", {"department": "ops"})
        assert status == 201 and mine["min_severity"] == "warning"
        assert (await ops.call("DELETE", f"/api/subscriptions/{by_admin['id']}"))[0] == 403

        # what is wrong, by field
        for body_, field in (({"department": "nope"}, "department"),
                             ({"department": "ops", "districts": ["atlantis"]}, "districts"),
                             ({"department": "ops", "rules": ["no-such-rule"]}, "rules")):
            status, answer = await admin.call("POST", "/api/subscriptions", body_)
            assert status == 422 and answer["field"] == field, answer
            assert answer["error"].startswith(f"{field}: unknown"), answer
        for body_, field in (({"department": "ops", "domains": ["weather"]}, "domains"),
                             ({"department": "ops", "min_severity": "panic"}, "min_severity"),
                             ({"department": "ops", "domains": []}, "domains"),
                             ({"department": "ops", "colour": "red"}, "colour"),
                             ({}, "department")):
            status, answer = await admin.call("POST", "/api/subscriptions", body_)
            assert status == 422, (body_, answer)
            assert answer["detail"][0]["loc"][0] == field, answer

        status, body = await viewer.call("GET", "/api/subscriptions")
        assert [(s["department"], s["source"]) for s in body["subscriptions"]] == [
            ("ops", "pack"), ("pu", "pack"), ("pu", "api"), ("ops", "api")]
        status, body = await viewer.call("GET", "/api/subscriptions?department=pu")
        assert [s["id"] for s in body["subscriptions"]] == [None, by_admin["id"]]
        assert body["subscriptions"][1] == by_admin

        for bad in ("x", "-1", "99999999999999999999999", "1.0"):
            assert (await admin.call("DELETE", f"/api/subscriptions/{bad}"))[0] == 404
        assert (await admin.call("DELETE", f"/api/subscriptions/{mine['id']}"))[0] == 204
        assert [s.id for s in service.store.subscriptions()] == [by_admin["id"]]
