"""What the pages need, handed to the app once at start-up (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from cityhub.config.pack import CityPack
from dashboards.data import CityData

__all__ = ["DashboardSettings", "Hub", "hub"]


@dataclass(frozen=True, slots=True)
class DashboardSettings:
    refresh_s: float = 5.0
    stale_after_s: float = 900.0
    map_style: str | None = None  # None: dark, no tiles needed; or a Plotly map style


@dataclass(frozen=True, slots=True)
class Hub:
    pack: CityPack
    data: CityData
    settings: DashboardSettings


def hub() -> Hub:
    """The running app's hub context (inside a request)."""
    ctx: Hub = current_app.config["CITYHUB"]
    return ctx
