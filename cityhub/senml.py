"""SenML JSON packs (RFC 8428), strict, as the wire contract wants them.

A pack is a JSON array of records. Base labels (``bn``, ``bt``, ``bu``) apply to the record
that carries them and to every later record until changed, so one pack can hold many
devices and many timestamps::

    [{"bn": "tfc-dago-01:", "bt": 1767225600, "n": "intensity", "u": "1/min", "v": 14, "seq": 7},
     {"n": "averageVehicleSpeed", "u": "km/h", "v": 31.5, "seq": 8},
     {"bn": "tfc-dago-02:", "n": "intensity", "v": 3, "t": 10, "seq": 9}]

The record name is ``bn + n`` = ``{device}:{field}``. On a single-device topic ``bn`` may be
left out and ``n`` is the field. ``seq`` is this hub's ignorable extension label: the
gateway's monotonic reading counter, so gaps and duplicates are visible.

Strict means: a record without a time (``bt``/``t``), with a relative time (< 2**28 s,
RFC 8428 section 4.5.3), with a NaN/inf value, a value label of the wrong type for its
field, an unknown field, an unknown unit for a known field, or a pack over the size limits
is refused with a :class:`~cityhub.errors.DecodeError` naming the record and the label.
Must-understand labels (ending in ``_``) that this codec does not know are refused;
other unknown labels are ignored, as the RFC says.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from cityhub.errors import DecodeError
from cityhub.fields import DOMAINS, Domain, FieldSpec
from cityhub.topics import SLUG

__all__ = ["MAX_PACK_BYTES", "MAX_RECORDS", "Reading", "decode_pack", "encode_pack",
           "encode_pack_groups", "encode_packs"]

MAX_PACK_BYTES = 256 * 1024
MAX_RECORDS = 10_000
RELATIVE_TIME_LIMIT = 2**28  # RFC 8428: smaller times are relative to "now"
MAX_TIME = (2**63 - 1) // 10**9  # s: the last second a 64-bit nanosecond time holds (2262)
_BN_RE = re.compile(f"^{SLUG}:$")
_DEVICE_RE = re.compile(f"^{SLUG}$")
_KNOWN = frozenset({"bn", "bt", "bu", "bver", "n", "u", "v", "vs", "vb", "t", "seq"})
_UNSUPPORTED = {"vd": "data values", "s": "sums", "bs": "base sums", "bv": "base values",
                "ut": "update times"}
Value = float | str | bool


@dataclass(frozen=True, slots=True)
class Reading:
    """One decoded reading: device time in integer nanoseconds (microsecond resolution)."""

    device: str
    field: str
    value: Value
    time_ns: int
    seq: int | None = None


def _fail(reason: str, where: str, message: str) -> DecodeError:
    return DecodeError(reason, f"{where}: {message}")


def _number(rec: dict[str, Any], label: str, where: str) -> float:
    x = rec[label]
    if type(x) is float and math.isfinite(x):
        return x
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise _fail("label", where, f"label {label!r} must be a number, got {type(x).__name__}")
    if not math.isfinite(x):
        raise _fail("value", where, f"label {label!r} is not finite ({x})")
    return float(x)


def decode_pack(
    payload: bytes,
    *,
    domain: Domain | str,
    device: str | None = None,
    max_bytes: int = MAX_PACK_BYTES,
    max_records: int = MAX_RECORDS,
) -> list[Reading]:
    """Decode and validate one SenML JSON pack published for ``domain``.

    ``device`` is the device named by a single-device topic (records may then omit ``bn``).
    Raises :class:`DecodeError` on the first problem; nothing of a bad pack is returned.
    """
    if len(payload) > max_bytes:
        raise DecodeError("too_large", f"pack is {len(payload)} bytes, limit {max_bytes}")
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise DecodeError("json", f"pack is not JSON: {e}") from None
    if not isinstance(doc, list) or not doc:
        raise DecodeError("shape", "pack must be a non-empty JSON array of records")
    if len(doc) > max_records:
        raise DecodeError("too_large", f"pack has {len(doc)} records, limit {max_records}")
    catalogue = DOMAINS[Domain(domain)]
    bn, base_dev, bt, bu = "", device, None, None
    out: list[Reading] = []
    append = out.append
    for i, rec in enumerate(doc):
        if type(rec) is not dict:
            raise _fail("shape", f"record {i}", f"must be a JSON object, got "
                        f"{type(rec).__name__}")
        if not _KNOWN.issuperset(rec):
            _check_labels(rec, f"record {i}")
        if "bn" in rec or "bt" in rec or "bu" in rec or "bver" in rec:
            bn, base_dev, bt, bu = _base(rec, f"record {i}", bn, base_dev, bt, bu, device)
        n = rec.get("n", "")
        if type(n) is not str:
            raise _fail("label", f"record {i}", "label 'n' must be a string")
        if bn and ":" not in n:
            dev, field = base_dev, n
        else:
            dev, field = _split_name(bn + n, device, f"record {i}")
        spec = catalogue.get(field)
        if spec is None:
            raise _fail("field", f"record {i}", f"unknown field {field!r:.80} for domain "
                        f"{domain} (known: {', '.join(catalogue)})")
        t = rec.get("t")
        if t is None:
            if bt is None:
                raise _fail("time", f"record {i} ({dev}:{field})", "no time: labels 'bt' "
                            "and 't' are both missing; readings must carry the device's "
                            "own time")
            when = bt
        else:
            when = (bt or 0.0) + _number(rec, "t", f"record {i} ({dev}:{field})")
        if when < RELATIVE_TIME_LIMIT:
            raise _fail("time", f"record {i} ({dev}:{field})", f"time {when} is relative "
                        "(< 2**28 s); send absolute UNIX time")
        if when > MAX_TIME:
            raise _fail("time", f"record {i} ({dev}:{field})", f"time {when:.6g} is past "
                        "2262, beyond a 64-bit nanosecond timestamp")
        unit = rec.get("u", bu)
        if unit is not None and unit != spec.unit:
            raise _fail("unit", f"record {i} ({dev}:{field})", f"label 'u': unit "
                        f"{unit!r:.40} is not {spec.unit!r}, the unit of {field}")
        value = _value(rec, spec, f"record {i} ({dev}:{field})")
        seq = rec.get("seq")
        if seq is not None and (type(seq) is not int or seq < 0):
            raise _fail("label", f"record {i} ({dev}:{field})",
                        "label 'seq' must be a non-negative integer")
        append(Reading(dev, field, value, round(when * 1_000_000) * 1000, seq))  # type: ignore[arg-type]
    return out


def _check_labels(rec: dict[str, Any], where: str) -> None:
    for label in rec:
        if label in _UNSUPPORTED:
            raise _fail("label", where, f"label {label!r}: {_UNSUPPORTED[label]} "
                        "are not supported by this hub")
        if label not in _KNOWN and label.endswith("_"):
            raise _fail("label", where, f"must-understand label {label!r} is not known")


def _base(rec: dict[str, Any], where: str, bn: str, base_dev: str | None, bt: float | None,
          bu: str | None, device: str | None
          ) -> tuple[str, str | None, float | None, str | None]:
    """Apply the base labels of ``rec``; return the new (bn, its device, bt, bu)."""
    if "bver" in rec and type(rec["bver"]) is not int:
        raise _fail("label", where, "label 'bver' must be an integer")
    if "bn" in rec:
        bn = rec["bn"]
        if type(bn) is not str or not _BN_RE.match(bn):
            raise _fail("name", where, f"label 'bn' must be '{{device}}:' with a slug "
                        f"device id, got {bn!r:.80}")
        base_dev = bn[:-1]
        if device is not None and base_dev != device:
            raise _fail("name", where, f"device {base_dev!r} differs from the topic's "
                        f"{device!r}")
    if "bt" in rec:
        bt = _number(rec, "bt", where)
    if "bu" in rec:
        bu = rec["bu"]
        if type(bu) is not str:
            raise _fail("label", where, "label 'bu' must be a string")
    return bn, base_dev, bt, bu


def _split_name(name: str, device: str | None, where: str) -> tuple[str, str]:
    dev, sep, field = name.partition(":")
    if not sep:
        if device is None:
            raise _fail("name", where, f"name {name!r:.80} has no device: a gateway pack "
                        "must name each device with bn '{device}:'")
        return device, name
    if not _DEVICE_RE.match(dev):
        raise _fail("name", where, f"device {dev!r:.80} is not a slug")
    if device is not None and dev != device:
        raise _fail("name", where, f"device {dev!r} differs from the topic's {device!r}")
    return dev, field


def _value(rec: dict[str, Any], spec: FieldSpec, where: str) -> Value:
    label = spec.label
    if label not in rec or ("v" in rec) + ("vs" in rec) + ("vb" in rec) != 1:
        labels = [k for k in ("v", "vs", "vb") if k in rec]
        if len(labels) != 1:
            raise _fail("value", where, f"needs exactly one of 'v', 'vs', 'vb', got {labels}")
        raise _fail("value", where, f"label {labels[0]!r}: {spec.name} takes "
                    f"{label!r} ({spec.kind.name.lower()})")
    if label == "v":
        return _number(rec, "v", where)
    value = rec[label]
    if label == "vs":
        if type(value) is not str:
            raise _fail("value", where, "label 'vs' must be a string")
        if spec.choices and value not in spec.choices:
            raise _fail("value", where, f"label 'vs': {value!r:.40} is not one of "
                        f"{', '.join(spec.choices)}")
        return value
    if type(value) is not bool:
        raise _fail("value", where, "label 'vb' must be true or false")
    return value


def _records(readings: Sequence[Reading], domain: Domain) -> list[dict[str, Any]]:
    catalogue = DOMAINS[domain]
    records: list[dict[str, Any]] = []
    bt_ns = readings[0].time_ns
    current = None
    for r in readings:
        spec = catalogue[r.field]
        rec: dict[str, Any] = {}
        if r.device != current:
            rec["bn"] = f"{r.device}:"
            current = r.device
        if not records:
            rec["bt"] = bt_ns / 1e9
        rec["n"] = r.field
        if spec.unit is not None:
            rec["u"] = spec.unit
        rec[spec.kind.value] = r.value
        if r.time_ns != bt_ns:
            rec["t"] = (r.time_ns - bt_ns) / 1e9
        if r.seq is not None:
            rec["seq"] = r.seq
        records.append(rec)
    return records


def encode_pack(readings: Sequence[Reading], *, domain: Domain | str) -> bytes:
    """Encode readings of one domain as one SenML pack (base name per device run)."""
    if not readings:
        raise ValueError("cannot encode an empty pack")
    return orjson.dumps(_records(readings, Domain(domain)))


def encode_pack_groups(readings: Iterable[Reading], *, domain: Domain | str,
                       max_bytes: int = MAX_PACK_BYTES) -> list[tuple[bytes, list[Reading]]]:
    """Readings encoded as as few packs as fit under ``max_bytes`` each, in order; each
    pack with the readings it carries."""
    items = list(readings)
    if not items:
        return []
    pack = encode_pack(items, domain=domain)
    if len(pack) <= max_bytes:
        return [(pack, items)]
    if len(items) == 1:
        raise ValueError(f"one reading encodes to {len(pack)} bytes, over {max_bytes}")
    half = len(items) // 2
    return (encode_pack_groups(items[:half], domain=domain, max_bytes=max_bytes)
            + encode_pack_groups(items[half:], domain=domain, max_bytes=max_bytes))


def encode_packs(readings: Iterable[Reading], *, domain: Domain | str,
                 max_bytes: int = MAX_PACK_BYTES) -> list[bytes]:
    """Encode readings as as few packs as fit under ``max_bytes`` each, in order."""
    return [p for p, _ in encode_pack_groups(readings, domain=domain, max_bytes=max_bytes)]
