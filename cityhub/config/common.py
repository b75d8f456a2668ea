"""What every model of a city pack shares: frozen, unknown keys refused (to catch typos),
slug ids, and locations."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from cityhub.topics import SLUG

__all__ = ["Location", "PackModel", "Slug", "minute_of_day", "within"]

Slug = Annotated[str, Field(pattern=f"^{SLUG}$")]


class PackModel(BaseModel):
    """Base of the pack's models: frozen; an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Location(PackModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def minute_of_day(value: str) -> int:
    """``HH:MM`` (local time) as minutes since midnight, or a ValueError saying why not."""
    m = _HHMM.match(value)
    if m is None:
        raise ValueError(f"{value!r} is not a time of day HH:MM (00:00 .. 23:59)")
    return int(m[1]) * 60 + int(m[2])


def within(start: str, end: str, minute: float) -> bool:
    """Whether ``minute`` (since midnight) lies in [start, end); an end before the start
    runs past midnight."""
    a, b = minute_of_day(start), minute_of_day(end)
    return a <= minute < b if a <= b else minute >= a or minute < b
