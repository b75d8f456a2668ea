"""Each sensor's state for the map: a label, a colour and a one-line detail.

From each sensor's newest reading (its domain's measurement) and, where the analytics
service has written them, its newest derived states (``traffic_state``, ``light_state``,
``quality``; docs/protocol.md): a traffic incident, a lamp the analytics find burning by
day or dark at night, a stuck sensor. Pure functions of the city pack and the latest
points (no Dash, no I/O), so they are unit tested directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cityhub.config.pack import (
    AnySensor,
    CityPack,
    FloodSensor,
    LightingSensor,
    RainSensor,
    TrafficSensor,
)
from cityhub.levels import level_of_service, rain_class, siaga
from cityhub.store.base import Latest

__all__ = ["COLOURS", "SensorState", "sensor_states"]

COLOURS = {
    "no data": "#6b7280",
    "LOS A": "#22c55e", "LOS B": "#84cc16", "LOS C": "#eab308", "LOS D": "#f97316",
    "LOS E": "#ef4444", "LOS F": "#991b1b",
    "Siaga IV": "#22c55e", "Siaga III": "#eab308", "Siaga II": "#f97316", "Siaga I": "#dc2626",
    "lamp on": "#facc15", "lamp dimmed": "#ca8a04", "lamp off": "#1e3a8a", "lamp fault": "#dc2626",
    "rain none": "#94a3b8", "rain light": "#7dd3fc", "rain moderate": "#38bdf8",
    "rain heavy": "#2563eb", "rain very heavy": "#7c3aed",
    "incident": "#7f1d1d",
}
# the analytics' fault states of a lamp (light_state.fault), as the map says them
_LAMP_FAULTS = {"day_burning": "burning by day", "dark_at_night": "dark at night"}
_ROMAN = {4: "IV", 3: "III", 2: "II", 1: "I"}


@dataclass(frozen=True, slots=True)
class SensorState:
    id: str
    name: str
    domain: str
    district: str
    lat: float
    lon: float
    label: str
    detail: str
    time_ns: int | None
    severity: int  # 0 normal .. 3 worst, for sorting and KPIs

    @property
    def colour(self) -> str:
        return COLOURS[self.label]


def _num(fields: dict[str, object], key: str) -> float | None:
    v = fields.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _classify(s: AnySensor, f: dict[str, object],
              derived: Mapping[str, Mapping[str, object]]) -> tuple[str, str, int]:
    label, detail, sev = _from_reading(s, f)
    if isinstance(s, TrafficSensor) and derived.get("traffic_state", {}).get("incident") is True:
        label, detail, sev = "incident", f"incident: {detail}", 3
    fault = _LAMP_FAULTS.get(str(derived.get("light_state", {}).get("fault")))
    if isinstance(s, LightingSensor) and fault is not None:
        label, detail, sev = "lamp fault", f"{fault}, {detail}", 2
    if derived.get("quality", {}).get("stuck") is True:
        detail += " (stuck: the same reading again and again)"
    return label, detail, sev


def _from_reading(s: AnySensor, f: dict[str, object]) -> tuple[str, str, int]:
    if isinstance(s, TrafficSensor):
        speed = _num(f, "averageVehicleSpeed")
        if speed is None:
            return "no data", "no speed reported", 0
        los = level_of_service(speed, s.thresholds.free_flow_speed)
        flow = _num(f, "intensity")
        sev = {"A": 0, "B": 0, "C": 1, "D": 1, "E": 2, "F": 3}[los]
        return f"LOS {los}", f"{speed:.0f} km/h, {flow or 0:.0f} veh/min", sev
    if isinstance(s, FloodSensor):
        level = _num(f, "currentLevel")
        if level is None:
            return "no data", "no level reported", 0
        t = s.thresholds
        sg = siaga(level, t.siaga_3, t.siaga_2, t.siaga_1)
        return f"Siaga {_ROMAN[sg]}", f"{level:.2f} m (Siaga I at {t.siaga_1:.2f} m)", 4 - sg
    if isinstance(s, LightingSensor):
        status, state = f.get("status"), f.get("powerState")
        power = _num(f, "activePower") or 0.0
        if status not in (None, "ok"):
            return "lamp fault", f"{status}, {power:.0f} W", 2
        label = {"on": "lamp on", "low": "lamp dimmed"}.get(str(state), "lamp off")
        return label, f"{state}, {power:.0f} W", 0
    assert isinstance(s, RainSensor)
    rate = _num(f, "rainRate")
    if rate is None:
        return "no data", "no rain rate reported", 0
    cls = rain_class(rate, s.thresholds.heavy, s.thresholds.very_heavy)
    sev = {"heavy": 1, "very heavy": 2}.get(cls, 0)
    return f"rain {cls}", f"{rate:.1f} mm/h", sev


def sensor_states(pack: CityPack, latest: Iterable[Latest], *, now_ns: int,
                  stale_after_s: float) -> list[SensorState]:
    """One state per sensor of the pack; sensors silent for ``stale_after_s`` are "no data"
    (a derived state only counts as fresh as the reading it was derived from)."""
    by_device: dict[str, dict[str, Latest]] = {}
    for row in latest:
        by_device.setdefault(row.device, {})[row.measurement] = row
    out = []
    for device, (gw, s) in pack.sensors.items():
        mine = by_device.get(device, {})
        p = mine.get(s.domain.value)
        fresh = p is not None and now_ns - p.time_ns <= stale_after_s * 1e9
        if fresh and p is not None:
            derived = {m: dict(d.fields) for m, d in mine.items()
                       if m != s.domain.value and d.time_ns >= p.time_ns}
            label, detail, sev = _classify(s, dict(p.fields), derived)
        else:
            label, detail, sev = "no data", "silent" if p is None else "stale", 0
        out.append(SensorState(device, s.name or device, s.domain.value,
                               s.district or gw.district, s.location.lat, s.location.lon,
                               label, detail, p.time_ns if p else None, sev))
    return out
