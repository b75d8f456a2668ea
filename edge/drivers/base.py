"""What a driver is: something that reads one sensor's fields, asynchronously."""

from __future__ import annotations

from typing import Protocol

from cityhub.senml import Value

__all__ = ["Driver", "DriverError"]


class DriverError(Exception):
    """A driver could not read its sensor (the message says why)."""


class Driver(Protocol):
    """Reads one sensor. ``read`` returns the sensor's fields at UNIX time ``t`` (names and
    types of its domain's field catalogue) or raises :class:`DriverError`."""

    async def read(self, t: float) -> dict[str, Value]: ...

    async def aclose(self) -> None: ...
