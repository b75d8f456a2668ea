"""The decoder checks every message against the contract and the city pack."""

from __future__ import annotations

import orjson
import pytest

from cityhub.config.pack import CityPack
from cityhub.errors import ContractError, DecodeError
from ingest.decoder import Decoder

NOW = 1_767_225_600.0


def msg(*records: dict[str, object]) -> bytes:
    return orjson.dumps(list(records))


def test_points_carry_tags_from_the_pack(small_pack: CityPack) -> None:
    d = Decoder(small_pack, clock=lambda: NOW)
    city = small_pack.city.id
    points = d.decode(f"city/{city}/traffic/gw-a", msg(
        {"bn": "tfc-1:", "bt": NOW, "n": "intensity", "v": 5},
        {"n": "averageVehicleSpeed", "v": 40},
        {"bn": "tfc-2:", "n": "intensity", "v": 7, "t": -60}))
    assert [(p.tag["device"], p.tag["district"], p.tag["gateway"], dict(p.fields))
            for p in points] == [
        ("tfc-1", "north", "gw-a", {"intensity": 5.0, "averageVehicleSpeed": 40.0}),
        ("tfc-2", "south", "gw-a", {"intensity": 7.0}),  # the sensor's own district
    ]
    assert all(p.measurement == "traffic" and p.tag["city"] == city for p in points)


@pytest.mark.parametrize(("topic", "records", "reason"), [
    ("city/{city}/traffic/gw-a", [{"bn": "tfc-9:", "bt": NOW, "n": "intensity", "v": 1}],
     "unknown_device"),
    ("city/{city}/traffic/gw-a", [{"bn": "tfc-b1:", "bt": NOW, "n": "intensity", "v": 1}],
     "wrong_gateway"),
    ("city/{city}/rain/gw-a", [{"bn": "tfc-1:", "bt": NOW, "n": "rainRate", "v": 1}],
     "wrong_domain"),
    ("city/{city}/traffic/gw-a", [{"bn": "tfc-1:", "bt": NOW + 3600, "n": "intensity",
                                   "v": 1}], "future_time"),
    ("city/elsewhere/traffic/gw-a", [{"bn": "tfc-1:", "bt": NOW, "n": "intensity", "v": 1}],
     "unknown_city"),
])
def test_contract_refusals(small_pack: CityPack, topic: str, records: list[dict[str, object]],
                           reason: str) -> None:
    d = Decoder(small_pack, clock=lambda: NOW)
    with pytest.raises(ContractError) as e:
        d.decode(topic.format(city=small_pack.city.id), msg(*records))
    assert e.value.reason == reason


def test_single_device_topic(small_pack: CityPack) -> None:
    d = Decoder(small_pack, clock=lambda: NOW)
    [p] = d.decode(f"city/{small_pack.city.id}/flood/gw-a/river-1",
                   msg({"n": "currentLevel", "u": "m", "v": 1.5, "bt": NOW}))
    assert p.tag["device"] == "river-1"
    assert p.fields == {"currentLevel": 1.5}
    with pytest.raises(DecodeError, match="differs from the topic"):
        d.decode(f"city/{small_pack.city.id}/flood/gw-a/river-1",
                 msg({"bn": "tfc-1:", "n": "currentLevel", "v": 1.5, "bt": NOW}))
