"""The city pack's typed models (frozen; unknown keys are errors, to catch typos).

A pack describes one city: the city itself, its districts, sensor profiles (defaults a
sensor inherits), the broker gateways talk to, and the gateways with their sensors.
Thresholds are typed per domain. Cross references (a gateway's district, a sensor's
profile, unique ids across the whole city) are checked here.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from cityhub.config.alerting import AlertsPolicy, check_alerts
from cityhub.config.common import Location, PackModel, Slug
from cityhub.config.corridors import Corridor, check_corridors
from cityhub.config.lighting import DimmingStep, LightingPolicy
from cityhub.config.rivers import ForecastPoint, River, RiverLink, check_rivers
from cityhub.fields import Domain
from cityhub.mqtt import TlsSettings

__all__ = [
    "Broker", "City", "CityPack", "Corridor", "Credentials", "DimmingStep", "District",
    "FloodThresholds", "ForecastPoint", "Gateway", "LightingPolicy", "LightingThresholds",
    "Location", "Profile",
    "RainThresholds", "River", "RiverLink", "Sensor", "TrafficThresholds",
]

Scalar = str | int | float | bool


class District(PackModel):
    id: Slug
    name: str
    centroid: Location
    outline: tuple[tuple[float, float], ...] = Field(
        default=(), description="(lon, lat) vertices of a simple outline polygon")

    @field_validator("outline")
    @classmethod
    def _closed_enough(cls, v: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        if v and len(v) < 3:
            raise ValueError("an outline needs at least 3 vertices")
        return v


class City(PackModel):
    id: Slug
    name: str
    country: str = Field(pattern="^[A-Z]{2}$")
    timezone: str
    location: Location
    languages: tuple[Literal["en", "id"], ...] = ("en", "id")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {v!r} (e.g. Asia/Jakarta)") from None
        return v


class TrafficThresholds(PackModel):
    free_flow_speed: float = Field(50.0, gt=0, le=200, description="km/h")


class FloodThresholds(PackModel):
    """Water levels (metres on the gauge) where each Siaga status starts.

    Indonesian practice counts down: Siaga IV is normal, Siaga I is danger. E.g. Katulampa
    weir: IV < 0.8 m, III 0.8-1.5 m, II 1.5-2.0 m, I > 2.0 m.
    """

    siaga_3: float
    siaga_2: float
    siaga_1: float

    @model_validator(mode="after")
    def _ascending(self) -> FloodThresholds:
        if not self.siaga_3 < self.siaga_2 < self.siaga_1:
            raise ValueError("levels must rise: siaga_3 < siaga_2 < siaga_1 "
                             f"(got {self.siaga_3}, {self.siaga_2}, {self.siaga_1})")
        return self

    @property
    def alert_level(self) -> float:
        """FIWARE ``alertLevel``: where Siaga III begins."""
        return self.siaga_3

    @property
    def danger_level(self) -> float:
        """FIWARE ``dangerLevel``: where Siaga I begins."""
        return self.siaga_1


class LightingThresholds(PackModel):
    rated_power: float = Field(gt=0, le=5000, description="W at full output")
    switch_elevation: float = Field(-3.0, ge=-18, le=10,
                                    description="sun elevation (deg) lamps switch at")


class RainThresholds(PackModel):
    """Rain rates (mm/h) per BMKG intensity classes."""

    heavy: float = Field(10.0, gt=0)
    very_heavy: float = Field(20.0, gt=0)


Thresholds = TrafficThresholds | FloodThresholds | LightingThresholds | RainThresholds


class _SensorBase(PackModel):
    id: Slug
    profile: Slug | None = None
    name: str | None = None
    driver: Slug = "sim"
    district: Slug | None = Field(None, description="defaults to the gateway's district")
    location: Location
    interval_s: float = Field(60.0, gt=0, le=86_400)
    params: dict[str, Scalar] = Field(default_factory=dict)


class TrafficSensor(_SensorBase):
    domain: Literal[Domain.TRAFFIC]
    thresholds: TrafficThresholds = TrafficThresholds()


class FloodSensor(_SensorBase):
    domain: Literal[Domain.FLOOD]
    thresholds: FloodThresholds


class LightingSensor(_SensorBase):
    domain: Literal[Domain.LIGHTING]
    thresholds: LightingThresholds


class RainSensor(_SensorBase):
    domain: Literal[Domain.RAIN]
    thresholds: RainThresholds = RainThresholds()


AnySensor = TrafficSensor | FloodSensor | LightingSensor | RainSensor
Sensor = Annotated[
    TrafficSensor | FloodSensor | LightingSensor | RainSensor, Field(discriminator="domain")
]


class Profile(PackModel):
    """Defaults a sensor inherits with ``profile:`` (its own keys win)."""

    domain: Domain
    driver: Slug = "sim"
    interval_s: float = Field(60.0, gt=0, le=86_400)
    params: dict[str, Scalar] = Field(default_factory=dict)
    thresholds: dict[str, float] = Field(default_factory=dict)


class Broker(PackModel):
    host: str = "localhost"
    port: int = Field(1883, ge=1, le=65535)
    protocol: Literal["auto", "5", "3.1.1"] = Field(
        "auto", description="MQTT version of the edge agents; auto: 5 where the broker "
        "supports it, else 3.1.1")
    tls: TlsSettings | None = Field(None, description="TLS to the broker (the section's "
                                    "presence turns it on); relative paths are resolved "
                                    "against the YAML file that names them")
    keepalive_s: int = Field(30, ge=5, le=3600)


class Credentials(PackModel):
    """Where a gateway's MQTT password comes from: never the YAML itself."""

    username: str
    password_env: str | None = Field(None, pattern="^[A-Z_][A-Z0-9_]*$")
    password_file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Credentials:
        if self.password_env and self.password_file:
            raise ValueError("give password_env or password_file, not both")
        return self


class Gateway(PackModel):
    id: Slug
    name: str | None = None
    district: Slug
    location: Location
    credentials: Credentials | None = None
    flush_interval_s: float = Field(5.0, gt=0, le=3600)
    sensors: tuple[Sensor, ...] = Field(min_length=1)

    @property
    def domains(self) -> set[Domain]:
        return {s.domain for s in self.sensors}


class CityPack(PackModel):
    """A whole city, validated and cross-checked."""

    pack: Literal[1] = Field(description="pack format version")
    city: City
    districts: tuple[District, ...] = Field(min_length=1)
    profiles: dict[Slug, Profile] = Field(default_factory=dict)
    broker: Broker = Broker()
    gateways: tuple[Gateway, ...] = Field(default=())
    rivers: tuple[River, ...] = Field(default=())
    corridors: tuple[Corridor, ...] = Field(default=())
    lighting: LightingPolicy = LightingPolicy()
    alerts: AlertsPolicy = AlertsPolicy()

    @cached_property
    def sensors(self) -> dict[str, tuple[Gateway, AnySensor]]:
        """device id -> (gateway, sensor), built once."""
        return {s.id: (gw, s) for gw in self.gateways for s in gw.sensors}

    @cached_property
    def district_of(self) -> dict[str, str]:
        """device id -> district id (the sensor's own, else its gateway's)."""
        return {d: s.district or gw.district for d, (gw, s) in self.sensors.items()}

    def tags_of(self, device: str) -> dict[str, str]:
        """Storage tags of ``device``: city, district, gateway, device."""
        gw, s = self.sensors[device]
        return {"city": self.city.id, "district": s.district or gw.district,
                "gateway": gw.id, "device": s.id}


def cross_check(pack: CityPack) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems with references inside a valid pack, each with its key path."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    districts = {d.id for d in pack.districts}
    seen: set[str] = set()
    for i, d in enumerate(pack.districts):
        if d.id in seen:
            problems.append((("districts", i, "id"), f"district id {d.id!r} is used twice"))
        seen.add(d.id)
    gateways: dict[str, int] = {}
    devices: dict[str, str] = {}
    for g, gw in enumerate(pack.gateways):
        if gw.id in gateways:
            problems.append((("gateways", g, "id"), f"gateway id {gw.id!r} is used twice"))
        gateways[gw.id] = g
        if gw.district not in districts:
            problems.append((("gateways", g, "district"),
                             f"unknown district {gw.district!r}; the city has "
                             f"{', '.join(sorted(districts))}"))
        for j, s in enumerate(gw.sensors):
            if s.id in devices:
                problems.append((("gateways", g, "sensors", j, "id"),
                                 f"sensor id {s.id!r} is already used on gateway "
                                 f"{devices[s.id]!r}; device ids are unique in a city"))
            devices[s.id] = gw.id
            if s.district is not None and s.district not in districts:
                problems.append((("gateways", g, "sensors", j, "district"),
                                 f"unknown district {s.district!r}"))
    problems += check_rivers(pack)
    problems += check_corridors(pack)
    problems += check_alerts(pack)
    return problems
