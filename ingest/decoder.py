"""Topic + payload -> points, checked against the wire contract and the city pack.

Pure and synchronous: the ingester calls it once per message. Every refusal is a
:class:`~cityhub.errors.DecodeError` whose ``reason`` is a short code (a metric label and
the dead letter's reason) and whose message says what is wrong.

Three decoding paths, one contract, and one set of names for them (in this module, the
``path`` label of the ingester's metrics, docs, tests and benchmarks):

- ``compiled``: :meth:`Decoder.compiled`, the Cython kernel (:mod:`ingest.kernel`), bytes
  straight to line protocol;
- ``python``: a Python kernel, the first thing :meth:`Decoder.decode` tries, and what
  decodes every message where the compiled kernel is not built;
- ``reference``: :meth:`Decoder.reference`, slow and obviously correct, which decides
  whatever the other two leave and names every refusal; the tests hold the others to it.

:meth:`Decoder.reference` is the strict SenML decoder of :mod:`cityhub.senml`, then the
city-pack checks, then points. The python path is a fused kernel that handles the shape
edge agents publish (base name per device, a base time, value labels, ``seq``): msgspec
decodes the records into typed structs, checking the JSON types in C, then one pass over
the records, with the escaped series and field keys of every device of the topic's
gateway computed once, and builds each point's line protocol as it goes. Whatever it does
not recognise as plainly valid (any refusal, and rare but legal shapes such as ``bu`` or
names with a colon) goes to the reference, which gives the answer and the exact error.
Neither kernel ever accepts what the reference refuses, and both return exactly the
reference's points; a property test in ``tests/ingest/test_decoder.py`` checks both on
generated packs, and ``fuzz/decoder.py`` all three on whatever a coverage-guided fuzzer
makes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Final, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from cityhub.config.pack import CityPack
from cityhub.contract import decode_telemetry
from cityhub.errors import ContractError, DecodeError
from cityhub.fields import DOMAINS, Domain, Kind
from cityhub.lineprotocol import encode_field_key, encode_series
from cityhub.point import Point, points_from_readings
from cityhub.senml import (
    MAX_PACK_BYTES,
    MAX_RECORDS,
    MAX_TIME,
    RELATIVE_TIME_LIMIT,
    Value,
)
from cityhub.topics import city_of, parse_telemetry

try:
    from ingest import kernel
except ImportError:  # not built (no C compiler at install): the python path decodes
    kernel = None  # type: ignore[assignment]

DecoderPath = Literal["compiled", "python", "reference"]
PATHS: Final[tuple[DecoderPath, ...]] = ("compiled", "python", "reference")
# The path that takes messages of the usual shape in this process: "compiled" where the
# kernel was built (Decoder.compiled() can take messages), else "python".
DECODER_PATH: Final[Literal["compiled", "python"]] = \
    "compiled" if kernel is not None else "python"

__all__ = ["DECODER_PATH", "PATHS", "Decoder", "DecoderPath"]

_VALUE_LABELS = ("v", "vs", "vb")
_KINDS = {Kind.NUMBER: 0, Kind.BOOL: 1, Kind.STRING: 2}  # kernel.NUMBER, BOOL, STRING
_TOPIC_CACHE = 4096


class _Record(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A SenML record of the shape edge agents publish, as the python path reads it.

    Any other label, a ``null``, or a wrong JSON type fails msgspec's decoding, and the
    message goes to the reference, which names the problem. The types are those the
    reference accepts (``float`` takes JSON integers). ``seq`` is bounded because msgspec
    reads integers of any size, while orjson, the reference's parser, reads those past
    2**64 - 1 as floats, which the reference refuses; the rare ``seq`` past 2**63 - 1
    (msgspec's largest bound) goes to the reference.
    """

    bn: str | UnsetType = UNSET
    bt: float | UnsetType = UNSET
    n: str | UnsetType = UNSET
    u: str | UnsetType = UNSET
    v: float | UnsetType = UNSET
    vs: str | UnsetType = UNSET
    vb: bool | UnsetType = UNSET
    t: float | UnsetType = UNSET
    seq: Annotated[int, Meta(ge=0, le=2**63 - 1)] | UnsetType = UNSET


_RECORDS = msgspec.json.Decoder(list[_Record])


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    label: str  # v, vs or vb
    others: tuple[str, str]  # the two value labels this field must not carry
    unit: str | None
    kind: Kind
    choices: frozenset[str]
    key: str  # escaped field key followed by '='


@dataclass(frozen=True, slots=True)
class _Device:
    id: str
    tags: tuple[tuple[str, str], ...]
    series: str  # escaped measurement and tags


@dataclass(frozen=True, slots=True)
class _Route:
    """What a telemetry topic of this city admits: its domain's fields and, by base name,
    the devices of its gateway in that domain."""

    domain: str
    fields: dict[str, _Field]
    by_bn: dict[str, _Device]
    device: _Device | None  # a single-device topic's device
    tables: kernel.Tables | None  # the same, for the compiled path (if built)


def _fields(domain: Domain) -> dict[str, _Field]:
    out = {}
    for name, spec in DOMAINS[domain].items():
        key = encode_field_key(name)
        out[name] = _Field(name, spec.label, tuple(x for x in _VALUE_LABELS  # type: ignore[arg-type]
                                                   if x != spec.label),
                           spec.unit, spec.kind, frozenset(spec.choices), f"{key}=")
    return out


def _format(f: _Field, value: object) -> str | None:
    """A boolean or string field's ``key=value`` in line protocol, or None to leave the
    record to the reference."""
    if f.kind is Kind.BOOL:
        if type(value) is not bool:
            return None
        return f"{f.key}true" if value else f"{f.key}false"
    if type(value) is not str or (f.choices and value not in f.choices) \
            or '"' in value or "\\" in value or "\r" in value:
        return None
    return f'{f.key}"{value}"'


class Decoder:
    """Decodes telemetry of one city pack, or of several (one hub serving several cities:
    each message is checked against the pack of its topic's city, and a device id may be
    in more than one pack).

    ``max_future_s``: readings stamped further than this ahead of the ingester's clock are
    refused (a device with a wrong clock); the clock is never used to stamp a reading.
    """

    def __init__(self, packs: CityPack | Sequence[CityPack], *, max_future_s: float = 300.0,
                 max_bytes: int = MAX_PACK_BYTES, clock: Callable[[], float] = time.time
                 ) -> None:
        listed = [packs] if isinstance(packs, CityPack) else list(packs)
        if not listed:
            raise ValueError("a decoder needs a city pack")
        self.packs = {p.city.id: p for p in listed}
        if len(self.packs) != len(listed):
            raise ValueError("two packs of one city")
        self.pack = listed[0]  # the first; with one, the pack
        self.max_future_ns = int(max_future_s * 1e9)
        self.max_bytes = max_bytes
        self.clock = clock
        self._tags = {(c, d): p.tags_of(d) for c, p in self.packs.items() for d in p.sensors}
        self._domain_fields = {d: _fields(d) for d in Domain}
        self._devices: dict[tuple[str, str], _Device] = {}
        self._routes: dict[str, _Route | None] = {}
        # Messages each path answered (the ingester's decoded_messages_total{path}).
        self.decoded_compiled = 0  # written by compiled()
        self.decoded_python = 0  # decoded by the python path in decode()
        self.decoded_reference = 0  # left to the reference by decode() (refused or unusual)

    # -- reference ------------------------------------------------------------------------
    def reference(self, topic: str, payload: bytes) -> list[Point]:
        """The reference path: the contract's decoder (:mod:`cityhub.contract`: strict
        SenML, city-pack checks), then points (no ``line``)."""
        pack = self.pack_of(topic)
        t, readings = decode_telemetry(pack, topic, payload,
                                       now_ns=int(self.clock() * 1e9),
                                       max_future_ns=self.max_future_ns,
                                       max_bytes=self.max_bytes)
        tags, city = self._tags, t.city
        return points_from_readings(t.domain.value, readings, lambda d: tags[(city, d)])

    def pack_of(self, topic: str) -> CityPack:
        """The pack of the topic's city; with one pack, that pack whatever the topic says
        (the contract's decoder then names what is wrong); with several, a
        :class:`~cityhub.errors.ContractError` (``unknown_city``) for a city none is."""
        if len(self.packs) == 1:
            return self.pack
        city = city_of(topic)
        if city is None:
            return self.pack  # not a city topic: the contract's decoder says so
        pack = self.packs.get(city)
        if pack is None:
            raise ContractError("unknown_city", f"topic city {city!r} is none of the cities "
                                f"this service serves ({', '.join(self.packs)})")
        return pack

    # -- python, then reference -------------------------------------------------------------
    def decode(self, topic: str, payload: bytes) -> list[Point]:
        """Points of one message, each with its ``line``, by the python path, or by the
        reference for what that leaves; raises :class:`DecodeError`."""
        points = self._python(topic, payload)
        if points is None:
            self.decoded_reference += 1
            points = self.reference(topic, payload)
        else:
            self.decoded_python += 1
        return points

    # -- compiled ---------------------------------------------------------------------------
    def compiled(self, topic: str, payload: bytes, out: bytearray) -> int | None:
        """Append the line protocol of one message's points (newline-terminated) to
        ``out``, written by the compiled path (:mod:`ingest.kernel`) straight from the
        payload's bytes, and return how many points that is; or return None, ``out``
        unchanged, when the kernel is not sure of the message and :meth:`decode` must
        decide. The same points as :meth:`decode`'s, in its order."""
        route = self._route(topic)
        if route is None or route.tables is None or len(payload) > self.max_bytes:
            return None
        limit = min(int(self.clock() * 1e9) + self.max_future_ns, 2**63 - 1)
        n = kernel.pack_lines(payload, route.tables, limit, MAX_RECORDS, out)
        if n < 0:
            return None
        self.decoded_compiled += 1
        return n

    def _device(self, city: str, device: str) -> _Device:
        d = self._devices.get((city, device))
        if d is None:
            sensor = self.packs[city].sensors[device][1]
            tags = tuple(sorted(self._tags[(city, device)].items()))
            d = self._devices[(city, device)] = _Device(
                device, tags, encode_series(sensor.domain.value, tags))
        return d

    def _route(self, topic: str) -> _Route | None:
        if topic in self._routes:
            return self._routes[topic]
        route = None
        try:
            t = parse_telemetry(topic)
        except DecodeError:
            t = None
        pack = self.packs.get(t.city) if t is not None else None
        if t is not None and pack is not None:
            devices = {f"{d}:": self._device(t.city, d) for d, (gw, s) in pack.sensors.items()
                       if gw.id == t.gateway and s.domain == t.domain}
            single = None
            if t.device is not None:
                single = devices.get(f"{t.device}:")
                devices = {k: v for k, v in devices.items() if v is single}
            if t.device is None or single is not None:
                fields = self._domain_fields[t.domain]
                tables = None
                # ValueError: more fields than the kernel takes; then python decodes.
                with contextlib.suppress(ValueError):
                    if kernel is not None:
                        tables = kernel.Tables(
                            [(bn, d.series) for bn, d in devices.items()],
                            [(f.name, f.key, f.unit, _KINDS[f.kind],
                              tuple(sorted(f.choices))) for f in fields.values()],
                            0 if single is not None else -1)
                route = _Route(t.domain.value, fields, devices, single, tables)
        if len(self._routes) >= _TOPIC_CACHE:
            self._routes.clear()
        self._routes[topic] = route
        return route

    def _python(self, topic: str, payload: bytes) -> list[Point] | None:
        """The python path: the points of a plainly valid message, or None for the
        reference to decide.

        Written for speed (it runs for every reading): msgspec decodes the records into
        typed structs (the type checks happen in C), one attribute per label, the time
        conversion reused while the time does not change, each point built with its line.
        """
        route = self._route(topic)
        if route is None or len(payload) > self.max_bytes:
            return None
        try:
            doc = _RECORDS.decode(payload)
        except (msgspec.DecodeError, ValueError):  # ValueError: not UTF-8
            return None
        if not doc or len(doc) > MAX_RECORDS:
            return None
        fields, by_bn = route.fields, route.by_bn
        dev = route.device
        bt: float | None = None
        # None, not a number: any float, -1.0 included, can be a record's time.
        last_when: float | None = None
        time_ns, time_str = 0, ""
        limit = int(self.clock() * 1e9) + self.max_future_ns
        measurement = route.domain
        points: dict[tuple[str, int], Point] = {}
        merged: dict[tuple[str, int], tuple[str, dict[str, str]]] = {}
        number, unset = Kind.NUMBER, UNSET
        for rec in doc:
            x = rec.bn
            if x is not unset:
                dev = by_bn.get(x)
            if rec.bt is not unset:
                bt = rec.bt
            f = fields.get(rec.n)  # type: ignore[arg-type]
            if f is None or dev is None:
                return None
            if rec.t is unset:
                if bt is None:
                    return None
                when = bt
            else:
                when = (bt or 0.0) + rec.t
            x = rec.u
            if x is not unset and x != f.unit:
                return None
            if f.kind is number:
                value: Value | UnsetType = rec.v
                if value is unset or rec.vs is not unset or rec.vb is not unset:
                    return None
                kv = f.key + repr(value)
            else:
                value = getattr(rec, f.label)
                if value is unset or getattr(rec, f.others[0]) is not unset \
                        or getattr(rec, f.others[1]) is not unset:
                    return None
                other = _format(f, value)
                if other is None:
                    return None
                kv = other
            if when != last_when:
                if when < RELATIVE_TIME_LIMIT or when > MAX_TIME:
                    return None
                time_ns = round(when * 1_000_000) * 1000
                if time_ns > limit:
                    return None
                last_when, time_str = when, str(time_ns)
            key = (dev.id, time_ns)
            p = points.get(key)
            if p is None:
                points[key] = Point(measurement, dev.tags, {f.name: value}, time_ns,
                                    f"{dev.series} {kv} {time_str}")
                continue
            # Another field of a point already seen: rebuild its line once, at the end.
            m = merged.get(key)
            if m is None:
                first = next(iter(p.fields))
                m = merged[key] = (dev.series, {
                    first: p.line[len(dev.series) + 1:-len(time_str) - 1]})
            p.fields[f.name] = value  # type: ignore[index]
            m[1][f.name] = kv
        for key, (series, kvs) in merged.items():
            p = points[key]
            p.line = f"{series} {','.join(kvs.values())} {p.time_ns}"
        return list(points.values())
