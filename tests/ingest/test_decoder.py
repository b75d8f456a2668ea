"""The decoder checks every message against the contract and the city pack."""

from __future__ import annotations

import msgspec
import orjson
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from cityhub.config import load_pack
from cityhub.config.pack import CityPack
from cityhub.errors import ContractError, DecodeError
from cityhub.lineprotocol import encode_line, encode_lines
from cityhub.senml import Reading, encode_pack
from fuzz.agreement import outcome, parsed
from ingest.decoder import Decoder
from tests.conftest import write_small_pack

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


# -- the python and compiled paths against the reference --------------------------------

_ANY = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                 st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=6),
                 st.lists(st.integers(-5, 5), max_size=1))
# Per label, values a mutation may set: the interesting wrong ones and some right ones.
_MUTANTS: dict[str, st.SearchStrategy[object]] = {
    "bn": st.sampled_from(["tfc-1:", "tfc-2:", "river-1:", "lamp-1:", "tfc-b1:", "nope:",
                           "Bad Id:", "tfc-1", ""]),
    "bt": st.sampled_from([NOW, NOW + 3600, 1000, 0, NOW - 1e6, int(NOW)]),
    "n": st.sampled_from(["intensity", "congested", "currentLevel", "powerState",
                          "precipitation", "x", "", "tfc-1:intensity", "river-1:currentLevel"]),
    "u": st.sampled_from(["1/min", "km/h", "m", "mm", "W", "/", "s", None]),
    "v": st.sampled_from([1.5, 3, -2, True, "1"]),
    "vs": st.sampled_from(["on", "off", "ok", "dim", 'a"b', "a\\b"]),
    "vb": st.sampled_from([True, False, 1, "true"]),
    "t": st.sampled_from([0, -30.5, 4000, -NOW, 1e-7, None]),
    "seq": st.sampled_from([0, 7, -1, 2**40, True, 1.5, None]),
    "bu": st.sampled_from(["m", "km/h"]),
    "bver": st.sampled_from([10, "10"]),
    "extra": _ANY,
    "must_": _ANY,
}
_VALID = {  # topic -> devices, (field, label, values, unit)
    "traffic/gw-a": (["tfc-1", "tfc-2"], [("intensity", "v", st.floats(0, 200), "1/min"),
                                          ("congested", "vb", st.booleans(), None)]),
    "flood/gw-a": (["river-1"], [("currentLevel", "v", st.integers(0, 5), "m")]),
    "lighting/gw-a": (["lamp-1"], [("powerState", "vs", st.sampled_from(["on", "off"]), None),
                                   ("activePower", "v", st.floats(0, 90), "W")]),
    "rain/gw-a": (["rain-1"], [("precipitation", "v", st.floats(0, 50), "mm")]),
    "traffic/gw-a/tfc-1": (["tfc-1"], [("intensity", "v", st.floats(0, 200), "1/min")]),
    "flood/gw-a/river-1": (["river-1"], [("currentLevel", "v", st.floats(0, 5), "m")]),
}
_ODD_TOPICS = ["traffic/gw-b", "traffic/gw-a/river-1", "traffic/gw-a/nope", "parking/gw-a"]


@st.composite
def near_valid(draw: st.DrawFn) -> tuple[str, list[dict[str, object]]]:
    """A pack as an edge agent (or a single-device publisher) sends it, then up to three
    mutations: a label set to an odd value, or removed."""
    topic = draw(st.sampled_from(sorted(_VALID)))
    devices, fields = _VALID[topic]
    single = topic.count("/") == 2
    records: list[dict[str, object]] = []
    for i in range(draw(st.integers(1, 6))):
        name, label, values, unit = draw(st.sampled_from(fields))
        rec: dict[str, object] = {}
        if (i == 0 and not single) or draw(st.booleans()):
            rec["bn"] = f"{draw(st.sampled_from(devices))}:"
        if i == 0:
            rec["bt"] = draw(st.floats(NOW - 1e5, NOW))
        rec["n"] = name
        rec[label] = draw(values)
        if unit and draw(st.booleans()):
            rec["u"] = unit
        if draw(st.booleans()):
            rec["t"] = draw(st.floats(-100, 0))
        if draw(st.booleans()):
            rec["seq"] = draw(st.integers(0, 2**40))
        records.append(rec)
    for _ in range(draw(st.integers(0, 3))):
        rec = draw(st.sampled_from(records))
        label = draw(st.sampled_from(sorted(_MUTANTS)))
        if draw(st.booleans()):
            rec[label] = draw(_MUTANTS[label])
        else:
            rec.pop(label, None)
    if draw(st.integers(0, 9)) == 0:
        topic = draw(st.sampled_from(_ODD_TOPICS))
    return topic, records


@pytest.fixture(scope="module")
def kernel_pack(tmp_path_factory: pytest.TempPathFactory) -> CityPack:
    return load_pack(write_small_pack(tmp_path_factory.mktemp("kernel"), "kernel"))


def _compiled_matches(d: Decoder, topic: str, payload: bytes,
                      reference: tuple[str, object]) -> bool:
    """Whether the compiled path took the message; if it did, it must be a message the
    reference accepts, and its lines must be read as the reference's points."""
    out = bytearray(b"earlier lines\n")
    n = d.compiled(topic, payload, out)
    if n is None:
        assert out == b"earlier lines\n"
        return False
    assert out.startswith(b"earlier lines\n")
    lines = bytes(out[len(b"earlier lines\n"):])
    assert reference[0] == "ok"
    points = reference[1]
    assert isinstance(points, list)
    assert n == len(points)
    assert parsed(lines) == parsed(encode_lines(points))
    return True


def _one(topic: str = "traffic/gw-a", **labels: object) -> tuple[str, object]:
    return topic, [{"bn": "tfc-1:", "bt": NOW, "n": "intensity", "v": 1.0, **labels}]


@settings(max_examples=500, deadline=None)
@example(_one(seq=-1)).via("negative seq")
@example(_one(seq=True)).via("boolean seq")
@example(_one(seq=2**63)).via("seq past msgspec's bound: the reference's")
@example(_one(u=None)).via("null unit")
@example(("flood/gw-a", [{"bn": "river-1:", "n": "currentLevel", "v": 0, "t": -1.0}])
         ).via("relative time equal to the kernel's old 'no time yet' sentinel")
@example(_one(bn=None)).via("null base name")
@example(_one(bt=NOW + 3600)).via("future time")
@example(_one(t=-NOW)).via("relative time")
@example(_one(u="km/h")).via("wrong unit")
@example(_one(vb=True)).via("two value labels")
@example(_one(v="1")).via("string for a number")
@example(_one(bu="1/min")).via("base unit: the reference's")
@example(_one(must_=1)).via("must-understand label")
@example(_one(bn="tfc-b1:")).via("another gateway's device")
@example(_one(n="tfc-1:intensity")).via("full name in n: the reference's")
@example(("lighting/gw-a", [{"bn": "lamp-1:", "bt": NOW, "n": "powerState", "vs": "dim"}])
         ).via("string not among the choices")
@example(("lighting/gw-a", [{"bn": "lamp-1:", "bt": NOW, "n": "powerState", "vs": "on"},
                            {"n": "powerState", "vs": "off"}])).via("a later value wins")
@given(case=st.one_of(near_valid(), st.tuples(st.sampled_from(sorted(_VALID)), _ANY)))
def test_kernel_matches_the_reference(kernel_pack: CityPack,
                                      case: tuple[str, object]) -> None:
    topic, records = case
    d = Decoder(kernel_pack, clock=lambda: NOW)
    full_topic = f"city/kernel/{topic}"
    payload = orjson.dumps(records)
    reference = outcome(lambda: d.reference(full_topic, payload))
    python = d._python(full_topic, payload)
    event(f"reference: {reference[0]}; python: {'took it' if python is not None else 'passed'}")
    if python is not None:  # python accepts only what the reference accepts, identically
        assert reference == ("ok", python)
        assert all(p.line == encode_line(p) for p in python)
    took = _compiled_matches(d, full_topic, payload, reference)
    event(f"compiled: {'took it' if took else 'passed'}")
    assert outcome(lambda: d.decode(full_topic, payload)) == reference


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["tfc-1", "tfc-2"]),
                          st.sampled_from(["intensity", "averageVehicleSpeed", "congested"]),
                          st.floats(0, 200), st.integers(-50, 0), st.integers(0, 2**31)),
                min_size=1, max_size=40))
def test_kernel_takes_what_edge_agents_send(
        kernel_pack: CityPack, rows: list[tuple[str, str, float, int, int]]) -> None:
    """Packs as the edge publisher encodes them never need the reference path."""
    readings = [Reading(dev, f, v > 100 if f == "congested" else v,
                        int((NOW + dt) * 1e9), seq) for dev, f, v, dt, seq in rows]
    payload = encode_pack(readings, domain="traffic")
    d = Decoder(kernel_pack, clock=lambda: NOW)
    points = d.decode("city/kernel/traffic/gw-a", payload)
    assert (d.decoded_python, d.decoded_reference) == (1, 0)
    assert points == d.reference("city/kernel/traffic/gw-a", payload)
    assert encode_lines(points) == encode_lines([msgspec.structs.replace(p, line="")
                                                 for p in points])
    took = _compiled_matches(d, "city/kernel/traffic/gw-a", payload, ("ok", points))
    # A gateway polls its devices in turn: by time, a device's fields together, each once.
    # Packs in that order need no Python per reading; others (a device's readings out of
    # time order, a field twice, values past 1e300 or below 1e-300 in size) go through
    # the python path, as checked above.
    order = [(dt, dev) for dev, _, _, dt, _ in rows]
    fields = [(dt, dev, f) for dev, f, _, dt, _ in rows]
    if order == sorted(order) and len(set(fields)) == len(fields) \
            and all(v == 0 or v > 1e-299 for _, _, v, _, _ in rows):
        assert took


@pytest.mark.parametrize("payload", [
    b'[{"bn":"tfc-1:","bt":1767225600,"n":"intensity","v":1,"u":"\xff"}]',
    b'[{"bn":"tfc-1:","bt":1767225600,"n":"intensity","v":1,"u":"\\ud800"}]',
    b'[{"bn":"tfc-1:","bt":1767225600,"n":"intensity","v":1}] trailing',
    b'[{"bn":"tfc-1:","bt":1767225600,"n":"intensity","v":1e400}]',
    b'[{"bn":"tfc-1:","bt":1767225600,"n":"intensity","v":NaN}]',
    b'[{"bn":"tfc-1:","bt":1767225600,"n":"intensity","v":1,"seq":18446744073709551616}]',
    b'[{"bn":"tfc-1:","bt":1e303,"n":"intensity","v":1}]',
    b'[{"bn":"tfc-1:","bt":9223372037,"n":"intensity","v":1}]',
], ids=["not-utf8", "lone-surrogate", "trailing", "overflow", "nan", "seq-past-64-bits",
        "time-overflows-float-ns", "time-past-int64-ns"])
def test_kernel_leaves_bad_bytes_to_the_reference(kernel_pack: CityPack,
                                                  payload: bytes) -> None:
    """Bytes orjson refuses (the reference's parser) are never taken by python or
    compiled."""
    d = Decoder(kernel_pack, clock=lambda: NOW)
    topic = "city/kernel/traffic/gw-a"
    assert d._python(topic, payload) is None
    assert d.compiled(topic, payload, bytearray()) is None
    with pytest.raises(DecodeError) as reference:
        d.reference(topic, payload)
    with pytest.raises(DecodeError) as decoded:
        d.decode(topic, payload)
    assert (decoded.value.reason, str(decoded.value)) == (reference.value.reason,
                                                          str(reference.value))



def test_kernel_reads_huge_integers_as_the_reference_does(kernel_pack: CityPack) -> None:
    """orjson reads integers past 64 bits as floats; so must the python path."""
    d = Decoder(kernel_pack, clock=lambda: NOW)
    topic = "city/kernel/traffic/gw-a"
    payload = b'[{"bn":"tfc-1:","bt":1767225600,"n":"intensity","v":1180591620717411303424}]'
    python = d._python(topic, payload)
    assert python is not None and python == d.reference(topic, payload)
    assert python[0].line == encode_line(python[0])
