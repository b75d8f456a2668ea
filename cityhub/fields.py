"""The field catalogue: which readings each domain carries, their type and unit.

Names and units follow the FIWARE Smart Data Models where one exists
(TrafficFlowObserved, WaterObserved / FloodMonitoring, Streetlight, WeatherObserved).
Units are SenML units (RFC 8428 section 12.1 and RFC 8798). A field's type never changes:
numbers are always stored as floats, so InfluxDB never sees a type conflict between an
integer and a float written for the same field.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["DOMAINS", "Domain", "FieldSpec", "Kind", "field_spec"]


class Domain(StrEnum):
    """What a sensor measures; also the InfluxDB measurement name."""

    TRAFFIC = "traffic"
    FLOOD = "flood"
    LIGHTING = "lighting"
    RAIN = "rain"


class Kind(StrEnum):
    """The SenML value label a field uses: ``v`` (number), ``vs`` (string), ``vb`` (bool)."""

    NUMBER = "v"
    STRING = "vs"
    BOOL = "vb"


_LABELS = {k: k.value for k in Kind}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One reading a domain carries."""

    name: str
    kind: Kind
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    description: str = ""

    @property
    def label(self) -> str:
        """The SenML value label: ``v``, ``vs`` or ``vb``."""
        return _LABELS[self.kind]


def _catalogue(*specs: FieldSpec) -> dict[str, FieldSpec]:
    return {s.name: s for s in specs}


DOMAINS: dict[Domain, dict[str, FieldSpec]] = {
    Domain.TRAFFIC: _catalogue(
        FieldSpec("intensity", Kind.NUMBER, "1/min", 0, 1000, description="vehicles per minute"),
        FieldSpec("occupancy", Kind.NUMBER, "/", 0, 1, description="fraction of time occupied"),
        FieldSpec("averageVehicleSpeed", Kind.NUMBER, "km/h", 0, 250),
        FieldSpec("congested", Kind.BOOL, description="the detector's own congestion flag"),
    ),
    Domain.FLOOD: _catalogue(
        FieldSpec("currentLevel", Kind.NUMBER, "m", -50, 100, description="water level"),
        FieldSpec("measuredDistance", Kind.NUMBER, "m", 0, 100,
                  description="sensor to water surface"),
    ),
    Domain.LIGHTING: _catalogue(
        FieldSpec("powerState", Kind.STRING, choices=("on", "off", "low", "bootingUp")),
        FieldSpec("status", Kind.STRING, choices=("ok", "defectiveLamp", "columnIssue",
                                                  "brokenLantern")),
        FieldSpec("illuminanceLevel", Kind.NUMBER, "/", 0, 1, description="dimming level"),
        FieldSpec("activePower", Kind.NUMBER, "W", 0, 5000),
    ),
    Domain.RAIN: _catalogue(
        FieldSpec("precipitation", Kind.NUMBER, "mm", 0, 500,
                  description="rain since the previous reading"),
        FieldSpec("rainRate", Kind.NUMBER, "mm/h", 0, 500),
    ),
}


def field_spec(domain: Domain | str, name: str) -> FieldSpec | None:
    """The spec of ``name`` in ``domain``, or None when the domain has no such field."""
    return DOMAINS[Domain(domain)].get(name)
