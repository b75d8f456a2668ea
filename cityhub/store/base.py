"""The one small storage interface every backend implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cityhub.fields import Domain
from cityhub.point import Point
from cityhub.senml import Value

__all__ = ["DERIVED_MEASUREMENTS", "LATEST_MEASUREMENTS", "TAG_KEYS", "Latest", "Store"]

TAG_KEYS = ("city", "district", "gateway", "device")
#: What the analytics store beside the readings (docs/protocol.md, "Derived series").
DERIVED_MEASUREMENTS = ("traffic_state", "flood_state", "light_state", "rain_state",
                        "quality")
#: The measurements :meth:`Store.latest` answers for: each domain's readings and the
#: derived series (the dashboards colour a sensor by both).
LATEST_MEASUREMENTS = (*(d.value for d in Domain), *DERIVED_MEASUREMENTS)


@dataclass(frozen=True, slots=True)
class Latest:
    """The newest point of one device: its fields at the newest time, and that time."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, Value]
    time_ns: int

    @property
    def device(self) -> str:
        return self.tags["device"]


@runtime_checkable
class Store(Protocol):
    """Write a batch; the latest point per device; an aggregated range with a window.

    Writes are idempotent: a point with the same measurement, tags and time as a stored
    one overwrites its fields, so redelivered readings are stored once. Raises
    :class:`~cityhub.errors.SinkError` when a write fails (see ``retryable``).
    """

    #: True when :meth:`write` sends line protocol: an :class:`~cityhub.point.Encoded`
    #: batch then goes out as its ``lines``, and no :class:`Point` is ever built for it.
    line_protocol: bool

    async def write(self, points: Sequence[Point]) -> None: ...

    async def ping(self) -> str:
        """What answers (e.g. ``InfluxDB 1.6.7 at http://...``); raises
        :class:`~cityhub.errors.SinkError` when nothing does."""
        ...

    async def latest(self, *, city: str, since_ns: int | None = None) -> list[Latest]:
        """The newest point of each (measurement, device) of the city, for the
        :data:`LATEST_MEASUREMENTS`; with ``since_ns``, only those at or after it."""
        ...

    async def history(
        self, *, measurement: str, device: str, field: str, start_ns: int, stop_ns: int,
        city: str, window_s: float | None = None,
    ) -> list[tuple[int, float]]:
        """(time_ns, value) of a numeric field of ``city``'s device in [start, stop) (a
        store of several cities may hold one device id in more than one: a query always
        names its city); with ``window_s`` the mean per window (windows without data are
        left out), else the raw values."""
        ...

    async def aclose(self) -> None: ...
