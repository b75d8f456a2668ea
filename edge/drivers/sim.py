"""Simulated sensors, driven by the city's clock and coordinates, seeded for repeatability.

- traffic: morning and evening peaks (local time), speed from the BPR volume-delay curve;
- rain: convective afternoon storms, the same for every gauge of a city on a given seed,
  plus storms injected with :meth:`Weather.add_storm`;
- flood: river levels that rise with rain upstream and recede towards their base level;
- lighting: lamps on while the sun is below the switch elevation, dimmed as the pack's
  ``lighting.dimming`` schedule says (Bandung's: to 60 % from 00:00 to 05:00);
- traffic incidents: on a seeded share of days (``incident_rate``, default 0.1), a sensor's
  road loses 60 % of its capacity, and traffic slows past the scene, for 30 to 90 minutes
  between 06:00 and 21:00 local time; more with :meth:`SensorSim.inject`.

Faults, for testing the analytics and the alarms, injected with :meth:`SensorSim.inject`
or from the sensor's params (``fault``: one of :data:`FAULTS`; ``fault_from``: UNIX
seconds, default from the first sample; ``drift_per_h`` for ``drift``, default 0.05 of the
main field's unit per hour):

- ``lamp_out``: a lamp switched on at night draws no power (``status: defectiveLamp``);
- ``day_burning``: a lamp stays on by day at full power;
- ``stuck``: the sensor repeats its readings from when the fault began;
- ``drift``: the main reading (river level, rain rate, vehicle speed, lamp power) drifts
  away from the truth, linearly in time (``drift_per_h`` may be negative; only a river
  level goes below 0).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from cityhub.config.pack import (
    AnySensor,
    CityPack,
    FloodSensor,
    LightingSensor,
    RainSensor,
    TrafficSensor,
)
from cityhub.senml import Value
from cityhub.solar import sun_elevation
from edge.drivers.base import DriverError

__all__ = ["FAULTS", "SensorSim", "SimDriver", "Weather", "make_sim"]

FAULTS = ("lamp_out", "day_burning", "stuck", "drift", "incident")
_MAIN_FIELD = {"flood": "currentLevel", "rain": "rainRate", "traffic": "averageVehicleSpeed",
               "lighting": "activePower"}


@dataclass(frozen=True)
class Fault:
    """A fault active in [start, end) (UNIX s)."""

    kind: str
    start: float
    end: float = math.inf
    drift_per_h: float = 0.05

    def active(self, t: float) -> bool:
        return self.start <= t < self.end


@dataclass
class Storm:
    start_s: float
    duration_s: float
    peak_mm_h: float

    def rate(self, t: float) -> float:
        x = (t - self.start_s) / self.duration_s
        return self.peak_mm_h * math.sin(math.pi * x) ** 2 if 0 <= x <= 1 else 0.0


@dataclass
class Weather:
    """The city's rain: seeded afternoon storms, plus injected ones."""

    timezone: str
    seed: int = 0
    storms: list[Storm] = field(default_factory=list)
    _days: dict[int, list[Storm]] = field(default_factory=dict)

    def add_storm(self, start_s: float, duration_s: float, peak_mm_h: float) -> None:
        self.storms.append(Storm(start_s, duration_s, peak_mm_h))

    def _day_storms(self, t: float) -> list[Storm]:
        local = datetime.fromtimestamp(t, ZoneInfo(self.timezone))
        day = local.toordinal()
        if day not in self._days:
            rng = random.Random(self.seed * 100_003 + day)
            midnight = t - (local.hour * 3600 + local.minute * 60 + local.second)
            storms = []
            if rng.random() < 0.45:  # rainy season afternoons
                start = midnight + rng.uniform(13.5, 17.0) * 3600
                storms.append(Storm(start, rng.uniform(0.5, 2.5) * 3600, rng.uniform(5, 45)))
            self._days[day] = storms
        return self._days[day]

    def rate(self, t: float, spatial: float = 1.0) -> float:
        """Rain rate (mm/h) at time ``t``; ``spatial`` scales it for one gauge."""
        return spatial * sum(s.rate(t) for s in (*self._day_storms(t), *self.storms))


class SensorSim:
    """One simulated sensor: :meth:`sample` gives its fields at time ``t`` (UNIX s)."""

    def __init__(self, sensor: AnySensor, pack: CityPack, weather: Weather, seed: int,
                 time_scale: float = 1.0) -> None:
        self.sensor = sensor
        self.time_scale = time_scale
        self.tz = ZoneInfo(pack.city.timezone)
        self.lighting = pack.lighting
        self.weather = weather
        self.rng = random.Random(f"{seed}:{sensor.id}")
        self.params = sensor.params
        self.spatial = 0.7 + 0.6 * self.rng.random()
        self.last_t: float | None = None
        self.first_t: float | None = None
        self.level = float(self.params.get("base_level", 0.5))
        self.seed = seed
        self.faults: list[Fault] = []
        self._stuck: dict[str, Value] | None = None
        kind = self.params.get("fault")
        if kind is not None:
            self.inject(str(kind), float(self.params.get("fault_from", -math.inf)),
                        drift_per_h=float(self.params.get("drift_per_h", 0.05)))

    def inject(self, kind: str, start: float, end: float = math.inf, *,
               drift_per_h: float = 0.05) -> None:
        """Make the sensor misbehave from ``start`` to ``end`` (UNIX s); see :data:`FAULTS`."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r} (known: {', '.join(FAULTS)})")
        self.faults.append(Fault(kind, start, end, drift_per_h))

    def active_faults(self, t: float) -> list[str]:
        """The faults the sensor has at ``t``, the seeded traffic incidents included:
        the ground truth a detector is scored against (``bench/detection.py``)."""
        kinds = [f.kind for f in self.faults if f.active(t)]
        if isinstance(self.sensor, TrafficSensor) and "incident" not in kinds \
                and self._incident(t):
            kinds.append("incident")
        return kinds

    def _fault(self, kind: str, t: float) -> Fault | None:
        return next((f for f in self.faults if f.kind == kind and f.active(t)), None)

    def _incident(self, t: float) -> bool:
        if self._fault("incident", t):
            return True
        rate = float(self.params.get("incident_rate", 0.1))
        local = datetime.fromtimestamp(t, self.tz)
        day = random.Random(f"{self.seed}:{self.sensor.id}:{local.date().isoformat()}")
        if day.random() >= rate:
            return False
        start = day.uniform(6, 21)
        return start <= self._hours(t) < start + day.uniform(0.5, 1.5)

    def _hours(self, t: float) -> float:
        local = datetime.fromtimestamp(t, self.tz)
        return local.hour + local.minute / 60 + local.second / 3600

    def sample(self, t: float) -> dict[str, Value]:
        if self.first_t is None:
            self.first_t = t
        values = self._true(t)
        if not self.faults:
            return values
        if self._fault("stuck", t):
            if self._stuck is None:
                self._stuck = values
            return dict(self._stuck)
        self._stuck = None
        drift = self._fault("drift", t)
        main = _MAIN_FIELD[self.sensor.domain]
        if drift is not None and isinstance(values.get(main), float):
            # from the fault's start; one without a start (params) from the first sample
            since = drift.start if math.isfinite(drift.start) else self.first_t
            hours = (t - since) / 3600
            drifted = float(values[main]) + drift.drift_per_h * hours
            if self.sensor.domain != "flood":  # a speed, a rain rate, a power: never < 0
                drifted = max(0.0, drifted)
            values[main] = round(drifted, 3)
        return values

    def _true(self, t: float) -> dict[str, Value]:
        s = self.sensor
        dt = 0.0 if self.last_t is None else max(0.0, t - self.last_t)
        self.last_t = t
        if isinstance(s, TrafficSensor):
            return self._traffic(t, s)
        if isinstance(s, RainSensor):
            rate = self.weather.rate(t, self.spatial)
            return {"rainRate": round(rate, 2),
                    "precipitation": round(rate * (dt or s.interval_s) / 3600, 3)}
        if isinstance(s, FloodSensor):
            return self._flood(t, s, dt)
        assert isinstance(s, LightingSensor)
        return self._lamp(t, s)

    def _traffic(self, t: float, s: TrafficSensor) -> dict[str, Value]:
        h = self._hours(t)
        demand = (0.08 + 0.9 * math.exp(-((h - 7.5) ** 2) / 1.5)
                  + 1.0 * math.exp(-((h - 17.5) ** 2) / 2.5)
                  + 0.45 * math.exp(-((h - 12.5) ** 2) / 6))
        if self.weather.rate(t) > 10:  # heavy rain slows everything down
            demand *= 1.15
        peak = float(self.params.get("peak_intensity", 40))
        intensity = max(0.0, peak * demand * self.rng.uniform(0.85, 1.15))
        capacity = 12.0 * float(self.params.get("lanes", 2))
        incident = self._incident(t)
        if incident:
            capacity *= 0.4  # lanes closed
        vc = intensity / capacity
        free = s.thresholds.free_flow_speed
        speed = free / (1 + 0.15 * vc**4) * self.rng.uniform(0.93, 1.05)
        if incident:
            speed *= 0.6  # and traffic slows past the scene
        occupancy = min(1.0, 0.9 * vc / (1 + vc))
        return {"intensity": round(intensity, 1), "occupancy": round(occupancy, 3),
                "averageVehicleSpeed": round(speed, 1), "congested": speed < 0.5 * free}

    def _flood(self, t: float, s: FloodSensor, dt: float) -> dict[str, Value]:
        base = float(self.params.get("base_level", 0.5))
        response = float(self.params.get("rain_response", 0.05))  # m per hour per mm/h
        recession = float(self.params.get("recession", 0.02))  # share of excess per minute
        dt *= self.time_scale  # the river's own clock may run faster (the demo's)
        hours = dt / 3600
        upstream = self.weather.rate(t - 1200 / self.time_scale, self.spatial)  # 20 min lag
        self.level += response * upstream * hours
        self.level -= (self.level - base) * (1 - math.exp(-recession * dt / 60))
        self.level = max(0.0, self.level)
        level = round(self.level + self.rng.gauss(0, 0.005), 3)
        return {"currentLevel": level}

    def _lamp(self, t: float, s: LightingSensor) -> dict[str, Value]:
        loc = s.location
        night = sun_elevation(loc.lat, loc.lon, t) < s.thresholds.switch_elevation
        on_by_day = self._fault("day_burning", t) is not None
        if not night and not on_by_day:
            return {"powerState": "off", "status": "ok", "illuminanceLevel": 0.0,
                    "activePower": 0.0}
        dim = self.lighting.level_at(self._hours(t) * 60) if night else 1.0
        power = s.thresholds.rated_power * dim * self.rng.uniform(0.97, 1.03)
        if self._fault("lamp_out", t):
            return {"powerState": "on", "status": "defectiveLamp", "illuminanceLevel": dim,
                    "activePower": 0.0}
        return {"powerState": "low" if dim < 1 else "on", "status": "ok",
                "illuminanceLevel": dim, "activePower": round(power, 1)}


def make_sim(sensor: AnySensor, pack: CityPack, weather: Weather, seed: int = 0,
             time_scale: float = 1.0) -> SensorSim:
    """The simulator for ``sensor`` (same seed, same readings). ``time_scale`` > 1 makes
    rivers respond faster than real time (for demos); timestamps stay real."""
    return SensorSim(sensor, pack, weather, seed, time_scale)


class SimDriver:
    """The ``sim`` driver: a :class:`SensorSim` behind the async driver interface."""

    def __init__(self, sensor: AnySensor, pack: CityPack, weather: Weather, seed: int = 0,
                 time_scale: float = 1.0) -> None:
        try:
            self.sim = SensorSim(sensor, pack, weather, seed, time_scale)
        except ValueError as e:  # a bad fault param: start-up lists it with the sensor
            raise DriverError(f"sim params: {e}") from e

    async def read(self, t: float) -> dict[str, Value]:
        return self.sim.sample(t)

    async def aclose(self) -> None:
        pass
