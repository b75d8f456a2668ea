"""Each sensor's state for the map and the tables: a code, a severity and the facts
behind it (:class:`cityhub.levels.State`), plus where the sensor is.

From each sensor's newest reading (its domain's measurement) and, where the analytics
service has written them, its newest derived states (``traffic_state``, ``light_state``,
``quality``; docs/protocol.md). The rules themselves live in :mod:`cityhub.levels`, which
the alerts share; the words live in :mod:`dashboards.wording`. Pure functions of the
city pack and the latest points (no Dash, no I/O), so they are unit tested directly.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from cityhub.config.pack import (
    AnySensor,
    CityPack,
    FloodSensor,
    LightingSensor,
    RainSensor,
    TrafficSensor,
)
from cityhub.levels import (
    State,
    flood_state,
    lamp_state,
    rain_state,
    traffic_state,
    with_derived,
)
from cityhub.store.base import Latest
from dashboards.wording import COLOURS

__all__ = ["SensorState", "reading_state", "sensor_states"]


@dataclass(frozen=True, slots=True)
class SensorState:
    id: str
    name: str
    domain: str
    district: str
    gateway: str
    lat: float
    lon: float
    state: State
    time_ns: int | None

    @property
    def code(self) -> str:
        return self.state.code

    @property
    def severity(self) -> int:
        return self.state.severity

    @property
    def colour(self) -> str:
        return COLOURS[self.state.code]


def reading_state(s: AnySensor, fields: Mapping[str, object]) -> State:
    """The state one reading of sensor ``s`` shows, by the sensor's own thresholds."""
    if isinstance(s, TrafficSensor):
        return traffic_state(fields, s.thresholds.free_flow_speed)
    if isinstance(s, FloodSensor):
        t = s.thresholds
        return flood_state(fields, t.siaga_3, t.siaga_2, t.siaga_1)
    if isinstance(s, LightingSensor):
        return lamp_state(fields)
    assert isinstance(s, RainSensor)
    return rain_state(fields, s.thresholds.heavy, s.thresholds.very_heavy)


@dataclass(frozen=True, slots=True)
class _Placed:
    """What the map needs of a sensor that never changes while the pack is loaded."""

    id: str
    name: str
    domain: str
    district: str
    gateway: str
    lat: float
    lon: float
    sensor: AnySensor


_ROSTERS: dict[int, tuple[CityPack, list[_Placed]]] = {}


def _roster(pack: CityPack) -> list[_Placed]:
    """The pack's sensors, placed, worked out once per pack (a pack is immutable)."""
    known = _ROSTERS.get(id(pack))
    if known is not None and known[0] is pack:
        return known[1]
    placed = [_Placed(device, s.name or device, s.domain.value, s.district or gw.district,
                      gw.id, s.location.lat, s.location.lon, s)
              for device, (gw, s) in pack.sensors.items()]
    _ROSTERS[id(pack)] = (pack, placed)
    return placed


def sensor_states(pack: CityPack, latest: Iterable[Latest], *, now_ns: int,
                  stale_after_s: float, offline: Collection[str] = ()) -> list[SensorState]:
    """One state per sensor of the pack. Sensors silent for ``stale_after_s`` are
    ``no_data`` (a derived state only counts as fresh as the reading it was derived
    from); sensors of a gateway in ``offline`` (its retained last will) are ``offline``
    once their readings are stale."""
    by_device: dict[str, dict[str, Latest]] = {}
    for row in latest:
        by_device.setdefault(row.device, {})[row.measurement] = row
    out = []
    oldest_ns = now_ns - stale_after_s * 1e9
    for s in _roster(pack):
        mine = by_device.get(s.id, {})
        p = mine.get(s.domain)
        if p is not None and p.time_ns >= oldest_ns:
            state = reading_state(s.sensor, p.fields)
            if len(mine) > 1:
                derived = {m: d.fields for m, d in mine.items()
                           if m != s.domain and d.time_ns >= p.time_ns}
                state = with_derived(state, s.domain, derived)
        elif s.gateway in offline:
            state = State("offline", 1)
        else:
            state = State("no_data", 0, {"stale": p is not None})
        out.append(SensorState(s.id, s.name, s.domain, s.district, s.gateway, s.lat, s.lon,
                               state, p.time_ns if p else None))
    return out
