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

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cityhub.fields import Domain
from cityhub.mqtt import TlsSettings
from cityhub.topics import SLUG

__all__ = [
    "Broker", "City", "CityPack", "Credentials", "District", "FloodThresholds",
    "ForecastPoint", "Gateway", "LightingThresholds", "Location", "Profile",
    "RainThresholds", "River", "RiverLink", "Sensor", "TrafficThresholds",
]

Slug = Annotated[str, Field(pattern=f"^{SLUG}$")]
Scalar = str | int | float | bool


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Location(_Model):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class District(_Model):
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


class City(_Model):
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


class TrafficThresholds(_Model):
    free_flow_speed: float = Field(50.0, gt=0, le=200, description="km/h")


class FloodThresholds(_Model):
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


class LightingThresholds(_Model):
    rated_power: float = Field(gt=0, le=5000, description="W at full output")
    switch_elevation: float = Field(-3.0, ge=-18, le=10,
                                    description="sun elevation (deg) lamps switch at")


class RainThresholds(_Model):
    """Rain rates (mm/h) per BMKG intensity classes."""

    heavy: float = Field(10.0, gt=0)
    very_heavy: float = Field(20.0, gt=0)


Thresholds = TrafficThresholds | FloodThresholds | LightingThresholds | RainThresholds


class _SensorBase(_Model):
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


class Profile(_Model):
    """Defaults a sensor inherits with ``profile:`` (its own keys win)."""

    domain: Domain
    driver: Slug = "sim"
    interval_s: float = Field(60.0, gt=0, le=86_400)
    params: dict[str, Scalar] = Field(default_factory=dict)
    thresholds: dict[str, float] = Field(default_factory=dict)


class Broker(_Model):
    host: str = "localhost"
    port: int = Field(1883, ge=1, le=65535)
    protocol: Literal["auto", "5", "3.1.1"] = Field(
        "auto", description="MQTT version of the edge agents; auto: 5 where the broker "
        "supports it, else 3.1.1")
    tls: TlsSettings | None = Field(None, description="TLS to the broker (the section's "
                                    "presence turns it on); relative paths are resolved "
                                    "against the YAML file that names them")
    keepalive_s: int = Field(30, ge=5, le=3600)


class Credentials(_Model):
    """Where a gateway's MQTT password comes from: never the YAML itself."""

    username: str
    password_env: str | None = Field(None, pattern="^[A-Z_][A-Z0-9_]*$")
    password_file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Credentials:
        if self.password_env and self.password_file:
            raise ValueError("give password_env or password_file, not both")
        return self


class Gateway(_Model):
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


class ForecastPoint(_Model):
    """A place on a river that the city forecasts floods for but has no sensor of: often
    downstream, outside the city (Bogor forecasts for Manggarai, in Jakarta)."""

    id: Slug
    name: str
    location: Location


class RiverLink(_Model):
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


class River(_Model):
    """A river through (or from) the city: which gauges feed which, and how long water
    takes between them (for flood forecasts downstream)."""

    id: Slug
    name: str
    forecast_points: tuple[ForecastPoint, ...] = ()
    links: tuple[RiverLink, ...] = Field(min_length=1)


class CityPack(_Model):
    """A whole city, validated and cross-checked."""

    pack: Literal[1] = Field(description="pack format version")
    city: City
    districts: tuple[District, ...] = Field(min_length=1)
    profiles: dict[Slug, Profile] = Field(default_factory=dict)
    broker: Broker = Broker()
    gateways: tuple[Gateway, ...] = Field(default=())
    rivers: tuple[River, ...] = Field(default=())

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
    problems += _check_rivers(pack)
    return problems


def _check_rivers(pack: CityPack) -> list[tuple[tuple[str | int, ...], str]]:
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
