"""The compiled path (the Cython kernel): what it takes it writes as the reference would;
the rest it leaves.

The property tests in ``test_decoder.py`` compare it with the reference on generated packs;
these pin the shapes it must take and the ones it must leave to the python path.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from cityhub.config import load_pack
from cityhub.config.pack import CityPack
from cityhub.fields import Kind
from cityhub.lineprotocol import encode_lines
from cityhub.point import Encoded, Point
from fuzz.agreement import outcome, parsed
from ingest import kernel
from ingest.decoder import _KINDS, Decoder
from tests.conftest import write_small_pack
from tests.ingest.test_decoder import NOW

TOPIC = "city/kernel/traffic/gw-a"


@pytest.fixture(scope="module")
def pack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_pack(tmp_path_factory.mktemp("kernel"), "kernel")


@pytest.fixture(scope="module")
def pack(pack_dir: Path) -> CityPack:
    return load_pack(pack_dir)


def same_as_reference(d: Decoder, payload: bytes, topic: str = TOPIC) -> bytes:
    out = bytearray()
    n = d.compiled(topic, payload, out)
    assert n is not None, "the compiled path left it to the python path"
    lines = bytes(out)
    points = d.reference(topic, payload)
    assert n == len(points)
    assert parsed(lines) == parsed(encode_lines(points))
    return lines


@pytest.mark.parametrize("payload", [
    b' [ {"bn" : "tfc-1:", "bt":1767225600 ,"n":"intensity","v":3} ]\n',
    b'[{"v":3,"n":"intensity","bt":1767225600,"u":"1/min","bn":"tfc-1:","seq":9}]',
    b'[{"bn":"tfc-1:","bt":1767225600.123456,"n":"intensity","v":-2.5},'
    b'{"n":"congested","vb":true},{"n":"averageVehicleSpeed","v":1.5e-7,"t":0.000001}]',
    b'[{"bn":"tfc-1:","bt":1767225599.999999,"n":"intensity","v":0,"t":0.000001},'
    b'{"bn":"tfc-2:","n":"congested","vb":false,"t":-60}]',
    b'[{"bn":"tfc-1:","bt":1767225600,"n":"intensity","v":1e2},'
    b'{"n":"averageVehicleSpeed","v":-0.0},{"n":"occupancy","u":"/","v":12345678901234567}]',
], ids=["whitespace", "label-order", "merged-fields-and-times", "time-rounding",
        "number-forms"])
def test_takes_edge_shapes_exactly(pack: CityPack, payload: bytes) -> None:
    d = Decoder(pack, clock=lambda: NOW)
    same_as_reference(d, payload)
    assert d.decoded_compiled == 1


def test_merges_a_devices_fields_into_one_line(pack: CityPack) -> None:
    d = Decoder(pack, clock=lambda: NOW)
    lines = same_as_reference(d, orjson.dumps([
        {"bn": "tfc-1:", "bt": NOW, "n": "intensity", "v": 5.0},
        {"n": "averageVehicleSpeed", "v": 40.5},
        {"bn": "tfc-2:", "n": "intensity", "v": 7, "t": 1}]))
    assert lines.count(b"\n") == 2
    assert b" intensity=5.0,averageVehicleSpeed=40.5 1767225600000000000\n" in lines


def test_grows_its_buffer_for_a_large_pack(pack: CityPack) -> None:
    """A pack whose lines outgrow the room first given (twice the JSON's size) is written
    whole, after what ``out`` already held (each record here is a point of its own: much
    longer as a line than as JSON)."""
    d = Decoder(pack, clock=lambda: NOW)
    records = [{"bn": "tfc-1:", "bt": NOW - 5000, "n": "intensity", "v": 0},
               *({"n": "intensity", "v": i, "t": i} for i in range(1, 4000))]
    payload = orjson.dumps(records)
    out = bytearray(b"kept\n")
    assert d.compiled(TOPIC, payload, out) == 4000
    assert len(out) > 2 * len(payload) and out.startswith(b"kept\n")
    assert parsed(bytes(out[5:])) == parsed(encode_lines(d.reference(TOPIC, payload)))


def test_leaves_out_unchanged_when_it_falls_back(pack: CityPack) -> None:
    d = Decoder(pack, clock=lambda: NOW)
    out = bytearray(b"kept\n")
    late = b'[{"bn":"tfc-1:","bt":1767225600,"n":"intensity","v":1},{"n":"nope","v":1}]'
    assert d.compiled(TOPIC, late, out) is None
    assert out == b"kept\n"


def test_tables_refuse_more_fields_than_a_point_mask_holds() -> None:
    fields = [(f"f{i}", f"f{i}=", None, kernel.NUMBER, ()) for i in range(65)]
    with pytest.raises(ValueError, match="at most 64"):
        kernel.Tables([("d:", "m,device=d")], fields)
    kernel.Tables([("d:", "m,device=d")], fields[:64])


def test_none_is_refused_not_read() -> None:
    t = kernel.Tables([("d:", "m,device=d")], [("x", "x=", None, kernel.NUMBER, ())])
    with pytest.raises(TypeError):
        kernel.pack_lines(None, t, 2**62, 10, bytearray())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        kernel.pack_lines(b"[]", t, 2**62, 10, None)  # type: ignore[arg-type]


def test_field_kinds_are_the_kernels() -> None:
    """The decoder names field kinds by the kernel's numbers without importing it (it may
    not be built); they must agree."""
    assert _KINDS == {Kind.NUMBER: kernel.NUMBER, Kind.BOOL: kernel.BOOL,
                      Kind.STRING: kernel.STRING}


@pytest.mark.parametrize("payload", [
    b'[{"bn":"tfc-1:","bt":1767225600,"n":"intens\\u0069ty","v":1}]',
    b'[{"bn":"tfc-1:","bt":1767225600,"n":"intensity","v":1E2}]',
    b'[{"bn":"tfc-1:","bt":1767225600,"n":"intensity","v":-0}]',
    b'[{"bn":"tfc-1:","bt":1767225600,"n":"intensity","v":1e301}]',
    b'[{"bn":"tfc-1:","bt":1767225600,"n":"intensity","v":1,"t":1},'
    b'{"n":"intensity","v":2,"t":0}]',
    b'[{"bn":"tfc-1:","bt":1767225600,"n":"intensity","v":1},{"n":"intensity","v":2}]',
    b'[{"bn":"tfc-1:","bt":1767225600,"n":"intensity","v":1},'
    b'{"bn":"tfc-2:","n":"intensity","v":2},{"bn":"tfc-1:","n":"occupancy","v":0.5}]',
    b'[{"bn":"tfc-1:","bt":1767225600.12345678901,"n":"intensity","v":1}]',
    b'[{"bn":"tfc-1:","bt":1767225600,"n":"intensity","v":1,"bu":"1/min"}]',
    b'[{"bn":"tfc-1:","bt":1767225600,"n":"intensity","v":1,"v":2}]',
    b'[{"bn":"tfc-1:","bt":1767225600,"n":"intensity","v":1,"seq":1.0}]',
], ids=["escape", "capital-exponent", "minus-zero-integer", "past-1e300", "out-of-order",
        "field-twice", "point-apart", "inexact-time", "base-unit", "label-twice",
        "seq-not-integer"])
def test_leaves_the_rest_to_the_python_decoder(pack: CityPack, payload: bytes) -> None:
    """Legal but unusual shapes are left, and the python path (or the reference) answers
    them."""
    d = Decoder(pack, clock=lambda: NOW)
    assert d.compiled(TOPIC, payload, bytearray()) is None
    assert d.decoded_compiled == 0
    orjson.loads(payload)  # each is JSON
    assert outcome(lambda: d.decode(TOPIC, payload)) == outcome(
        lambda: d.reference(TOPIC, payload))
    assert d.decoded_python + d.decoded_reference == 1


def test_refusals_are_left_to_the_reference(pack: CityPack) -> None:
    d = Decoder(pack, clock=lambda: NOW)
    future = orjson.dumps([{"bn": "tfc-1:", "bt": NOW + 3600, "n": "intensity", "v": 1}])
    unknown = orjson.dumps([{"bn": "nope-1:", "bt": NOW, "n": "intensity", "v": 1}])
    assert d.compiled(TOPIC, future, bytearray()) is None
    assert d.compiled(TOPIC, unknown, bytearray()) is None
    assert d.compiled("city/kernel/traffic/gw-b", unknown, bytearray()) is None


def test_encoded_builds_its_points_once_and_only_when_asked() -> None:
    calls: list[int] = []
    point = Point("traffic", (("device", "d"),), {"x": 1.0}, 5)

    def build() -> list[Point]:
        calls.append(1)
        return [point, point]

    batch = Encoded(b"traffic,device=d x=1 5\ntraffic,device=d x=1 5\n", 2, build)
    assert len(batch) == 2 and encode_lines(batch) is batch.lines
    assert calls == []
    assert batch[1:] == [point] and list(batch) == [point, point] and batch[0] == point
    assert calls == [1]
    wrong = Encoded(b"", 3, build)
    with pytest.raises(RuntimeError, match="built 2 points for 3 lines"):
        list(wrong)


@pytest.mark.parametrize(("topic", "records"), [
    (TOPIC, [{"bn": f"tfc-{1 + i % 2}:", "n": "intensity", "v": 1, "bt": NOW - 100 + i}
             for i in range(8)]),
    (TOPIC, [{"bn": "tfc-1:", "bt": NOW - 9, "n": "intensity", "v": 12.25},
             {"n": "congested", "vb": True}, {"n": "occupancy", "v": 0.5, "t": 1}]),
    ("city/kernel/lighting/gw-a", [{"bn": "lamp-1:", "bt": NOW - 9, "n": "powerState",
                                    "vs": "on"}, {"n": "activePower", "v": 80, "t": 1},
                                   {"n": "powerState", "vs": "off", "t": 2}]),
], ids=["point-per-record", "merged-fields", "strings"])
def test_never_writes_past_its_buffer(pack: CityPack, topic: str,
                                      records: list[dict[str, object]]) -> None:
    """Given a buffer of any size, the kernel either fits the lines in it or asks for
    room, and never writes past its end (it checks room once per record, not per byte):
    here the buffer is the head of a larger one whose tail must stay untouched."""
    d = Decoder(pack, clock=lambda: NOW)
    payload = orjson.dumps(records)
    want = bytearray()
    n_points = d.compiled(topic, payload, want)
    assert n_points is not None
    t = d._route(topic).tables  # type: ignore[union-attr]
    assert t is not None
    for size in range(len(want) + 1):
        big = bytearray(b"\xab" * (size + 64))
        n, points = kernel.pack_into(payload, t, 2**62, 10_000, big, size)
        assert big[size:] == b"\xab" * 64, f"wrote past a buffer of {size} bytes"
        assert (n, points) == (kernel.NEED_ROOM, 0) or (big[:n], points) == (want, n_points)
        assert n == kernel.NEED_ROOM or size >= len(want)


def test_without_the_built_kernel_the_python_path_takes_every_message(
        pack_dir: Path, tmp_path: Path) -> None:
    """Installed where no C compiler was found, ``ingest.kernel`` is missing: the decoder
    still works (``compiled`` declines, ``decode`` answers), and says it cannot compile."""
    script = tmp_path / "no_kernel.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.modules["ingest.kernel"] = None  # import fails, as when it was never built
        from cityhub.config import load_pack
        from ingest.decoder import DECODER_PATH, Decoder
        d = Decoder(load_pack({str(pack_dir)!r}), clock=lambda: {NOW})
        payload = b'[{{"bn":"tfc-1:","bt":{NOW},"n":"intensity","v":3}}]'
        out = bytearray()
        print(DECODER_PATH, d.compiled({TOPIC!r}, payload, out), bytes(out),
              [p.line for p in d.decode({TOPIC!r}, payload)])
    """))
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert res.stdout.split(" ", 3)[:3] == ["python", "None", "b''"]
    assert "intensity=3" in res.stdout


def test_leaves_a_pack_over_the_records_limit(pack: CityPack) -> None:
    """More records than ``max_records``: declined, ``out`` unchanged (the one branch of
    the kernel's parser that the fuzzer's corpus does not reach: under the size limit,
    10,001 records of distinct points do not fit)."""
    d = Decoder(pack, clock=lambda: NOW)
    t = d._route(TOPIC).tables  # type: ignore[union-attr]
    assert t is not None
    payload = orjson.dumps([{"bn": "tfc-1:", "bt": NOW - 10, "n": "intensity", "v": 1, "t": i}
                            for i in range(3)])
    out = bytearray(b"kept\n")
    assert kernel.pack_lines(payload, t, 2**62, 3, out) == 3
    out = bytearray(b"kept\n")
    assert kernel.pack_lines(payload, t, 2**62, 2, out) == kernel.FALLBACK
    assert out == b"kept\n"
