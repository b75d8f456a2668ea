"""Status classes the whole hub agrees on, from one reading and the sensor's thresholds.

These are the scalar, obviously-correct definitions; analytics kernels compute the same
over arrays and are tested against these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["LAMP_FAULTS", "LOS_BANDS", "NO_DATA", "SEVERITIES", "STATE_CODES", "State",
           "flood_state", "lamp_state", "level_of_service", "number_field", "rain_class",
           "rain_state", "siaga", "traffic_state", "with_derived"]

# Severity of an analytics event (and of the alerts made of it), least to most severe.
SEVERITIES = ("info", "warning", "critical")

# HCM urban street level of service by average speed as a share of free-flow speed.
LOS_BANDS = ((0.85, "A"), (0.67, "B"), (0.50, "C"), (0.40, "D"), (0.30, "E"))


def level_of_service(speed_kmh: float, free_flow_kmh: float) -> str:
    """Level of service A (free flow) .. F (breakdown)."""
    if free_flow_kmh <= 0:
        raise ValueError("free-flow speed must be positive")
    ratio = speed_kmh / free_flow_kmh
    for bound, grade in LOS_BANDS:
        if ratio > bound:
            return grade
    return "F"


def siaga(level_m: float, siaga_3: float, siaga_2: float, siaga_1: float) -> int:
    """Indonesian flood alert status: 4 (normal) down to 1 (danger).

    Siaga III begins at ``siaga_3``, II at ``siaga_2``, I at ``siaga_1`` (inclusive).
    """
    if level_m >= siaga_1:
        return 1
    if level_m >= siaga_2:
        return 2
    if level_m >= siaga_3:
        return 3
    return 4


def rain_class(rate_mm_h: float, heavy: float = 10.0, very_heavy: float = 20.0) -> str:
    """BMKG rain intensity class: none, light, moderate, heavy, very heavy."""
    if rate_mm_h <= 0:
        return "none"
    if rate_mm_h < 5:
        return "light"
    if rate_mm_h < heavy:
        return "moderate"
    if rate_mm_h < very_heavy:
        return "heavy"
    return "very heavy"


# -- a sensor's state: a code and a severity, never display text ---------------------------
#
# The dashboards colour and word these codes (in each user's language); the alerts and the
# public view can use the same ones. A code is stable: it is a key, not a label.

#: Every state code, in the order a legend lists them.
STATE_CODES = (
    "los_a", "los_b", "los_c", "los_d", "los_e", "los_f", "incident",
    "siaga_4", "siaga_3", "siaga_2", "siaga_1",
    "lamp_on", "lamp_dimmed", "lamp_off", "lamp_fault",
    "rain_none", "rain_light", "rain_moderate", "rain_heavy", "rain_very_heavy",
    "no_data", "offline",
)
_LOS_SEVERITY = {"A": 0, "B": 0, "C": 1, "D": 1, "E": 2, "F": 3}
_RAIN_SEVERITY = {"heavy": 1, "very heavy": 2}
#: The analytics' lamp faults (``light_state.fault``) that make a lamp faulty.
LAMP_FAULTS = ("day_burning", "dark_at_night")


@dataclass(frozen=True, slots=True)
class State:
    """A sensor's state: ``code`` (one of :data:`STATE_CODES`), ``severity`` (0 normal ..
    3 worst, for sorting and counting) and the ``facts`` behind it (numbers with their
    units in the key, and short codes such as ``fault``), for a caller to word."""

    code: str
    severity: int
    facts: Mapping[str, float | str | bool] = field(default_factory=dict)

    @property
    def family(self) -> str:
        """What kind of state: ``los``, ``siaga``, ``lamp``, ``rain``, or the code itself
        (``incident``, ``no_data``, ``offline``)."""
        return self.code.split("_", 1)[0] if self.code.startswith(
            ("los_", "siaga_", "lamp_", "rain_")) else self.code


NO_DATA = State("no_data", 0)


def number_field(fields: Mapping[str, object], key: str) -> float | None:
    """``fields[key]`` as a float if it is a number (a bool is not), else None."""
    v = fields.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def traffic_state(fields: Mapping[str, object], free_flow_kmh: float) -> State:
    """Level of service from a traffic reading (``averageVehicleSpeed``, ``intensity``)."""
    speed = number_field(fields, "averageVehicleSpeed")
    if speed is None:
        return NO_DATA
    los = level_of_service(speed, free_flow_kmh)
    return State(f"los_{los.lower()}", _LOS_SEVERITY[los],
                 {"speed_kmh": speed, "flow_per_min": number_field(fields, "intensity") or 0.0})


def flood_state(fields: Mapping[str, object], siaga_3: float, siaga_2: float,
                siaga_1: float) -> State:
    """Siaga status from a gauge's ``currentLevel``."""
    level = number_field(fields, "currentLevel")
    if level is None:
        return NO_DATA
    sg = siaga(level, siaga_3, siaga_2, siaga_1)
    return State(f"siaga_{sg}", 4 - sg, {"level_m": level, "siaga_1_m": siaga_1})


def lamp_state(fields: Mapping[str, object]) -> State:
    """A lamp's state from its reading: on, dimmed, off, or a fault it reports."""
    status, power_state = fields.get("status"), fields.get("powerState")
    power = number_field(fields, "activePower") or 0.0
    if status not in (None, "ok"):
        return State("lamp_fault", 2, {"fault": str(status), "power_w": power})
    code = {"on": "lamp_on", "low": "lamp_dimmed"}.get(str(power_state), "lamp_off")
    return State(code, 0, {"power_w": power})


def rain_state(fields: Mapping[str, object], heavy: float, very_heavy: float) -> State:
    """BMKG rain class from a gauge's ``rainRate``."""
    rate = number_field(fields, "rainRate")
    if rate is None:
        return NO_DATA
    cls = rain_class(rate, heavy, very_heavy)
    return State(f"rain_{cls.replace(' ', '_')}", _RAIN_SEVERITY.get(cls, 0),
                 {"rate_mm_h": rate})


def with_derived(state: State, domain: str,
                 derived: Mapping[str, Mapping[str, object]]) -> State:
    """``state`` (from the reading) adjusted by the analytics' derived states of the same
    reading (docs/protocol.md, "Derived series"): a traffic incident, a lamp burning by
    day or dark at night, a stuck sensor (``facts["stuck"]``)."""
    facts = dict(state.facts)
    if derived.get("quality", {}).get("stuck") is True:
        facts["stuck"] = True
    if domain == "traffic" and derived.get("traffic_state", {}).get("incident") is True:
        return State("incident", 3, facts)
    fault = str(derived.get("light_state", {}).get("fault"))
    if domain == "lighting" and fault in LAMP_FAULTS:
        return State("lamp_fault", 2, {**facts, "fault": fault})
    return State(state.code, state.severity, facts)
