"""One hub, several cities: the ``pack`` / ``packs`` setting every hub service shares, and
loading the packs it names.

Topics and stored series already carry the city (``city/{city}/...``, the ``city`` tag), so
one broker, one store and one set of services can serve several cities. A service's
settings file names one city with ``pack: bandung`` or several with
``packs: [bandung, bogor]``; :func:`load_packs` loads them (every problem of every pack in
one :class:`~cityhub.errors.ConfigError`) and refuses two packs of the same city id.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from cityhub.config.loader import load_pack
from cityhub.config.pack import CityPack
from cityhub.errors import ConfigError, ConfigProblem

__all__ = ["CityPacks", "load_packs"]


class CityPacks(BaseModel):
    """The city packs a service serves: ``pack`` (one) or ``packs`` (several), not both.
    A base of the services' settings models; read :attr:`pack_names`."""

    pack: str | None = Field(None, description="city pack directory, or the name of a "
                             "shipped pack (one city; or use packs)")
    packs: tuple[str, ...] = Field((), description="several city packs this one service "
                                   "serves (one hub, several cities)")

    @model_validator(mode="after")
    def _one_form(self) -> CityPacks:
        if self.pack is not None and self.packs:
            raise ValueError("give pack (one city) or packs (several), not both")
        if self.pack is None and not self.packs:
            raise ValueError("pack (a city pack) or packs (a list of them) is required")
        seen: set[str] = set()
        for name in self.packs:
            if name in seen:
                raise ValueError(f"packs: {name!r} is listed twice")
            seen.add(name)
        return self

    @property
    def pack_names(self) -> tuple[str, ...]:
        """The packs named, in order (``pack`` alone is a list of one)."""
        return (self.pack,) if self.pack is not None else self.packs

    @property
    def per_city(self) -> bool:
        """Whether the cities are named (``packs``, even of one): a stateful service then
        names each city's session, state and metrics after it, so adding a city later
        moves nothing. ``pack`` (one city): every name as written, as before a hub served
        several."""
        return self.pack is None


def load_packs(names: Iterable[str | Path]) -> tuple[CityPack, ...]:
    """Load every pack named, in order. Raise one :class:`ConfigError` with every problem
    of every pack, or naming two packs of the same city (their topics and series would
    be one city's)."""
    packs: list[CityPack] = []
    problems: list[ConfigProblem] = []
    by_city: dict[str, str] = {}
    for name in names:
        try:
            pack = load_pack(name)
        except ConfigError as e:
            problems.extend(e.problems)
            continue
        first = by_city.setdefault(pack.city.id, str(name))
        if first != str(name):
            problems.append(ConfigProblem(str(name), "city.id", f"{pack.city.id!r} is also "
                                          f"the city of {first}: one pack per city"))
            continue
        packs.append(pack)
    if problems:
        raise ConfigError(problems)
    if not packs:
        raise ConfigError([ConfigProblem("(settings)", "packs", "no city pack named")])
    return tuple(packs)
