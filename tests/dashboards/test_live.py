"""The dashboards' live feed against a real Mosquitto: gateways' retained statuses, the
analytics' events (upserted by id), a malformed message counted, and the persistent
session handing a restarted dashboard what it missed."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from cityhub.mqtt import BrokerSettings
from dashboards.data.live import LiveFeed
from devservices import LocalMosquitto
from tests.dashboards.mqtt import send as mqtt_send

pytestmark = pytest.mark.integration


def wait(cond: Callable[[], bool], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_statuses_events_and_a_restart(mosquitto: LocalMosquitto, protocol: str) -> None:
    city = f"live{uuid.uuid4().hex[:6]}"
    port = mosquitto.port

    def send(topic: str, doc: object, retain: bool = False) -> None:
        mqtt_send(port, topic, doc, retain=retain)

    # retained before the dashboard starts: it gets them at once
    send(f"city/{city}/status/gw-a", {"state": "online", "gateway": "gw-a", "version": "0.1.0",
                                       "backlog": 120, "oldest_age_s": 65.0, "dropped": 2,
                                       "faulty_sensors": ["tfc-2"], "time": 1.0}, retain=True)
    send(f"city/{city}/status/gw-b", {"state": "offline", "gateway": "gw-b"}, retain=True)
    feed = LiveFeed(city, BrokerSettings(host="127.0.0.1", port=port, protocol=protocol),  # type: ignore[arg-type]
                    client_id=f"dash-{city}")
    feed.start()
    try:
        wait(lambda: len(feed.gateways()) == 2, "both retained statuses")
        a = feed.gateways()["gw-a"]
        assert (a.state, a.backlog, a.dropped, a.faulty_sensors) == ("online", 120, 2, ("tfc-2",))
        assert feed.offline() == {"gw-b"}
        wait(feed.connected.is_set, "the subscription")

        opening = {"id": "e1", "city": city, "domain": "flood", "kind": "siaga_change",
                   "device": "river-1", "start": "2026-11-30T10:00:00Z", "end": None}
        send(f"city/{city}/events/flood/siaga_change", opening)
        wait(lambda: len(feed.events(ongoing=True)) == 1, "the opening event")
        send(f"city/{city}/events/flood/siaga_change", {**opening, "end": "2026-11-30T11:00:00Z"})
        wait(lambda: not feed.events(ongoing=True), "the closing message to supersede it")
        assert [e["id"] for e in feed.events(domain="flood")] == ["e1"]
        assert feed.events(domain="traffic") == []

        send(f"city/{city}/events/flood/siaga_change", b"{not json")
        wait(lambda: feed.rejected == 1, "the malformed event to be counted")
    finally:
        feed.close()

    # while the dashboard is down an event is published: its session keeps it
    send(f"city/{city}/events/traffic/incident",
         {"id": "e2", "city": city, "domain": "traffic", "kind": "incident",
          "device": "tfc-1", "start": "2026-11-30T12:00:00Z", "end": None})
    again = LiveFeed(city, BrokerSettings(host="127.0.0.1", port=port, protocol=protocol),  # type: ignore[arg-type]
                     client_id=f"dash-{city}")
    again.start()
    try:
        wait(lambda: [e["id"] for e in again.events(domain="traffic")] == ["e2"],
             "the event published while the dashboard was down")
    finally:
        again.close()
        send(f"city/{city}/status/gw-a", b"", retain=True)  # clear the retained statuses
        send(f"city/{city}/status/gw-b", b"", retain=True)
