"""The pure builders: accounts, the ACL and mosquitto.conf from a city pack."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from paho.mqtt.client import topic_matches_sub

from alerts.settings import AlertsSettings
from analytics.settings import AnalyticsSettings
from broker import (
    SERVICES,
    BrokerOptions,
    TlsListener,
    accounts_of,
    acl_text,
    gateway_rules,
    mosquitto_conf,
    parse_acl,
    service_rules,
)
from cityhub.config import load_pack
from cityhub.config.pack import CityPack
from cityhub.errors import ConfigError
from cityhub.fields import Domain
from cityhub.senml import MAX_PACK_BYTES
from cityhub.topics import (
    alert_topic,
    deadletter_topic,
    event_topic,
    notify_topic,
    status_topic,
    telemetry_topic,
)
from ingest.settings import IngestSettings
from tests.broker.conftest import write_broker_pack


@pytest.fixture(scope="module")
def bandung() -> CityPack:
    return load_pack("bandung")


def _writes(rules: Sequence[tuple[str, str]]) -> list[str]:
    return [t for access, t in rules if access == "write"]


def test_every_bandung_gateway_has_an_account_and_its_topics(bandung: CityPack) -> None:
    accounts = accounts_of(bandung)
    assert not accounts.without_credentials
    acl = parse_acl(acl_text(bandung, accounts))
    assert set(acl) == {gw.credentials.username for gw in bandung.gateways
                        if gw.credentials} | {f"cityhub-{s}" for s in SERVICES} \
        | {f"dept-{d.id}" for d in bandung.alerts.departments}  # all reached over MQTT
    # a department reads its own notifications, nothing else
    assert acl["dept-bpbd"] == [("read", "city/bandung/notify/bpbd")]
    dept = next(a for a in accounts.accounts if a.username == "dept-bpbd")
    assert dept.password_env == "CITYHUB_MQTT_DEPT_BPBD_PASSWORD"
    for gw in bandung.gateways:
        assert gw.credentials is not None
        rules = acl[gw.credentials.username]
        assert all(access == "write" for access, _ in rules), "a gateway reads nothing"
        expected = {status_topic("bandung", gw.id)}
        for d in Domain:
            base = telemetry_topic("bandung", d, gw.id)
            expected |= {base, f"{base}/#"}
        assert set(_writes(rules)) == expected
        for pattern in _writes(rules):
            assert "+" not in pattern, pattern
            assert "#" not in pattern or pattern.endswith(f"/{gw.id}/#"), pattern


def test_no_gateway_pattern_reaches_another_gateways_or_the_hubs_topics(
        bandung: CityPack) -> None:
    city = "bandung"
    ids = [gw.id for gw in bandung.gateways]
    hub = [event_topic(city, "flood", "siaga_change"), alert_topic(city, "flood", "critical"),
           alert_topic(city, "gateway", "warning"), notify_topic(city, "bpbd"),
           deadletter_topic(city), f"city/{city}/status", f"city/{city}/events"]
    for gw in ids:
        patterns = _writes(gateway_rules(city, gw))
        others = [t for o in ids if o != gw for d in Domain
                  for t in (telemetry_topic(city, d, o), telemetry_topic(city, d, o, "dev-1"),
                            status_topic(city, o))]
        for topic in [*others, *hub, telemetry_topic("bogor", "traffic", gw)]:
            assert not any(topic_matches_sub(p, topic) for p in patterns), (gw, topic)
        for d in Domain:  # and its own still pass
            for topic in (telemetry_topic(city, d, gw), telemetry_topic(city, d, gw, "d-1")):
                assert any(topic_matches_sub(p, topic) for p in patterns), topic


def test_the_services_rules() -> None:
    c = "somecity"
    telemetry = {("read", f"city/{c}/{d.value}/#") for d in Domain}
    assert set(service_rules(c, "ingest")) == telemetry | {("write", f"city/{c}/deadletter")}
    assert set(service_rules(c, "analytics")) == telemetry | {("write", f"city/{c}/events/#")}
    assert set(service_rules(c, "alerts")) == telemetry | {
        ("read", f"city/{c}/events/#"), ("read", f"city/{c}/status/+"),
        ("write", f"city/{c}/alerts/#"), ("write", f"city/{c}/notify/#")}
    assert set(service_rules(c, "dashboard")) == telemetry | {
        ("read", f"city/{c}/status/+"), ("read", f"city/{c}/events/#"),
        ("read", f"city/{c}/alerts/#")}
    for s in SERVICES:  # nothing of a shared group ($share/...): read is on the plain topic
        assert all(not t.startswith("$") for _, t in service_rules(c, s))
    with pytest.raises(ValueError, match="unknown service"):
        service_rules(c, "billing")


def test_the_acl_has_nothing_for_anonymous_clients(bandung: CityPack) -> None:
    lines = acl_text(bandung, accounts_of(bandung)).splitlines()
    first_user = next(i for i, line in enumerate(lines) if line.startswith("user "))
    assert all(line.startswith("#") or not line.strip() for line in lines[:first_user])
    assert not any(line.startswith("pattern ") for line in lines)


def test_gateways_without_credentials_and_bad_usernames(tmp_path: Path) -> None:
    pack = load_pack(write_broker_pack(tmp_path / "p", "somecity"))
    accounts = accounts_of(pack, "HUB_")
    assert accounts.without_credentials == ("gw-c",)
    assert [a.username for a in accounts.gateways] == ["gw-a", "gw-b"]
    assert {a.password_env for a in accounts.accounts if a.role != "gateway"} == \
        {f"HUB_{s.upper()}_PASSWORD" for s in SERVICES} | {"HUB_DEPT_BPBD_PASSWORD"}
    assert "gw-c" in acl_text(pack, accounts).split("# no account")[1]
    with pytest.raises(ConfigError, match="password-env-prefix"):
        accounts_of(pack, "lower-case")

    b = tmp_path / "p" / "gateways" / "gw-b.yaml"
    b.write_text(b.read_text().replace("username: gw-b", "username: gw-a"))
    with pytest.raises(ConfigError, match="already the account of gateway gw-a"):
        accounts_of(load_pack(tmp_path / "p"))
    b.write_text(b.read_text().replace("username: gw-a", "username: cityhub-ingest"))
    with pytest.raises(ConfigError, match="already the account of"):
        accounts_of(load_pack(tmp_path / "p"))
    b.write_text(b.read_text().replace("username: cityhub-ingest", "username: 'gw b:x'"))
    with pytest.raises(ConfigError, match="cannot be a broker username"):
        accounts_of(load_pack(tmp_path / "p"))


def _settings(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(" ")
            out.setdefault(key, []).append(value)
    return out


def test_mosquitto_conf(tmp_path: Path) -> None:
    pack = load_pack(write_broker_pack(tmp_path / "p", "somecity", port=18830))
    conf = _settings(mosquitto_conf(pack, BrokerOptions("/mosquitto/config/",
                                                        "/mosquitto/data", 18830)))
    assert conf["allow_anonymous"] == ["false"]
    assert conf["password_file"] == ["/mosquitto/config/passwd"]
    assert conf["acl_file"] == ["/mosquitto/config/acl"]
    assert conf["persistence"] == ["true"]
    assert conf["persistence_location"] == ["/mosquitto/data/"]
    assert int(conf["max_queued_messages"][0]) >= 100_000  # the default 1000 drops silently
    assert int(conf["max_queued_bytes"][0]) > 0  # but bounded
    # At least each service's window: the ingester writes a batch at half of its own, so
    # a smaller broker window would leave it one store write at a time.
    windows = [s.model_fields["max_inflight"].default
               for s in (IngestSettings, AnalyticsSettings, AlertsSettings)]
    assert int(conf["max_inflight_messages"][0]) >= max(windows) >= 2000
    assert int(conf["message_size_limit"][0]) == MAX_PACK_BYTES
    assert int(conf["max_packet_size"][0]) > MAX_PACK_BYTES
    assert conf["listener"] == ["18830"]
    assert "certfile" not in conf and "require_certificate" not in conf
    assert conf["per_listener_settings"] == ["false"]  # one passwd and acl for both


def test_mosquitto_conf_with_tls(tmp_path: Path) -> None:
    pack = load_pack(write_broker_pack(tmp_path / "p", "somecity"))
    for require in (False, True):
        tls = TlsListener("/c/server.pem", "/c/server.key", "/c/ca.pem", 8883, require)
        conf = _settings(mosquitto_conf(pack, BrokerOptions("/etc/m", "/var/m", 1883,
                                                            "127.0.0.1", tls)))
        assert conf["listener"] == ["1883 127.0.0.1", "8883 127.0.0.1"]
        assert conf["certfile"] == ["/c/server.pem"] and conf["keyfile"] == ["/c/server.key"]
        assert conf["cafile"] == ["/c/ca.pem"]
        assert conf["require_certificate"] == ["true" if require else "false"]
        assert conf["tls_version"] == ["tlsv1.2"]


def test_names_from_the_pack_stay_in_their_comment(tmp_path: Path) -> None:
    """A name is free text: a line break in it must not start an ACL or config line."""
    root = write_broker_pack(tmp_path / "p", "somecity")
    a = root / "gateways" / "gw-a.yaml"
    a.write_text(a.read_text().replace("id: gw-a\n", 'id: gw-a\nname: "A\\ntopic readwrite #"\n'))
    city = root / "city.yaml"
    city.write_text(city.read_text().replace("name: Test City",
                                             'name: "Test\\nallow_anonymous true"'))
    pack = load_pack(root)
    assert "\n" in pack.city.name
    acl = acl_text(pack, accounts_of(pack))
    assert ("readwrite", "#") not in [tuple(line.split()[1:]) for line in acl.splitlines()
                                      if line.startswith("topic ")]
    assert all(t != "#" for rules in parse_acl(acl).values() for _, t in rules)
    conf = _settings(mosquitto_conf(pack, BrokerOptions("/c", "/d")))
    assert conf["allow_anonymous"] == ["false"]
