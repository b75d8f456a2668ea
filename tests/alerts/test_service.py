"""The alerts service end to end on the real Mosquitto, with real receivers: a signed
webhook server, an SMTP server (aiosmtpd) and Apprise's json:// to a local server."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from alerts.channels.email import SmtpSettings
from alerts.model import AlarmFilter
from alerts.rules import Condition
from alerts.service import AlertsService
from alerts.store import SqliteAlarmStore
from cityhub.config import load_pack
from cityhub.config.pack import CityPack
from devservices import LocalMosquitto
from tests.alerts.receivers import JsonReceiver, MailReceiver, Reply, WebhookReceiver
from tests.alerts.service_kit import (
    GAUGE,
    Api,
    level_message,
    pack_reaching,
    publish,
    serving,
    settings_for,
)
from tests.feeds import received
from tests.ingest.test_end_to_end import until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bandung() -> CityPack:
    return load_pack("bandung")


def feed(port: int) -> AbstractAsyncContextManager[list[tuple[str, dict[str, Any]]]]:
    """Every message on the alerts topics while the block runs."""
    return received(port, ["city/bandung/alerts/#", "city/bandung/notify/#"],
                    lambda t, p: (t, orjson.loads(p)))


async def test_a_flood_alarm_reaches_every_channel_and_operators_handle_it(
        bandung: CityPack, mosquitto: LocalMosquitto, tmp_path: Path,
        webhook_receiver: WebhookReceiver, webhook_secret: str, mail_receiver: MailReceiver,
        json_receiver: JsonReceiver, http_session: aiohttp.ClientSession) -> None:
    pack = pack_reaching(bandung, webhook_url=webhook_receiver.url,
                         mail_to="piket@bpbd.example", apprise_env="TEST_CHAT_URL")
    settings = settings_for(mosquitto.port, tmp_path, smtp=SmtpSettings(
        host=mail_receiver.host, port=mail_receiver.port, starttls="off",
        sender="alerts@cityhub.example"))
    env = {"TEST_WEBHOOK_SECRET": webhook_secret, "TEST_CHAT_URL": json_receiver.apprise_url}
    async with feed(mosquitto.port) as mqtt, serving(settings, pack, env) as service:
        assert service.http_port
        op = Api(http_session, service.http_port, "op")
        await publish(mosquitto.port, [level_message(1.0), level_message(1.7)])
        await until(lambda: webhook_receiver.delivered and mail_receiver.messages
                    and json_receiver.posts, "the alarm on every channel", 30)
        hook = webhook_receiver.delivered[0].payload
        assert hook["type"] == "cityhub.alarms" and hook["department"] == "Pusdalops"
        [note] = hook["notifications"]
        assert note["change"] == "opened" and note["alarm"]["rule"] == "flood-siaga"
        assert note["alarm"]["device"] == GAUGE and note["alarm"]["value"] == 1.7
        assert note["sensor_url"] == \
            f"http://command-centre.example/sensor/{GAUGE}?city={pack.city.id}"
        mail = mail_receiver.messages[0]
        assert str(mail["Subject"]).strip().startswith(f"[warning] River at Siaga level: {GAUGE}")
        assert "value 1.7" in mail.get_content()
        chat = json_receiver.posts[0]
        assert chat["title"].startswith("[waspada]")  # the department's language
        await until(lambda: any(t == "city/bandung/alerts/flood/warning" for t, _ in mqtt)
                    and any(t == "city/bandung/notify/ops" for t, _ in mqtt),
                    "the MQTT feed and the department's topic")

        # the API: who may do what
        status, body = await Api(http_session, service.http_port, None).call(
            "GET", "/api/alarms")
        assert status == 401
        status, body = await op.call("GET", "/api/alarms?state=open")
        assert status == 200 and [a["rule"] for a in body["alarms"]] == ["flood-siaga"]
        aid = body["alarms"][0]["id"]
        viewer = Api(http_session, service.http_port, "viewer")
        assert (await viewer.call("POST", f"/api/alarms/{aid}/acknowledge", {}))[0] == 403
        assert (await viewer.call("GET", f"/api/alarms/{aid}"))[0] == 200
        status, body = await op.call("POST", f"/api/alarms/{aid}/acknowledge",
                                     {"comment": "posko informed"})
        assert status == 200 and body["state"] == "acknowledged"
        assert (await op.call("POST", f"/api/alarms/{aid}/acknowledge", {}))[0] == 409
        assert (await op.call("POST", f"/api/alarms/{aid}/assign",
                              {"assignee": "budi"}))[1]["assignee"] == "budi"
        assert (await op.call("POST", f"/api/alarms/{aid}/comments", {"text": "x"}))[0] == 201
        assert (await op.call("POST", f"/api/alarms/{aid}/comments", {}))[0] == 422

        # repeats update the alarm, they never open a second one
        await publish(mosquitto.port, [level_message(1.8), level_message(2.2)])
        await until(lambda: service.store.get(aid).severity == "critical", "the raise")
        assert len(service.store.find(AlarmFilter())) == 1

        # the water goes down: resolved by the rule, and the departments are told
        await publish(mosquitto.port, [level_message(1.2)])
        await until(lambda: service.store.get(aid).state.value == "resolved", "resolved")
        await until(lambda: any(n["change"] == "resolved" for d in webhook_receiver.delivered
                                for n in d.payload["notifications"]), "resolved told")
        _, audit = await op.call("GET", f"/api/alarms/{aid}/audit")
        assert [(e["actor"], e["action"]) for e in audit["audit"]] == [
            ("system", "opened"), ("op", "acknowledged"), ("op", "assigned"),
            ("op", "commented"), ("system", "raised"), ("system", "resolved")]
        _, deliveries = await op.call("GET", f"/api/alarms/{aid}/deliveries")
        assert {a["channel"] for a in deliveries["attempts"]} >= {"webhook", "email",
                                                                  "apprise", "mqtt"}
        assert all(a["ok"] for a in deliveries["attempts"])
        status, notes = await viewer.call("GET", "/api/notifications?state=sent")
        assert status == 200 and notes["counts"]["sent"] == len(notes["notifications"]) >= 8
        assert (await viewer.call("GET", "/api/notifications?state=lost"))[0] == 400


@pytest.mark.allow_logged_errors
async def test_webhook_retries_keep_one_id_and_a_dead_endpoint_is_disabled(
        bandung: CityPack, mosquitto: LocalMosquitto, tmp_path: Path,
        webhook_receiver: WebhookReceiver, webhook_secret: str) -> None:
    webhook_receiver.script(Reply(503, {"Retry-After": "0"}), 503, 200)
    pack = pack_reaching(bandung, webhook_url=webhook_receiver.url)
    settings = settings_for(mosquitto.port, tmp_path)
    async with serving(settings, pack, {"TEST_WEBHOOK_SECRET": webhook_secret}) as service:
        await publish(mosquitto.port, [level_message(1.7)])
        await until(lambda: webhook_receiver.delivered, "delivered after retries", 30)
        ids = [r.id for r in webhook_receiver.received]
        assert len(ids) == 3 and len(set(ids)) == 1  # the same message, retried
        assert service.metrics.total("cityhub_alerts_retries") == 2

        # the endpoint is gone for good: 410 three times in a row disables it
        webhook_receiver.always(410)
        other = "flood-cikapundung-siliwangi"
        await publish(mosquitto.port, [level_message(1.9, device=other)])  # opened
        await until(lambda: len(webhook_receiver.received) >= 4, "the first 410")
        await publish(mosquitto.port, [level_message(2.6, device=other)])  # raised
        await until(lambda: len(webhook_receiver.received) >= 5, "the second 410")
        service.apply([Condition("gateway-offline", "gateway/gw-pasteur", True,
                                 1_780_000_000.0, "warning", "gateway", None, "gw-pasteur",
                                 "sukajadi", None, True, {})])
        await until(lambda: ("ops", "hook") in service.dispatcher.disabled,
                    "the contact disabled", 30)
        _ok, health = service.health()
        assert "ops/hook" in health["disabled_contacts"]  # type: ignore[operator]
        assert service.metrics.total("cityhub_alerts_notifications_failed") >= 3
        failed = service.store.notifications(state="failed")
        assert failed and all(n.department == "ops" for n in failed)


def test_escalation_with_a_controllable_clock(bandung: CityPack, tmp_path: Path) -> None:
    """Not acknowledged within 10 minutes: the next level of contacts is told; once."""
    now = [1_780_000_000.0]
    pack = pack_reaching(bandung, escalation_s=(600.0,))
    store = SqliteAlarmStore(tmp_path / "alarms.db")
    service = AlertsService(settings_for(1, tmp_path), pack, store, {},
                            clock=lambda: now[0])
    service.apply([Condition("flood-siaga", f"device/{GAUGE}", True, now[0], "warning",
                             "flood", GAUGE, "gw-dago", "coblong", 1.7, True, {})])
    now[0] += 599
    service.tick()
    assert not [n for n in store.notifications() if n.change == "escalated"]
    now[0] += 2
    service.tick()
    service.tick()
    escalated = [n for n in store.notifications() if n.change == "escalated"]
    assert [(n.contact, n.level) for n in escalated] == [("chief", 1)]
    assert service.metrics.total("cityhub_alerts_escalations") == 1
    store.close_db()


def test_a_missing_secret_is_a_config_error(bandung: CityPack, tmp_path: Path) -> None:
    from alerts.run import build_channels
    from cityhub.errors import ConfigError

    pack = pack_reaching(bandung, webhook_url="http://127.0.0.1:9/hook",
                         apprise_env="NO_SUCH_VAR")

    async def publish_nothing(topic: str, payload: bytes) -> None:
        raise AssertionError

    with pytest.raises(ConfigError) as e:
        build_channels(pack, settings_for(1, tmp_path), publish_nothing,
                       None, {})  # type: ignore[arg-type]
    text = str(e.value)
    assert "TEST_WEBHOOK_SECRET" in text and "NO_SUCH_VAR" in text
    assert "alerts.departments.0.contacts.1.secret_env" in text


async def test_a_broker_restart_is_weathered(bandung: CityPack, tmp_path: Path,
                                             webhook_receiver: WebhookReceiver,
                                             webhook_secret: str) -> None:
    """The broker stops under the service and comes back: the loss is noticed (no
    silence alarms meanwhile: the service heard nothing, the city did not fall silent),
    webhooks wait for nobody, and readings after the restart open alarms again."""
    broker = LocalMosquitto(tmp_path / "mq")
    broker.start()
    try:
        pack = pack_reaching(bandung, webhook_url=webhook_receiver.url)
        settings = settings_for(broker.port, tmp_path)
        async with serving(settings, pack, {"TEST_WEBHOOK_SECRET": webhook_secret}) as svc:
            await publish(broker.port, [level_message(1.7)])
            await until(lambda: len(webhook_receiver.delivered) == 1, "the first alarm")
            broker.stop()
            await until(lambda: not svc.connected.is_set(), "the loss noticed")
            broker.start()
            await until(svc.connected.is_set, "reconnected", 60)
            await publish(broker.port, [level_message(1.7, device="flood-cisaranten",
                                                      gateway="gw-gedebage")])
            await until(lambda: len(webhook_receiver.delivered) == 2, "an alarm after it")
            assert svc.metrics.total("cityhub_alerts_alarms_opened") == 2
    finally:
        broker.stop()
