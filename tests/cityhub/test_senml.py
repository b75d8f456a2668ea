"""The SenML codec: what it accepts, what it refuses and how it says so."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityhub.errors import DecodeError
from cityhub.senml import Reading, decode_pack, encode_pack, encode_packs

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def pack(*records: dict[str, object]) -> bytes:
    return orjson.dumps(list(records))


def test_gateway_pack_with_base_values_and_offsets() -> None:
    payload = pack(
        {"bn": "tfc-1:", "bt": T0, "n": "intensity", "u": "1/min", "v": 14, "seq": 7},
        {"n": "averageVehicleSpeed", "u": "km/h", "v": 31.5, "seq": 8},
        {"bn": "tfc-2:", "n": "congested", "vb": True, "t": 10.5, "seq": 9},
    )
    got = decode_pack(payload, domain="traffic")
    assert got == [
        Reading("tfc-1", "intensity", 14.0, int(T0 * 1e9), 7),
        Reading("tfc-1", "averageVehicleSpeed", 31.5, int(T0 * 1e9), 8),
        Reading("tfc-2", "congested", True, int(T0 * 1e9) + 10_500_000_000, 9),
    ]
    assert isinstance(got[0].value, float)  # a field's type never changes


def test_single_device_topic_may_omit_bn() -> None:
    got = decode_pack(pack({"n": "currentLevel", "u": "m", "v": 1.25, "t": T0}),
                      domain="flood", device="river-1")
    assert got == [Reading("river-1", "currentLevel", 1.25, int(T0 * 1e9), None)]


@pytest.mark.parametrize(("records", "reason", "words"), [
    ([{"bn": "tfc-1:", "n": "intensity", "v": 1}], "time", ["record 0", "no time"]),
    ([{"bn": "tfc-1:", "n": "intensity", "v": 1, "t": 100}], "time", ["relative"]),
    ([{"bn": "tfc-1:", "bt": T0, "n": "intensity", "v": "12"}], "label", ["'v'", "number"]),
    ([{"bn": "tfc-1:", "bt": T0, "n": "intensity", "vs": "12"}], "value", ["'vs'", "'v'"]),
    ([{"bn": "tfc-1:", "bt": T0, "n": "averageVehicleSpeed", "u": "mph", "v": 3}],
     "unit", ["'mph'", "km/h"]),
    ([{"bn": "tfc-1:", "bt": T0, "n": "horsepower", "v": 3}], "field", ["horsepower"]),
    ([{"bn": "tfc-1:", "bt": T0, "n": "intensity"}], "value", ["exactly one"]),
    ([{"bn": "tfc-1:", "bt": T0, "n": "intensity", "v": 1, "vb": True}], "value",
     ["exactly one"]),
    ([{"bt": T0, "n": "intensity", "v": 1}], "name", ["no device"]),
    ([{"bn": "Bad Device:", "bt": T0, "n": "intensity", "v": 1}], "name", ["'bn'"]),
    ([{"bn": "tfc-1:", "bt": T0, "n": "intensity", "v": 1, "seq": -1}], "label", ["seq"]),
    ([{"bn": "tfc-1:", "bt": T0, "n": "intensity", "v": 1, "xx_": 1}], "label",
     ["must-understand"]),
    ([{"bn": "tfc-1:", "bt": T0, "n": "intensity", "vd": "AA"}], "label", ["'vd'"]),
    ([{"bn": "tfc-1:", "bt": T0, "n": "intensity", "v": 1}, 5], "shape", ["record 1"]),
])
def test_refusals_name_record_and_label(records: list[object], reason: str,
                                        words: list[str]) -> None:
    with pytest.raises(DecodeError) as e:
        decode_pack(orjson.dumps(records), domain="traffic")
    assert e.value.reason == reason
    for w in words:
        assert w in str(e.value)


@pytest.mark.parametrize(("payload", "reason"), [
    (b"\xff\xfe garbage", "json"),
    (b"[1e999]", "json"),  # infinity
    (b'[{"bn": "tfc-1:", "bt": 1767225600, "n": "intensity", "v": NaN}]', "json"),
    (b"{}", "shape"),
    (b"[]", "shape"),
    (b"[" * 5000 + b"]" * 5000, "json"),  # deep nesting
])
def test_malformed_payloads(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as e:
        decode_pack(payload, domain="traffic")
    assert e.value.reason == reason


def test_size_limits() -> None:
    rec = {"bn": "tfc-1:", "bt": T0, "n": "intensity", "v": 1}
    with pytest.raises(DecodeError, match="limit 100"):
        decode_pack(pack(rec, rec, rec), domain="traffic", max_bytes=100)
    with pytest.raises(DecodeError, match="records, limit 2"):
        decode_pack(pack(rec, rec, rec), domain="traffic", max_records=2)


def test_string_choices_are_enforced() -> None:
    ok = {"bn": "lamp-1:", "bt": T0, "n": "powerState", "vs": "on"}
    assert decode_pack(pack(ok), domain="lighting")[0].value == "on"
    with pytest.raises(DecodeError, match="blinking"):
        decode_pack(pack({**ok, "vs": "blinking"}), domain="lighting")


def test_unknown_ignorable_labels_are_ignored() -> None:
    got = decode_pack(pack({"bn": "tfc-1:", "bt": T0, "n": "intensity", "v": 1, "note": "x"}),
                      domain="traffic")
    assert got[0].value == 1.0


readings = st.builds(
    Reading,
    device=st.sampled_from(["tfc-1", "tfc-2", "tfc_3"]),
    field=st.sampled_from(["intensity", "occupancy", "averageVehicleSpeed"]),
    value=st.floats(-1e12, 1e12, allow_nan=False).map(float),
    time_ns=st.integers(1_500_000_000 * 10**9, 2_000_000_000 * 10**9).map(
        lambda t: t // 1000 * 1000),
    seq=st.none() | st.integers(0, 2**53),
)


@given(st.lists(readings, min_size=1, max_size=40))
def test_encode_decode_round_trip(items: list[Reading]) -> None:
    assert decode_pack(encode_pack(items, domain="traffic"), domain="traffic") == items


@given(st.lists(readings, min_size=1, max_size=60))
def test_split_packs_fit_and_keep_order(items: list[Reading]) -> None:
    packs = encode_packs(items, domain="traffic", max_bytes=800)
    assert all(len(p) <= 800 for p in packs)
    assert [r for p in packs for r in decode_pack(p, domain="traffic")] == items
