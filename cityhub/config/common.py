"""What every model of a city pack shares: frozen, unknown keys refused (to catch typos),
slug ids, and locations."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from cityhub.topics import SLUG

__all__ = ["Location", "PackModel", "Slug"]

Slug = Annotated[str, Field(pattern=f"^{SLUG}$")]


class PackModel(BaseModel):
    """Base of the pack's models: frozen; an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Location(PackModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
