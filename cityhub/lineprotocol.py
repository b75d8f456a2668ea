"""InfluxDB line protocol, encoded exactly.

Escaping (https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/):

- measurement: ``,`` and space are escaped with a backslash;
- tag keys, tag values, field keys: ``,``, ``=`` and space;
- string field values are double-quoted; ``"`` and ``\\`` are escaped.

Line protocol cannot represent everything, so the encoder refuses (``ValueError``) rather
than write a line the server would misread: names that are empty; contain a newline,
carriage return or tab (the server treats a tab as a separator); end in a backslash; or
contain a backslash followed by a backslash, comma, equals sign, space or double quote (the
server takes the backslash as an escape there); measurements starting with ``#`` (a
comment line); the key ``time``; NaN and infinity.
Checked against a real InfluxDB 1.6.7 by ``tests/cityhub/test_lineprotocol_server.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache

from cityhub.point import Encoded, Point

__all__ = ["encode_field_key", "encode_line", "encode_lines", "encode_series"]

_MEAS = str.maketrans({",": "\\,", " ": "\\ "})
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
_STR = str.maketrans({'"': '\\"', "\\": "\\\\"})
_BAD_AFTER_BACKSLASH = ("\\\\", "\\,", "\\=", "\\ ", "\\\"")


def _check_name(kind: str, name: str) -> None:
    if not name:
        raise ValueError(f"{kind} is empty")
    if "\n" in name or "\r" in name or "\t" in name:
        raise ValueError(f"{kind} {name!r} contains a newline or tab")
    if name.endswith("\\") or any(s in name for s in _BAD_AFTER_BACKSLASH):
        raise ValueError(f"{kind} {name!r} has a backslash line protocol cannot represent")


def _field_value(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"field {key!r} is not finite ({value})")
        return repr(value)
    if isinstance(value, str):
        if "\r" in value:
            raise ValueError(f"field {key!r} contains a carriage return")
        return f'"{value.translate(_STR)}"'
    raise ValueError(f"field {key!r} has unsupported type {type(value).__name__}")


@lru_cache(maxsize=16384)
def encode_series(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    """Escaped ``measurement,tag=value,...`` (cached: a city has few series)."""
    _check_name("measurement", measurement)
    if measurement.startswith("#"):
        raise ValueError(f"measurement {measurement!r} starts with '#' (a comment)")
    parts = [measurement.translate(_MEAS)]
    for k, v in tags:
        if v == "":
            continue  # InfluxDB has no empty tag values: an empty tag is an absent tag
        _check_name("tag key", k)
        _check_name("tag value", v)
        if k == "time":
            raise ValueError("'time' cannot be a tag key")
        parts.append(f",{k.translate(_KEY)}={v.translate(_KEY)}")
    return "".join(parts)


@lru_cache(maxsize=4096)
def encode_field_key(key: str) -> str:
    _check_name("field key", key)
    if key == "time":
        raise ValueError("'time' cannot be a field key")
    return key.translate(_KEY)


def encode_line(point: Point) -> str:
    """One line (without the trailing newline) for ``point``; time in nanoseconds."""
    series = encode_series(point.measurement, point.tags)
    if not point.fields:
        raise ValueError(f"point of {point.measurement!r} has no fields")
    fields = ",".join(f"{encode_field_key(k)}={_field_value(k, v)}"
                      for k, v in point.fields.items())
    return f"{series} {fields} {point.time_ns}"


def encode_lines(points: Iterable[Point]) -> bytes:
    """Newline-terminated line protocol for ``points``, UTF-8 (a point's own ``line`` when
    it has one; an :class:`~cityhub.point.Encoded` batch's ``lines`` as they are)."""
    if isinstance(points, Encoded):
        return points.lines
    body = "\n".join([p.line or encode_line(p) for p in points])
    return f"{body}\n".encode() if body else b""
