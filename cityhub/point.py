"""A point: what the storage schema stores (InfluxDB's data model, which the SQLite store
mirrors).

measurement = domain; tags = city, district, gateway, device (low cardinality: never a
message id or a sequence number); fields = the readings of that device at that time;
time = the device's time. Two points with the same measurement, tags and time merge,
so a redelivered message is stored once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import overload

import msgspec

from cityhub.senml import Reading, Value

__all__ = ["Encoded", "Point", "points_from_readings"]


class Point(msgspec.Struct, gc=False, repr_omit_defaults=True):
    """One row of the storage schema. ``tags`` are kept sorted by key.

    Treat it as immutable. ``line`` is the point's line protocol when whoever built it
    already had it (the ingester's decoder does); it is not part of the point's value, so
    equality ignores it.

    A :class:`msgspec.Struct` rather than a dataclass: the ingester builds one per device
    and time of every message, and a Struct is built in C, about twice as fast as a slots
    dataclass (and about eight times as fast as a frozen one). ``gc=False``: a point holds
    only strings, numbers and a dict of those, never a cycle, so the garbage collector
    need not track it.
    """

    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: Mapping[str, Value]
    time_ns: int
    line: str = ""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Point):
            return NotImplemented
        return (self.measurement == other.measurement and self.tags == other.tags
                and self.time_ns == other.time_ns and self.fields == other.fields)

    __hash__ = None  # type: ignore[assignment]  # mutable fields: unhashable, as before

    @property
    def tag(self) -> dict[str, str]:
        return dict(self.tags)


def points_from_readings(
    measurement: str,
    readings: Iterable[Reading],
    tags_of: Callable[[str], Mapping[str, str]],
) -> list[Point]:
    """Group readings by (device, time) into points; ``tags_of(device)`` gives its tags.

    A later reading of the same device, field and time overwrites an earlier one, as the
    store would.
    """
    grouped: dict[tuple[str, int], dict[str, Value]] = {}
    for r in readings:
        grouped.setdefault((r.device, r.time_ns), {})[r.field] = r.value
    tag_cache: dict[str, tuple[tuple[str, str], ...]] = {}
    out = []
    for (device, time_ns), fields in grouped.items():
        tags = tag_cache.get(device)
        if tags is None:
            tags = tag_cache[device] = tuple(sorted(tags_of(device).items()))
        out.append(Point(measurement, tags, fields, time_ns))
    return out


class Encoded(Sequence[Point]):
    """Points held as their line protocol, built as :class:`Point` objects only on demand.

    The ingester's compiled decoder writes a message's line protocol straight from its
    bytes, with no Python object per reading; a batch of such messages is an ``Encoded``.
    A store that speaks line protocol sends ``lines`` as they are
    (:func:`cityhub.lineprotocol.encode_lines` returns them); whatever needs the points
    themselves (the spool, a store without line protocol, finding the points a store
    refuses) indexes, slices or iterates, and ``build`` makes them once: the same points,
    in the same order, as ``lines`` holds.

    ``ends``, when given, marks where each message's lines end: (byte offset in ``lines``,
    points so far), increasing, the last ``(len(lines), count)``. With it, :meth:`split`
    cuts the batch between messages without building anything. (Not between lines: a
    string field may hold a newline.)
    """

    __slots__ = ("_build", "_count", "_ends", "_points", "lines")

    def __init__(self, lines: bytes, count: int, build: Callable[[], list[Point]],
                 ends: Sequence[tuple[int, int]] | None = None) -> None:
        if ends and tuple(ends[-1]) != (len(lines), count):
            raise ValueError(f"ends: the last is {tuple(ends[-1])}, not (len(lines), count) "
                             f"= {(len(lines), count)}")
        self.lines = lines
        self._count = count
        self._build = build
        self._ends = ends
        self._points: list[Point] | None = None

    @property
    def built(self) -> bool:
        """Whether the points were built (something asked for them)."""
        return self._points is not None

    def points(self) -> list[Point]:
        if self._points is None:
            points = self._build()
            if len(points) != self._count:
                raise RuntimeError(f"built {len(points)} points for {self._count} lines")
            self._points = points
        return self._points

    def split(self, max_points: int) -> list[Encoded]:
        """This batch in parts of at most ``max_points`` points each, in order, cut between
        messages (a message of more points than that is a part of its own), each an
        ``Encoded`` of its share of ``lines``, nothing built; ``[self]`` when it fits, or
        when it has no ``ends`` to cut at. A part's points, if asked for, are its share of
        this batch's (built once for all the parts)."""
        ends = self._ends
        if self._count <= max_points or not ends or len(ends) < 2:
            return [self]
        parts: list[Encoded] = []
        first = 0  # index in ends of the part's first message
        start_b = start_p = 0
        for k, (_, p_end) in enumerate(ends):
            if p_end - start_p > max_points and k > first:
                parts.append(self._part(first, k, start_b, start_p))
                first, (start_b, start_p) = k, ends[k - 1]
        parts.append(self._part(first, len(ends), start_b, start_p))
        return parts

    def _part(self, first: int, stop: int, start_b: int, start_p: int) -> Encoded:
        assert self._ends is not None
        end_b, end_p = self._ends[stop - 1]
        ends = [(b - start_b, p - start_p) for b, p in self._ends[first:stop]]
        return Encoded(self.lines[start_b:end_b], end_p - start_p,
                       lambda: self.points()[start_p:end_p], ends)

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, i: int) -> Point: ...
    @overload
    def __getitem__(self, i: slice) -> list[Point]: ...
    def __getitem__(self, i: int | slice) -> Point | list[Point]:
        return self.points()[i]

    def __iter__(self) -> Iterator[Point]:
        return iter(self.points())
