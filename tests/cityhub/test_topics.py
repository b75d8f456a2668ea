from __future__ import annotations

import pytest

from cityhub.errors import DecodeError
from cityhub.fields import Domain
from cityhub.topics import (
    TelemetryTopic,
    alert_topic,
    city_of,
    parse_telemetry,
    status_topic,
    telemetry_filter,
    telemetry_topic,
)


def test_build_and_parse_round_trip() -> None:
    t = telemetry_topic("bandung", "flood", "gw-dago")
    assert t == "city/bandung/flood/gw-dago"
    assert parse_telemetry(t) == TelemetryTopic("bandung", Domain.FLOOD, "gw-dago", None)
    one = telemetry_topic("bandung", Domain.TRAFFIC, "gw-dago", "tfc-dago-01")
    assert parse_telemetry(one).device == "tfc-dago-01"
    assert str(parse_telemetry(one)) == one


@pytest.mark.parametrize("topic", [
    "city/bandung/weather/gw-1", "city/Bandung/flood/gw-1", "city/bandung/flood",
    "city/bandung/flood/gw-1/dev/extra", "town/bandung/flood/gw-1", "city/bandung/flood/gw 1",
    "city/bandung/status/gw-1", "",
])
def test_bad_topics_are_refused(topic: str) -> None:
    with pytest.raises(DecodeError) as e:
        parse_telemetry(topic)
    assert e.value.reason == "topic"


def test_other_topics_and_filters() -> None:
    assert status_topic("bogor", "gw-katulampa") == "city/bogor/status/gw-katulampa"
    assert alert_topic("bogor", "flood", "critical") == "city/bogor/alerts/flood/critical"
    assert "city/bogor/rain/#" in telemetry_filter("bogor")
    assert telemetry_filter()[0] == "city/+/traffic/#"
    with pytest.raises(ValueError, match="slug"):
        telemetry_topic("Bad City", "flood", "gw")


def test_the_city_of_a_topic() -> None:
    assert city_of(telemetry_topic("bogor", "flood", "gw-a")) == "bogor"
    assert city_of(status_topic("bandung", "gw-dago")) == "bandung"
    for other in ("city/bogor", "cities/bogor/flood/gw", "(spool)", ""):
        assert city_of(other) is None, other
