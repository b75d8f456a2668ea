"""Events: what the streaming service tells the alerts service, one JSON object each, on
``city/{city}/events/{domain}/{kind}`` (QoS 1).

An event is an *episode* of one device: a condition that began at a reading's time and,
once it is over, ended at another's (``end`` is null while it lasts). An episode is told
at most twice: when it opens (``end`` null) and when it closes (``end`` set), with the same
``id``; consumers upsert by ``id``, the closing message superseding the opening one. A
point event (a Siaga change, a flood forecast downstream, a gap) opens and closes at once:
one message, ``end`` set.

The ``id`` is a hash of the city, domain, kind, device and the episode's start (the
reading's time), nothing of the service's own: the same episode derived again (after a
restart, from redelivered readings, by a second instance) has the same id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from typing import Any

import msgspec

from cityhub.config.pack import CityPack
from cityhub.levels import SEVERITIES
from cityhub.topics import event_topic

__all__ = ["Episodes", "Event", "event_id", "iso"]


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """One event message (docs/protocol.md gives the schema)."""

    id: str
    city: str
    domain: str
    kind: str
    device: str
    gateway: str
    district: str
    start: str
    end: str | None
    severity: str
    detail: dict[str, Any]

    @property
    def topic(self) -> str:
        return event_topic(self.city, self.domain, self.kind)

    @property
    def phase(self) -> str:
        """``open`` or ``closed``: with the id, what makes a message unique."""
        return "open" if self.end is None else "closed"

    def json(self) -> bytes:
        return msgspec.json.encode(self)


def event_id(city: str, domain: str, kind: str, device: str, start_ns: int,
             subject: str | None = None) -> str:
    """The stable id of an episode: 24 hex digits of SHA-256 over what identifies it
    (``subject``: what else tells apart events of one device, kind and time, such as a
    forecast's place downstream)."""
    key = f"{city}/{domain}/{kind}/{device}/{start_ns}"
    if subject is not None:
        key += f"/{subject}"
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def iso(time_ns: int) -> str:
    """A reading time as ISO 8601 UTC with milliseconds, ``Z``-suffixed."""
    t = dt.datetime.fromtimestamp(time_ns // 1000 / 1e6, dt.UTC)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Episodes:
    """The open episodes of a city, by (kind, device), and the events they make."""

    def __init__(self, pack: CityPack) -> None:
        self.city = pack.city.id
        self._where = {d: (gw.id, pack.tags_of(d)["district"], s.domain.value)
                       for d, (gw, s) in pack.sensors.items()}
        self.open: dict[tuple[str, str], Event] = {}

    def _event(self, kind: str, device: str, start_ns: int, end_ns: int | None,
               severity: str, detail: dict[str, Any], subject: str | None = None) -> Event:
        if severity not in SEVERITIES:
            raise ValueError(f"severity {severity!r}: one of {', '.join(SEVERITIES)}")
        gateway, district, domain = self._where[device]
        return Event(id=event_id(self.city, domain, kind, device, start_ns, subject),
                     city=self.city,
                     domain=domain, kind=kind, device=device, gateway=gateway,
                     district=district, start=iso(start_ns),
                     end=None if end_ns is None else iso(end_ns), severity=severity,
                     detail=detail)

    def begin(self, kind: str, device: str, start_ns: int, severity: str,
              detail: dict[str, Any]) -> Event | None:
        """Open an episode (None if one of that kind is already open for the device)."""
        if (kind, device) in self.open:
            return None
        e = self.open[kind, device] = self._event(kind, device, start_ns, None, severity,
                                                   detail)
        return e

    def finish(self, kind: str, device: str, end_ns: int, detail: dict[str, Any] | None = None
               ) -> Event | None:
        """Close the device's open episode of ``kind`` (None if there is none)."""
        e = self.open.pop((kind, device), None)
        if e is None:
            return None
        return msgspec.structs.replace(e, end=iso(end_ns),
                                       detail={**e.detail, **(detail or {})})

    def point(self, kind: str, device: str, start_ns: int, end_ns: int, severity: str,
              detail: dict[str, Any], *, subject: str | None = None) -> Event:
        """An event that opens and closes at once."""
        return self._event(kind, device, start_ns, end_ns, severity, detail, subject)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.open.values())

    # -- checkpoint -------------------------------------------------------------------------
    def dump(self) -> bytes:
        return msgspec.json.encode(list(self.open.values()))

    def load(self, blob: bytes) -> None:
        self.open = {(e.kind, e.device): e
                     for e in msgspec.json.decode(blob, type=list[Event])
                     if e.device in self._where}
