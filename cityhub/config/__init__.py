"""City packs and settings files: typed, frozen models loaded once at the edge of a process.

Public surface: :func:`load_pack`, :func:`load_settings`, the pack models, and
:class:`~cityhub.errors.ConfigError` whose ``problems`` name file, line, key path and what
was expected.
"""

from cityhub.config.loader import load_gateway, load_pack, load_settings, pack_dir, shipped_packs
from cityhub.config.pack import (
    Broker,
    City,
    CityPack,
    Credentials,
    District,
    FloodThresholds,
    ForecastPoint,
    Gateway,
    LightingThresholds,
    Location,
    RainThresholds,
    River,
    RiverLink,
    Sensor,
    TrafficThresholds,
)

__all__ = [
    "Broker",
    "City",
    "CityPack",
    "Credentials",
    "District",
    "FloodThresholds",
    "ForecastPoint",
    "Gateway",
    "LightingThresholds",
    "Location",
    "RainThresholds",
    "River",
    "RiverLink",
    "Sensor",
    "TrafficThresholds",
    "load_gateway",
    "load_pack",
    "load_settings",
    "pack_dir",
    "shipped_packs",
]
