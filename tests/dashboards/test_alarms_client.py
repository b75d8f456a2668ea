"""The dashboards' alerts API client against the real alerts service (real Mosquitto, the
same accounts file as the dashboards), and the response figures computed from what it
lists."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiomqtt
import pytest

from accounts.store import Accounts
from cityhub.config.alerting import AlertsPolicy
from cityhub.config.pack import CityPack
from cityhub.senml import Reading, encode_pack
from cityhub.topics import telemetry_topic
from dashboards.data.alarms import AlarmsClient, AlarmsError, response_rows
from devservices import LocalMosquitto, free_port
from tests.alerts.service_kit import serving, settings_for

pytestmark = pytest.mark.integration


def pack_with_alarms(pack: CityPack) -> CityPack:
    """The small city with a Siaga rule (Siaga III or worse opens a warning) and one
    department, Pusdalops, hearing of everything on the MQTT feed."""
    policy = AlertsPolicy.model_validate({
        "rules": [{"id": "flood-siaga", "kind": "siaga", "at": 3,
                   "name": "River at Siaga level"}],
        "departments": [{"id": "ops", "name": "Pusdalops",
                         "subscriptions": [{"min_severity": "info"}],
                         "contacts": [{"id": "feed", "channel": "mqtt"}], "group_s": 0.1}]})
    return pack.model_copy(update={"alerts": policy})


async def publish_level(pack: CityPack, port: int, level_m: float) -> None:
    """One reading of the small city's gauge (river-1, gateway gw-a), as the gateway
    sends it."""
    r = Reading("river-1", "currentLevel", level_m, time.time_ns())
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"pub-{time.time_ns()}") as c:
        await c.publish(telemetry_topic(pack.city.id, "flood", "gw-a"),
                        encode_pack([r], domain="flood"), qos=1)


async def test_client_lists_and_acts_as_the_user(
        small_pack: CityPack, mosquitto: LocalMosquitto, tmp_path: Path,
        accounts: Accounts) -> None:
    pack = pack_with_alarms(small_pack)
    settings = settings_for(mosquitto.port, tmp_path)
    assert Path(settings.accounts) == tmp_path / "accounts.db"  # the dashboards' accounts
    otto = accounts.issue_token("otto", "dashboard session")
    vera = accounts.issue_token("vera", "dashboard session")
    async with serving(settings, pack, {}) as service:
        client = AlarmsClient(f"http://127.0.0.1:{service.http_port}/")
        assert (await client.whoami(otto))["name"] == "otto"
        assert await client.alarms(otto) == []
        # a client of one city asks the API about it (?city=); whoami is of the user
        url = f"http://127.0.0.1:{service.http_port}/"
        assert await AlarmsClient(url, city=pack.city.id).alarms(otto) == []
        elsewhere = AlarmsClient(url, city="atlantis")
        with pytest.raises(AlarmsError, match="no city atlantis here"):
            await elsewhere.alarms(otto)
        assert (await elsewhere.whoami(otto))["name"] == "otto"
        await publish_level(pack, mosquitto.port, 1.5)  # Siaga III at 1.0 m
        deadline = time.monotonic() + 30  # against a hang, not a timing assertion
        found = await client.alarms(otto, state=["open"])
        while not found and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            found = await client.alarms(otto, state=["open"])
        [alarm] = found
        assert (alarm["rule"], alarm["device"], alarm["district"], alarm["severity"]) == (
            "flood-siaga", "river-1", "north", "warning")
        aid = str(alarm["id"])
        # the filters reach the API
        assert await client.alarms(otto, severity="critical") == []
        assert await client.alarms(otto, district="south") == []
        assert len(await client.alarms(vera, domain="flood", district="north")) == 1

        # a viewer reads but may not act; a wrong token is not let in
        with pytest.raises(AlarmsError) as refused:
            await client.acknowledge(vera, aid)
        assert (refused.value.kind, refused.value.status) == ("refused", 403)
        assert "viewer" in refused.value.message
        with pytest.raises(AlarmsError) as nobody:
            await client.alarms("not-a-token")
        assert (nobody.value.kind, nobody.value.status) == ("refused", 401)

        # the operator acts, and the audit trail names him
        acked = await client.acknowledge(otto, aid, "posko informed")
        assert acked["state"] == "acknowledged" and "otto" in str(acked["acknowledged_by"])
        with pytest.raises(AlarmsError) as twice:
            await client.acknowledge(otto, aid)
        assert (twice.value.kind, twice.value.status) == ("api", 409)
        assert (await client.assign(otto, aid, "budi"))["assignee"] == "budi"
        await client.comment(otto, aid, "pompa dinyalakan")
        audit = await client.audit(otto, aid)
        assert [e["action"] for e in audit] == ["opened", "acknowledged", "assigned",
                                                "commented"]
        assert all("otto" in e["actor"] for e in audit[1:])
        deliveries = await client.deliveries(otto, aid)
        assert {n["department"] for n in deliveries["notifications"]} >= {"ops"}
        with pytest.raises(AlarmsError) as missing:
            await client.alarm(otto, "no-such-alarm")
        assert (missing.value.kind, missing.value.status) == ("api", 404)
        with pytest.raises(AlarmsError) as empty:
            await client.comment(otto, aid, "")
        assert empty.value.status == 422

        # the response figures, from what the API lists
        await client.resolve(otto, aid)
        now = time.time()
        every = await client.all_alarms(otto, since=now - 3600, until=now + 60)
        [row] = response_rows(pack, every, now - 3600, now + 60)
        assert (row.department, row.severity, row.received, row.acknowledged,
                row.resolved, row.open_at_end) == ("Pusdalops", "warning", 1, 1, 1, 0)
        assert row.ack_median_min is not None and 0 <= row.ack_median_min < 5

    # nobody answers there now
    gone = AlarmsClient(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(AlarmsError) as unreachable:
        await gone.alarms(otto)
    assert unreachable.value.kind == "unreachable"
