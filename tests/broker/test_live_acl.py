"""The generated passwd and acl, enforced by a real Mosquitto 2.0.

Each check that something is NOT delivered first waits for a positive signal that would
have come after it, so it cannot pass by waiting too little:

- one client's publishes reach a subscriber in order, so once a gateway's own message
  arrives, the denied one it published before it would already be there;
- Mosquitto routes a QoS 1 message to its subscribers before it sends the publisher's
  PUBACK (``handle__publish``), so once that PUBACK is in, a copy for the publisher's own
  subscription would already be on its connection, ahead of the PUBACK.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import pytest

from cityhub.fields import Domain
from cityhub.topics import (
    alert_topic,
    deadletter_topic,
    event_filter,
    event_topic,
    notify_topic,
    status_topic,
    telemetry_filter,
    telemetry_topic,
)
from tests.broker.conftest import PASSWORDS, Broker
from tests.broker.live import Mqtt, connected

pytestmark = pytest.mark.integration

NOT_AUTHORIZED = 0x87  # the PUBACK reason code of a denied publish, MQTT 5 only


def login(b: Broker, user: str, **kw: Any) -> AbstractContextManager[Mqtt]:
    """A connection as ``user``, with its password, that must be accepted."""
    return connected(b.port, user, PASSWORDS[user], **kw)


def test_anonymous_and_wrong_passwords_are_refused(live_broker: Broker) -> None:
    b = live_broker
    for user, password in ((None, None), ("gw-a", "not-its-password"),
                           ("gw-a", PASSWORDS["gw-b"]), ("nobody", "x"), ("gw-c", "x")):
        c = Mqtt(b.port, user, password)
        ack = c.connect()
        c.close()
        assert not ack.connected, (user, ack)
        assert "authori" in ack.reason.lower() or "password" in ack.reason.lower(), ack
    with login(b, "gw-a"):  # the control: its own password is accepted
        pass


def test_a_gateway_cannot_publish_under_another_gateways_name(live_broker: Broker) -> None:
    b, city = live_broker, live_broker.city
    with login(b, "cityhub-ingest") as ingest, login(b, "gw-a") as gw:
        assert ingest.subscribe(*(f"$share/ingest/{f}" for f in telemetry_filter(city))) \
            == [1] * len(Domain)
        theirs = telemetry_topic(city, "traffic", "gw-b")
        own = telemetry_topic(city, "traffic", "gw-a")
        for topic in (theirs, f"{theirs}/tfc-b1", telemetry_topic(city, "flood", "gw-b")):
            assert gw.publish(topic, b"forged") == 0  # dropped, yet a PUBACK all the same
        gw.publish(own, b"pack")
        gw.publish(f"{own}/tfc-1", b"device")
        assert ingest.next_message() == (own, b"pack", False)  # the positive signal
        assert ingest.next_message() == (f"{own}/tfc-1", b"device", False)
        assert ingest.next_message(timeout=0.5) is None


@pytest.mark.parametrize("what", ["events", "alerts", "another gateway's status"])
def test_a_gateway_cannot_publish_on_the_hubs_topics(live_broker: Broker, what: str) -> None:
    b, city = live_broker, live_broker.city
    topic, writer = {
        "events": (event_topic(city, "traffic", "congestion"), "cityhub-analytics"),
        "alerts": (alert_topic(city, "flood", "critical"), "cityhub-alerts"),
        "another gateway's status": (status_topic(city, "gw-b"), "gw-b"),
    }[what]
    with login(b, "cityhub-dashboard") as dash, login(b, "gw-a") as gw, \
            login(b, writer) as owner:
        assert dash.subscribe(topic) == [1]
        assert gw.publish(topic, b"forged") == 0  # routed (to nobody) before this PUBACK
        owner.publish(topic, b"genuine")
        assert dash.next_message() == (topic, b"genuine", False)
        assert dash.next_message(timeout=0.5) is None
    # and what nobody reads: still a PUBACK, still nothing else to see
    with login(b, "gw-a") as gw:
        for t in (deadletter_topic(city), notify_topic(city, "bpbd")):
            assert gw.publish(t, b"forged") == 0


def test_a_gateway_reads_nothing_though_its_subscriptions_are_granted(
        live_broker: Broker) -> None:
    b, city = live_broker, live_broker.city
    own = telemetry_topic(city, "rain", "gw-a")
    with login(b, "cityhub-dashboard") as dash, login(b, "gw-a") as gw, \
            login(b, "gw-b") as other:
        assert dash.subscribe(*telemetry_filter(city)) == [1] * len(Domain)
        # Mosquitto 2.0's ACL file never refuses a SUBSCRIBE: read is checked on delivery
        assert gw.subscribe("#", f"city/{city}/#", f"$share/g/city/{city}/rain/#") == [1, 1, 1]
        other.publish(telemetry_topic(city, "traffic", "gw-b"), b"b")
        assert dash.next_message() == (telemetry_topic(city, "traffic", "gw-b"), b"b", False)
        gw.publish(own, b"a")  # would come back to gw-a ahead of this PUBACK, were it read
        assert dash.next_message() == (own, b"a", False)
        assert gw.next_message(timeout=0.5) is None


def test_shared_subscriptions_of_the_services_receive(live_broker: Broker) -> None:
    b, city = live_broker, live_broker.city
    topic = telemetry_topic(city, "lighting", "gw-b")
    with login(b, "cityhub-ingest") as ingest, login(b, "cityhub-analytics") as analytics, \
            login(b, "cityhub-alerts") as alerts, login(b, "gw-b") as gw:
        for service, group in ((ingest, "ingest"), (analytics, "analytics"),
                               (alerts, "alerts")):
            service.subscribe(*(f"$share/{group}/{f}" for f in telemetry_filter(city)))
        alerts.subscribe(f"$share/alerts/{event_filter(city)}")
        gw.publish(topic, b"pack")
        for service in (ingest, analytics, alerts):  # each group gets every message
            assert service.next_message() == (topic, b"pack", False)
        analytics.publish(event_topic(city, "lighting", "lamp_day_burning"), b"event")
        assert alerts.next_message() == (event_topic(city, "lighting", "lamp_day_burning"),
                                         b"event", False)
        assert ingest.publish(deadletter_topic(city), b"dead") == 0


def test_a_gateways_birth_and_last_will_reach_the_alerts_service(live_broker: Broker
                                                                  ) -> None:
    b, city = live_broker, live_broker.city
    status = status_topic(city, "gw-a")
    gw = Mqtt(b.port, "gw-a", PASSWORDS["gw-a"], will=(status, b'{"state": "offline"}'))
    assert gw.connect().connected
    gw.publish(status, b'{"state": "online"}', retain=True)
    with login(b, "cityhub-alerts") as alerts:
        assert alerts.subscribe(f"city/{city}/status/+") == [1]
        assert alerts.next_message() == (status, b'{"state": "online"}', True)  # retained
        gw.drop()  # no DISCONNECT: the broker publishes the will, through the ACL
        assert alerts.next_message() == (status, b'{"state": "offline"}', False)


def test_mqtt5_publishers_are_told_of_a_denied_publish(live_broker: Broker) -> None:
    b, city = live_broker, live_broker.city
    with login(b, "gw-a", v5=True) as gw:
        assert gw.publish(telemetry_topic(city, "traffic", "gw-b")) == NOT_AUTHORIZED
        assert gw.publish(event_topic(city, "traffic", "congestion")) == NOT_AUTHORIZED
        assert gw.publish(telemetry_topic(city, "traffic", "gw-a")) < 0x80  # 0 or 0x10


def test_a_shared_group_member_that_may_not_read_loses_its_turns(live_broker: Broker
                                                                 ) -> None:
    """Mosquitto gives each message to one member of a $share group in turn and checks
    that member's read access only then (``subs__shared_process``): a member that may not
    read drops its turns, they go to no one. So every member of a group must be allowed
    to read what the group subscribes to (docs/broker.md)."""
    b, city = live_broker, live_broker.city
    topic = telemetry_topic(city, "flood", "gw-b")
    group = f"$share/ingest/city/{city}/flood/#"
    with login(b, "cityhub-ingest") as ingest, login(b, "gw-a") as intruder, \
            login(b, "gw-b") as gw:
        assert ingest.subscribe(group) == [1]
        assert intruder.subscribe(group) == [1]
        for i in range(6):
            gw.publish(topic, str(i).encode())
        got: list[int] = []
        while not got or got[-1] < 4:  # in order: once 4 or 5 is in, 0-3 are settled
            m = ingest.next_message()
            assert m is not None, got
            got.append(int(m[1]))
        assert len([i for i in got if i < 4]) == 2, got  # every other one, lost
        assert intruder.next_message(timeout=0.2) is None
