"""One broker for a hub serving two cities (``cityhub broker config --city A --city B``),
enforced by a real Mosquitto 2.0: each city's gateways write their own topics only; the
services' accounts read and write every city's; each department reads its own city's
notifications only. A positive signal precedes each "nothing delivered" (see
test_live_acl.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.accounts import accounts_of
from broker.conf import BrokerOptions
from broker.generate import generate
from cityhub.config import load_pack
from cityhub.config.pack import CityPack
from cityhub.errors import ConfigError
from cityhub.topics import (
    event_filter,
    event_topic,
    notify_topic,
    telemetry_filter,
    telemetry_topic,
)
from devservices.ports import free_port
from tests.broker.conftest import ENVIRON, PASSWORDS, write_broker_pack
from tests.broker.live import connected, running_broker

pytestmark = pytest.mark.integration

SECOND = {"b-gw-a": "pw-second-a", "b-gw-b": "pw-second-b"}


def second_city(root: Path, city: str, port: int) -> CityPack:
    """The small broker pack again, as another city whose gateways log in as b-gw-a and
    b-gw-b."""
    write_broker_pack(root, city, port)
    for gw in ("a", "b"):
        path = root / "gateways" / f"gw-{gw}.yaml"
        path.write_text(path.read_text()
                        .replace(f"username: gw-{gw}", f"username: b-gw-{gw}")
                        .replace(f"CITYHUB_GW_{gw.upper()}_PASSWORD",
                                 f"CITYHUB_B_GW_{gw.upper()}_PASSWORD"))
    return load_pack(root)


@pytest.fixture(scope="module")
def two_cities(tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[CityPack, CityPack, int]]:
    root = tmp_path_factory.mktemp("cities")
    port = free_port()
    one = load_pack(write_broker_pack(root / "one", f"c1-{uuid.uuid4().hex[:6]}", port))
    two = second_city(root / "two", f"c2-{uuid.uuid4().hex[:6]}", port)
    environ = {**ENVIRON, "CITYHUB_B_GW_A_PASSWORD": SECOND["b-gw-a"],
               "CITYHUB_B_GW_B_PASSWORD": SECOND["b-gw-b"]}
    for pack in (one, two):  # a department's account is named after its city too
        name = pack.city.id.upper().replace("-", "_")
        environ[f"CITYHUB_MQTT_DEPT_{name}_BPBD_PASSWORD"] = f"pw-{pack.city.id}"
    out = root / "out"
    generate([one, two], out, BrokerOptions(str(out), str(out / "data"), port, "127.0.0.1"),
             environ=environ)
    with running_broker(out, port):
        yield one, two, port


def test_the_accounts_of_two_cities(tmp_path: Path) -> None:
    one = load_pack(write_broker_pack(tmp_path / "one", "c1"))
    two = second_city(tmp_path / "two", "c2", 1883)
    accounts = accounts_of([one, two])
    assert accounts.cities == ("c1", "c2")
    names = [a.username for a in accounts.accounts]
    assert names == ["gw-a", "gw-b", "b-gw-a", "b-gw-b", "cityhub-ingest",
                     "cityhub-analytics", "cityhub-alerts", "cityhub-dashboard",
                     "dept-c1-bpbd", "dept-c2-bpbd"]
    assert accounts.without_credentials == ("c1/gw-c", "c2/gw-c")
    # a login two cities' gateways would share is one identity: refused, naming both
    clash = load_pack(write_broker_pack(tmp_path / "three", "c3"))
    with pytest.raises(ConfigError, match="'gw-a' is already the account of gateway gw-a "
                       "of c1"):
        accounts_of([one, clash])


def test_each_city_keeps_to_its_own_topics(two_cities: tuple[CityPack, CityPack, int]
                                           ) -> None:
    one, two, port = two_cities
    c1, c2 = one.city.id, two.city.id
    with connected(port, "cityhub-ingest", PASSWORDS["cityhub-ingest"]) as ingest, \
            connected(port, "gw-a", PASSWORDS["gw-a"]) as a1, \
            connected(port, "b-gw-a", SECOND["b-gw-a"]) as a2:
        ingest.subscribe(*(f"$share/ingest/{f}" for c in (c1, c2)
                           for f in telemetry_filter(c)))
        # city 1's gw-a cannot write as city 2's gw-a, nor the reverse
        assert a1.publish(telemetry_topic(c2, "traffic", "gw-a"), b"forged") == 0
        assert a2.publish(telemetry_topic(c1, "traffic", "gw-a"), b"forged") == 0
        a1.publish(telemetry_topic(c1, "traffic", "gw-a"), b"one")
        a2.publish(telemetry_topic(c2, "traffic", "gw-a"), b"two")
        got = {ingest.next_message(), ingest.next_message()}
        assert got == {(telemetry_topic(c1, "traffic", "gw-a"), b"one", False),
                       (telemetry_topic(c2, "traffic", "gw-a"), b"two", False)}
        assert ingest.next_message(timeout=0.5) is None
    # the analytics' events of each city reach the alerts service
    with connected(port, "cityhub-analytics", PASSWORDS["cityhub-analytics"]) as analytics, \
            connected(port, "cityhub-alerts", PASSWORDS["cityhub-alerts"]) as alerts:
        alerts.subscribe(*(f"$share/alerts/{event_filter(c)}" for c in (c1, c2)))
        for c in (c1, c2):
            analytics.publish(event_topic(c, "flood", "siaga_change"), c.encode())
        for c in (c1, c2):
            assert alerts.next_message() == (event_topic(c, "flood", "siaga_change"),
                                             c.encode(), False)


def test_each_department_reads_its_own_citys_notifications(
        two_cities: tuple[CityPack, CityPack, int]) -> None:
    one, two, port = two_cities
    c1, c2 = one.city.id, two.city.id
    with connected(port, "cityhub-alerts", PASSWORDS["cityhub-alerts"]) as alerts, \
            connected(port, f"dept-{c1}-bpbd", f"pw-{c1}") as d1, \
            connected(port, f"dept-{c2}-bpbd", f"pw-{c2}") as d2:
        assert d1.subscribe("city/+/notify/#") == [1]
        assert d2.subscribe("city/+/notify/#") == [1]
        alerts.publish(notify_topic(c2, "bpbd"), b"for two")
        alerts.publish(notify_topic(c1, "bpbd"), b"for one")
        assert d2.next_message() == (notify_topic(c2, "bpbd"), b"for two", False)
        assert d1.next_message() == (notify_topic(c1, "bpbd"), b"for one", False)
        # in order: had city 2's reached d1, it would have come before city 1's
        assert d1.next_message(timeout=0.5) is None
        assert d2.next_message(timeout=0.5) is None
