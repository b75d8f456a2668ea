"""Corridors in a city pack: traffic sensors along one road, upstream to downstream.

::

    corridors:
      - {id: dago, name: Jl. Ir. H. Juanda (Dago), sensors: [tfc-dago-01, tfc-dago-02, ...]}

The analytics judge a road's slowdown against the other sensors of its corridor (an
incident is local: its neighbours on the same road keep moving) where the pack gives one,
and against the whole city's otherwise. Like rivers, corridors name the city's own
sensors, so an overlay does not inherit its base's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from cityhub.config.common import PackModel, Slug
from cityhub.fields import Domain

if TYPE_CHECKING:
    from cityhub.config.pack import CityPack

__all__ = ["Corridor", "check_corridors"]


class Corridor(PackModel):
    """Traffic sensors along one road, in order (upstream first)."""

    id: Slug
    name: str
    sensors: tuple[Slug, ...] = Field(min_length=2)


def check_corridors(pack: CityPack) -> list[tuple[tuple[str | int, ...], str]]:
    """Each corridor's sensors are traffic sensors of the pack, each in one corridor."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    roads = {d for d, (_, s) in pack.sensors.items() if s.domain == Domain.TRAFFIC}
    seen: dict[str, str] = {}
    for c, corridor in enumerate(pack.corridors):
        for k, device in enumerate(corridor.sensors):
            where = ("corridors", c, "sensors", k)
            if device not in roads:
                problems.append((where, f"{device!r} is not a traffic sensor of the pack"))
            elif device in seen:
                problems.append((where, f"{device!r} is already in corridor {seen[device]!r}"))
            else:
                seen[device] = corridor.id
    return problems
