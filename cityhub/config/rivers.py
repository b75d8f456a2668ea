"""Rivers in a city pack: which gauge feeds which place, and how long water takes.

For flood forecasts downstream (``analytics.downstream_eta``): a link runs from a flood
sensor of the pack to another one, or to a *forecast point*, a place the city forecasts
for without a sensor of its own (often downstream, outside the city).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from cityhub.config.common import Location, PackModel, Slug
from cityhub.fields import Domain

if TYPE_CHECKING:
    from cityhub.config.pack import CityPack

__all__ = ["ForecastPoint", "River", "RiverLink", "check_rivers"]


class ForecastPoint(PackModel):
    """A place on a river that the city forecasts floods for but has no sensor of: often
    downstream, outside the city (Bogor forecasts for Manggarai, in Jakarta)."""

    id: Slug
    name: str
    location: Location


class RiverLink(PackModel):
    """Water at ``upstream`` (a flood sensor of the pack) reaches ``downstream`` (a flood
    sensor, or a forecast point of the river) between ``travel_h[0]`` and ``travel_h[1]``
    hours later."""

    upstream: Slug
    downstream: Slug
    travel_h: tuple[float, float] = Field(description="hours: (shortest, longest)")

    @field_validator("travel_h")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] <= v[1] <= 96:
            raise ValueError("expected (shortest, longest) hours with 0 < shortest <= "
                             "longest <= 96")
        return v


class River(PackModel):
    """A river through (or from) the city: which gauges feed which, and how long water
    takes between them (for flood forecasts downstream)."""

    id: Slug
    name: str
    forecast_points: tuple[ForecastPoint, ...] = ()
    links: tuple[RiverLink, ...] = Field(min_length=1)


def check_rivers(pack: CityPack) -> list[tuple[tuple[str | int, ...], str]]:
    """Each link from a flood sensor of the pack to a flood sensor or a forecast point."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    gauges = {d for d, (_, s) in pack.sensors.items() if s.domain == Domain.FLOOD}
    for r, river in enumerate(pack.rivers):
        points = {p.id for p in river.forecast_points}
        for k, p in enumerate(river.forecast_points):
            if p.id in pack.sensors:
                problems.append((("rivers", r, "forecast_points", k, "id"),
                                 f"{p.id!r} is a sensor of the pack; a forecast point is a "
                                 "place without one"))
        for k, link in enumerate(river.links):
            if link.upstream not in gauges:
                problems.append((("rivers", r, "links", k, "upstream"),
                                 f"{link.upstream!r} is not a flood sensor of the pack"))
            if link.downstream not in gauges | points:
                problems.append((("rivers", r, "links", k, "downstream"),
                                 f"{link.downstream!r} is neither a flood sensor of the "
                                 "pack nor a forecast point of this river"))
            if link.upstream == link.downstream:
                problems.append((("rivers", r, "links", k, "downstream"),
                                 "a link joins two different places"))
    return problems
