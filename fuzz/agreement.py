"""One input, three decoding paths, one answer: the check the fuzzer runs on every input.

An input is a topic selector (its first byte, an index into :data:`topics`, modulo their
number) and a payload (the rest). :class:`Agreement` decodes it on each path of
:mod:`ingest.decoder` and fails (:class:`Disagreement`, an ``AssertionError``) unless:

- ``reference`` (:meth:`Decoder.reference`) answers with points or a
  :class:`~cityhub.errors.DecodeError`; anything else it raises is a crash;
- ``python`` (``Decoder._python``, the fused kernel) takes only what the reference
  accepts, with the reference's points, and :meth:`Decoder.decode` (``python``, then
  ``reference`` for what it leaves) gives the reference's answer: the same points, or the
  same refusal (reason and message);
- ``compiled`` (:meth:`Decoder.compiled`, the Cython kernel) takes only what the reference
  accepts, appends lines that InfluxDB reads as the reference's points (:func:`parsed`),
  leaves ``out`` as it was when it declines, and, given a buffer of any size
  (``kernel.pack_into``), writes the same lines or asks for room, never past its end.

Nothing here imports atheris: ``fuzz/decoder.py`` drives this under the fuzzer, and
``tests/ingest/test_fuzz.py`` runs it on the seeds in the test suite.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from pathlib import Path

import orjson

from cityhub.config import load_pack
from cityhub.config.pack import CityPack
from cityhub.errors import DecodeError
from cityhub.lineprotocol import encode_line
from cityhub.point import Point
from cityhub.senml import MAX_RECORDS, MAX_TIME, RELATIVE_TIME_LIMIT, Reading, encode_pack
from edge.drivers.sim import SensorSim, Weather
from ingest.decoder import Decoder

try:
    from ingest import kernel as _kernel
except ImportError:  # not built: the decoder has no compiled path either
    _kernel = None  # type: ignore[assignment]

__all__ = ["NOW", "Agreement", "Disagreement", "outcome", "parsed", "seeds", "topics",
           "write_seeds"]

NOW = 1_767_225_600.0  # the decoder's clock: 2026-01-01T00:00:00Z
_EARLIER = b"earlier lines\n"  # what ``out`` held before the compiled kernel's lines
_CANARY = 16  # bytes past ``cap`` that pack_into must leave as they were

Outcome = tuple[str, object]  # ("ok", points) or (reason, message)


class Disagreement(AssertionError):
    """Two decoding paths answered one input differently (or one broke a promise)."""


def topics(pack: CityPack) -> list[str]:
    """Every gateway's telemetry topic per domain, one single-device topic per domain,
    and topics the decoder must refuse (another city, gateway or domain; a device of
    another gateway; malformed)."""
    city = pack.city.id
    out = []
    for gw in pack.gateways:
        for domain in sorted({s.domain.value for s in gw.sensors}):
            out.append(f"city/{city}/{domain}/{gw.id}")
    first, second = pack.gateways[0], pack.gateways[1]
    for domain in sorted({s.domain.value for s in first.sensors}):
        device = next(s.id for s in first.sensors if s.domain.value == domain)
        out.append(f"city/{city}/{domain}/{first.id}/{device}")
    traffic = next(s.id for s in first.sensors if s.domain.value == "traffic")
    out += [f"city/elsewhere/traffic/{first.id}", f"city/{city}/traffic/gw-nope",
            f"city/{city}/traffic/{second.id}/{traffic}", f"city/{city}/parking/{first.id}",
            f"city/{city}/traffic/{first.id}/", "city/UPPER/traffic/x"]
    return out


def outcome(fn: Callable[[], list[Point]]) -> Outcome:
    """``("ok", points)``, or the refusal's ``(reason, message)``."""
    try:
        return "ok", fn()
    except DecodeError as e:
        return e.reason, str(e)


def parsed(lines: bytes) -> list[tuple[str, dict[str, object], int]]:
    """Line protocol as InfluxDB reads it: series, fields (a number as the float it
    parses to, ``true``/``false``, a string without its quotes), time."""
    out = []
    for line in lines.decode().splitlines():
        i = 0
        while line[i] != " ":
            i += 2 if line[i] == "\\" else 1
        series, rest = line[:i], line[i + 1:]
        body, _, time_ns = rest.rpartition(" ")
        fields: dict[str, object] = {}
        for key, value in re.findall(r'((?:[^,="\\]|\\.)+)=("(?:[^"\\]|\\.)*"|[^,]+)', body):
            fields[key] = (value[1:-1] if value.startswith('"') else value == "true"
                           if value in ("true", "false") else float(value))
        out.append((series, fields, int(time_ns)))
    return out


def _lines(points: list[Point]) -> list[str]:
    """The points' line protocol computed from their values (not their ``line``)."""
    return [encode_line(p) for p in points]


class Agreement:
    """Decodes inputs on every path of one :class:`Decoder` (the ``bandung`` pack unless
    given another, its clock at :data:`NOW`) and checks that they agree."""

    def __init__(self, pack: CityPack | None = None) -> None:
        self.pack = pack if pack is not None else load_pack("bandung")
        self.topics = topics(self.pack)
        self.decoder = Decoder(self.pack, clock=lambda: NOW)
        self.kernel = _kernel  # None where the kernel is not built

    def split(self, data: bytes) -> tuple[str, bytes]:
        return self.topics[data[0] % len(self.topics)], data[1:]

    def check(self, data: bytes) -> str:
        """Check one input; return which path answered it and how (``compiled``,
        ``python`` or ``reference``, then ``ok`` or the refusal's reason)."""
        if not data:
            return "empty"
        topic, payload = self.split(data)
        d = self.decoder

        def fail(what: str) -> Disagreement:
            return Disagreement(f"{what}\n  topic: {topic}\n  payload: {payload[:2000]!r}")

        ref = outcome(lambda: d.reference(topic, payload))
        ref_points = ref[1] if ref[0] == "ok" else None
        if ref_points is not None and not isinstance(ref_points, list):
            raise fail(f"reference answered {ref_points!r}")

        python = d._python(topic, payload)
        if python is not None:
            if ref_points is None:
                raise fail(f"python took what reference refused ({ref[0]}: {ref[1]})")
            if python != ref_points or _lines(python) != _lines(ref_points):
                raise fail(f"python's points differ:\n  {python}\n  {ref_points}")
            if [p.line for p in python] != _lines(python):
                raise fail(f"python's lines are not its points': {[p.line for p in python]}")
        decoded = outcome(lambda: d.decode(topic, payload))
        if decoded != ref:
            raise fail(f"decode answered {decoded[0]}: {decoded[1]}, "
                       f"reference {ref[0]}: {ref[1]}")
        if ref_points is not None and decoded[0] == "ok":
            assert isinstance(decoded[1], list)
            if _lines(decoded[1]) != _lines(ref_points):
                raise fail("decode's points encode differently from the reference's")

        out = bytearray(_EARLIER)
        n = d.compiled(topic, payload, out)
        compiled = bytes(out[len(_EARLIER):])
        if n is None:
            if out != _EARLIER:
                raise fail(f"compiled declined but changed out: {bytes(out)!r}")
        else:
            if ref_points is None:
                raise fail(f"compiled took what reference refused ({ref[0]}: {ref[1]})")
            if not out.startswith(_EARLIER):
                raise fail("compiled overwrote what out held")
            if n != len(ref_points):
                raise fail(f"compiled wrote {n} points, reference has {len(ref_points)}")
            want = parsed("".join(f"{line}\n" for line in _lines(ref_points)).encode())
            if parsed(compiled) != want:
                raise fail(f"compiled's lines differ:\n  {compiled!r}\n  {want}")
        self._into(data, topic, payload, None if n is None else (compiled, n), fail)

        path = "compiled" if n is not None else "python" if python is not None \
            else "reference"
        return f"{path} {ref[0]}"

    def _into(self, data: bytes, topic: str, payload: bytes,
              want: tuple[bytes, int] | None, fail: Callable[[str], Disagreement]) -> None:
        """The compiled kernel into a buffer of ``cap`` bytes (chosen from the input):
        the lines of :meth:`Decoder.compiled`, or a request for room, or (when that
        declined) a decline; never a byte written past ``cap``."""
        k = self.kernel
        route = self.decoder._route(topic)
        if k is None or route is None or route.tables is None \
                or len(payload) > self.decoder.max_bytes:
            return
        tables = route.tables
        most = 2 * len(payload) + tables.room + 64  # pack_lines's first buffer
        cap = zlib.crc32(data) % (most + 1)
        buf = bytearray(b"\xab" * (cap + _CANARY))
        limit = min(int(NOW * 1e9) + self.decoder.max_future_ns, 2**63 - 1)
        r, points = k.pack_into(payload, tables, limit, MAX_RECORDS, buf, cap)
        if buf[cap:] != b"\xab" * _CANARY:
            raise fail(f"pack_into wrote past its {cap} bytes")
        if r == k.NEED_ROOM:
            if want is not None and cap >= len(want[0]) + tables.room + len(payload):
                raise fail(f"pack_into asked for room with {cap} bytes for "
                           f"{len(want[0])} bytes of lines")
            return
        if want is None:
            if r != k.FALLBACK:
                raise fail(f"pack_into answered {r} where compiled declined")
        elif (bytes(buf[:r]), points) != want:
            raise fail(f"pack_into with {cap} bytes wrote {bytes(buf[:max(r, 0)])!r}, "
                       f"{points} points; compiled {want}")


# -- the seed corpus --------------------------------------------------------------------------


def _edge_packs(pack: CityPack, topic_list: list[str]) -> list[bytes]:
    """Packs as the edge agents publish them: the simulator's readings of each gateway's
    sensors of a domain at three times, encoded as the publisher does (and single-device
    packs for the single-device topics)."""
    out = []
    weather = Weather(pack.city.timezone, seed=1)
    for index, topic in enumerate(topic_list):
        parts = topic.split("/")
        if len(parts) < 4 or parts[1] != pack.city.id:
            continue
        gw = next((g for g in pack.gateways if g.id == parts[3]), None)
        if gw is None:
            continue
        sensors = [s for s in gw.sensors if s.domain.value == parts[2]]
        if len(parts) == 5:
            sensors = [s for s in sensors if s.id == parts[4]]
        if not sensors:
            continue
        readings, seq = [], 100
        for s in sensors:
            sim = SensorSim(s, pack, weather, seed=index)
            for t in (NOW - 120, NOW - 60.5, NOW - 0.25):
                for name, value in sim.sample(t).items():
                    readings.append(Reading(s.id, name, value, int(t * 1e9), seq))
                    seq += 1
        readings.sort(key=lambda r: (r.device, r.time_ns))
        out.append(bytes([index]) + encode_pack(readings, domain=parts[2]))
    return out


# Adversarial payloads for a traffic gateway's topic; {a} and {b} are two of its devices,
# {x} a device of another gateway.
_TRAFFIC = [
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","u":"1/min","v":14,"seq":7}},'
    '{{"n":"averageVehicleSpeed","u":"km/h","v":31.5,"seq":8}},'
    '{{"bn":"{b}:","n":"intensity","v":3,"t":-10,"seq":9}},{{"n":"congested","vb":true}}]',
    ' [ {{"bn" : "{a}:", "bt":1767225600 ,"n":"intensity","v":3}} ]\n',
    '[{{"v":3,"n":"intensity","bt":1767225600,"u":"1/min","bn":"{a}:","seq":9}}]',
    '[{{"bn":"{a}:","bt":1767225600.123456,"n":"intensity","v":-2.5}},'
    '{{"n":"congested","vb":false}},{{"n":"occupancy","v":1.5e-7,"t":0.000001}}]',
    '[{{"bn":"{a}:","bt":1767225599.999999,"n":"intensity","v":0,"t":0.000001}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1e2}},'
    '{{"n":"averageVehicleSpeed","v":-0.0}},{{"n":"occupancy","v":12345678901234567}}]',
    # numbers: huge, tiny, odd forms
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1e300}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1e301}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1e-300}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1e-400}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1e400}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":4.9e-324}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1.7976931348623157e308}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1180591620717411303424}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":123456789012345678}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1234567890123456789}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":0.000000000000000001}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":9007199254740993}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1E2}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1e+2}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1e-0002}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1e99999}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":-0}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":0e0}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":-0e-0}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":01}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1.}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":.5}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":+1}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"seq":18446744073709551616}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"seq":9223372036854775808}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"seq":-1}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"seq":1.0}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"seq":1e3}}]',
    # NaN and infinities (not JSON)
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":NaN}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":Infinity}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":-Infinity}}]',
    '[{{"bn":"{a}:","bt":NaN,"n":"intensity","v":1}}]',
    # escapes and unicode
    '[{{"bn":"{a}:","bt":1767225600,"n":"intens\\u0069ty","v":1}}]',
    '[{{"bn":"\\u0074{a_rest}:","bt":1767225600,"n":"intensity","v":1}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"u":"\\ud800"}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"u":"\\u0000"}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"u":"1/mín"}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity\\"","v":1}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"x\\n":"\\t"}}]',
    # duplicate keys, repeated fields, order
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"v":2}}]',
    '[{{"bn":"{a}:","bn":"{b}:","bt":1767225600,"n":"intensity","v":1}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1}},{{"n":"intensity","v":2}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"t":1}},'
    '{{"n":"intensity","v":2,"t":0}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1}},'
    '{{"bn":"{b}:","n":"intensity","v":2}},{{"bn":"{a}:","n":"occupancy","v":0.5}}]',
    # wrong types
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":"1"}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":true}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"congested","vb":1}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"congested","vs":"true"}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":1,"v":1}}]',
    '[{{"bn":null,"bt":1767225600,"n":"intensity","v":1}}]',
    '[{{"bn":"{a}:","bt":"1767225600","n":"intensity","v":1}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"t":[]}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"u":null}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"bu":"1/min"}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"bver":10}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"must_":1}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"vd":"AA"}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"u":"km/h"}}]',
    '[1]', '[[]]', '[null]', '{{}}', '[]', '[{{}}]', '"x"', '', 'null',
    # base name and base time
    '[{{"bn":"{x}:","bt":1767225600,"n":"intensity","v":1}}]',
    '[{{"bn":"{a}","bt":1767225600,"n":"intensity","v":1}}]',
    '[{{"bn":"","bt":1767225600,"n":"{a}:intensity","v":1}}]',
    '[{{"bt":1767225600,"n":"{a}:intensity","v":1}}]',
    '[{{"bn":"{a}:","n":"intensity","v":1}}]',
    '[{{"bn":"{a}:","bt":0,"n":"intensity","v":1}}]',
    '[{{"bn":"{a}:","bt":-1767225600,"n":"intensity","v":1}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"t":-1767225600}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1}},{{"bt":1767225500,"n":"intensity",'
    '"v":2}},{{"bn":"{b}:","n":"intensity","v":3}}]',
    # time bounds
    '[{{"bn":"{a}:","n":"intensity","v":1,"t":' + str(RELATIVE_TIME_LIMIT - 1) + '}}]',
    '[{{"bn":"{a}:","n":"intensity","v":1,"t":' + str(RELATIVE_TIME_LIMIT) + '}}]',
    '[{{"bn":"{a}:","bt":' + str(MAX_TIME) + ',"n":"intensity","v":1}}]',
    '[{{"bn":"{a}:","bt":' + str(MAX_TIME + 1) + ',"n":"intensity","v":1}}]',
    '[{{"bn":"{a}:","bt":9223372036.854775807,"n":"intensity","v":1}}]',
    '[{{"bn":"{a}:","bt":1e303,"n":"intensity","v":1}}]',
    '[{{"bn":"{a}:","bt":1767225900,"n":"intensity","v":1}}]',
    '[{{"bn":"{a}:","bt":1767225900.000001,"n":"intensity","v":1}}]',
    '[{{"bn":"{a}:","bt":1767225900.0000005,"n":"intensity","v":1}}]',
    '[{{"bn":"{a}:","bt":1767225600.0000005,"n":"intensity","v":1}}]',
    '[{{"bn":"{a}:","bt":1767225600.0000015,"n":"intensity","v":1}}]',
    '[{{"bn":"{a}:","bt":1767225600.12345678901,"n":"intensity","v":1}}]',
    '[{{"bn":"{a}:","bt":1767225600.1234567890123456789012,"n":"intensity","v":1}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,"t":1e-7}}]',
    '[{{"bn":"{a}:","bt":1.767225600e9,"n":"intensity","v":1}}]',
    # trailing and broken
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1}}] trailing',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1}}],',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1}},]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":1,}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"intensity","v":tru}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"congested","vb":fals}}]',
]

_LIGHTING = [
    '[{{"bn":"{a}:","bt":1767225600,"n":"powerState","vs":"on"}},{{"n":"activePower","u":"W",'
    '"v":80,"t":1}},{{"n":"powerState","vs":"off","t":2}},{{"n":"status","vs":"ok"}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"powerState","vs":"dim"}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"powerState","vs":"o\\u006e"}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"powerState","vs":"on"}},{{"n":"powerState","vs":"off"}}]',
    '[{{"bn":"{a}:","bt":1767225600,"n":"illuminanceLevel","v":0.5,"u":"/"}}]',
]


def seeds(pack: CityPack | None = None) -> list[bytes]:
    """The seed corpus: the edge simulator's packs for every topic, the shapes the tests
    pin, and adversarial ones (truncated, huge numbers, deep nesting, escapes, NaN,
    duplicate keys, wrong types, base name and time edge cases, time bounds)."""
    pack = pack if pack is not None else load_pack("bandung")
    topic_list = topics(pack)
    out = _edge_packs(pack, topic_list)
    gw = pack.gateways[0]

    def devices(domain: str) -> list[str]:
        return [s.id for s in gw.sensors if s.domain.value == domain]

    def index(topic: str) -> int:
        return topic_list.index(topic)

    city = pack.city.id
    a, b = devices("traffic")[:2]
    other = next(s.id for s in pack.gateways[1].sensors if s.domain.value == "traffic")
    traffic = index(f"city/{city}/traffic/{gw.id}")
    for text in _TRAFFIC:
        payload = text.format(a=a, b=b, x=other, a_rest=a[1:]).encode()
        out.append(bytes([traffic]) + payload)
    lamp = devices("lighting")[0]
    for text in _LIGHTING:
        out.append(bytes([index(f"city/{city}/lighting/{gw.id}")])
                   + text.format(a=lamp).encode())
    good = _TRAFFIC[0].format(a=a, b=b).encode()
    # Truncated at every tenth byte; deep nesting; invalid UTF-8; every other topic.
    out += [bytes([traffic]) + good[:i] for i in range(0, len(good), 10)]
    out += [bytes([traffic]) + b"[" * 5000, bytes([traffic]) + b"[{" * 600,
            bytes([traffic]) + b'[{"bn":' + b"[" * 2000 + b"]" * 2000 + b"}]",
            bytes([traffic]) + good.replace(b"intensity", b"intens\xffity", 1),
            bytes([traffic]) + good.replace(b"intensity", b"intens\xc3\xadty", 1)]
    out += [bytes([i]) + good for i in range(len(topic_list))]
    # Many records, and one over the records limit.
    many = [{"bn": f"{a}:", "bt": NOW - 20_000, "n": "intensity", "v": 0},
            *({"n": "intensity", "v": i, "t": i} for i in range(1, 3000))]
    out.append(bytes([traffic]) + orjson.dumps(many))
    over = orjson.dumps([{"bn": f"{a}:", "bt": NOW, "n": "intensity", "v": 1}])[:-1] \
        + b',{"n":"intensity","v":1}' * MAX_RECORDS + b"]"
    out.append(bytes([traffic]) + over)
    return out


def write_seeds(directory: Path, pack: CityPack | None = None) -> int:
    """Write :func:`seeds` into ``directory``, one file each; return how many."""
    directory.mkdir(parents=True, exist_ok=True)
    found = seeds(pack)
    for i, data in enumerate(found):
        (directory / f"seed-{i:04d}").write_bytes(data)
    return len(found)
