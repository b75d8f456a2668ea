"""Simulated sensors: repeatable with a seed, and physically sensible."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cityhub.config import load_pack
from cityhub.config.lighting import DimmingStep, LightingPolicy
from cityhub.config.pack import CityPack
from cityhub.mqtt import BrokerSettings
from cityhub.senml import decode_pack, encode_pack
from cityhub.solar import sun_elevation
from edge.drivers.base import DriverError
from edge.drivers.sim import SensorSim, SimDriver, Weather, make_sim
from edge.publisher import GatewayPublisher
from edge.queue import DiskQueue

JKT = ZoneInfo("Asia/Jakarta")


def at(h: int, m: int = 0, day: int = 15) -> float:
    return datetime(2026, 6, day, h, m, tzinfo=JKT).timestamp()


def test_same_seed_same_readings() -> None:
    pack = load_pack("bandung")
    sensors = [s for gw in pack.gateways for s in gw.sensors]

    def run(seed: int) -> list[dict[str, object]]:
        w = Weather(pack.city.timezone, seed)
        sims = [make_sim(s, pack, w, seed) for s in sensors]
        return [sim.sample(at(h)) for h in (6, 12, 18) for sim in sims]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_sun_elevation_known_values() -> None:
    # Bandung is near the equator: high sun at local noon, below the horizon at midnight.
    assert sun_elevation(-6.9175, 107.6191, at(12)) > 55  # June: 90 - (6.9 + 23.4) ~ 60
    assert sun_elevation(-6.9175, 107.6191, at(0)) < -60
    assert -10 < sun_elevation(-6.9175, 107.6191, at(5, 50)) < 10  # around sunrise


def test_lamps_on_at_night_off_by_day_dimmed_as_the_pack_says(small_pack: CityPack) -> None:
    _, lamp = small_pack.sensors["lamp-1"]
    sim = make_sim(lamp, small_pack, Weather("Asia/Jakarta"), 0)
    assert sim.sample(at(12))["powerState"] == "off"
    night = sim.sample(at(21))
    assert night["powerState"] == "on"
    assert 80 < float(night["activePower"]) < 100
    assert sim.sample(at(2))["powerState"] == "on"  # this pack has no dimming schedule
    policy = LightingPolicy(dimming=(DimmingStep(start="23:30", end="05:00", level=0.5),))
    dimmed = make_sim(lamp, small_pack.model_copy(update={"lighting": policy}),
                      Weather("Asia/Jakarta"), 0)
    late = dimmed.sample(at(2))
    assert (late["powerState"], late["illuminanceLevel"]) == ("low", 0.5)
    assert 40 < float(late["activePower"]) < 50
    assert dimmed.sample(at(23, 45))["illuminanceLevel"] == 0.5  # past midnight
    assert dimmed.sample(at(21))["illuminanceLevel"] == 1.0


def test_traffic_peaks_and_rivers_rise_with_rain(small_pack: CityPack) -> None:
    _, tfc = small_pack.sensors["tfc-1"]
    w = Weather("Asia/Jakarta", seed=0)
    sim = make_sim(tfc, small_pack, w, 0)
    assert float(sim.sample(at(7, 30))["intensity"]) > 3 * float(sim.sample(at(3))["intensity"])  # type: ignore[arg-type]
    _, river = small_pack.sensors["river-1"]
    storm_start = at(9, day=16)
    w.add_storm(storm_start, 3600, 60)
    rsim = make_sim(river, small_pack, w, 0)
    before = [rsim.sample(storm_start - 3600 + 60 * i)["currentLevel"] for i in range(60)]
    during = [rsim.sample(storm_start + 60 * i)["currentLevel"] for i in range(90)]
    assert max(during) > max(before) + 0.5  # type: ignore[operator]


async def test_publisher_packs_are_valid_senml(small_pack: CityPack, tmp_path: Path) -> None:
    gw = small_pack.gateways[0]
    w = Weather("Asia/Jakarta")
    now = at(8)
    queue = DiskQueue(tmp_path / "q.db")
    pub = GatewayPublisher(small_pack, gw,
                           [(s, SimDriver(s, small_pack, w)) for s in gw.sensors],
                           BrokerSettings(), queue, clock=lambda: now)
    queued = await pub.sample_due()
    assert await pub.sample_due() == []  # nothing is due again at the same instant
    packs = pub.packs(queued)
    topics = {t for t, _, _ in packs}
    assert topics == {f"city/{small_pack.city.id}/{d}/gw-a"
                      for d in ("traffic", "flood", "lighting", "rain")}
    readings = [r for t, p, _ in packs for r in decode_pack(p, domain=t.split("/")[2])]
    assert sorted(r.seq or 0 for r in readings) == list(range(1, len(queued) + 1))
    assert sorted(s for _, _, seqs in packs for s in seqs) == list(range(1, len(queued) + 1))
    assert encode_pack(readings[:1], domain="traffic")  # round trip of one
    queue.close()


def _twins(kind: str, domain: str, start: float, end: float = math.inf, **kw: float
           ) -> tuple[SensorSim, SensorSim]:
    """The same sensor simulated twice on one seed, a fault injected into the second."""
    pack = load_pack("bandung")
    sensor = next(s for gw in pack.gateways for s in gw.sensors if s.domain == domain)
    sims = [make_sim(sensor, pack, Weather(pack.city.timezone, 5), 5) for _ in range(2)]
    sims[1].inject(kind, start, end, **kw)
    return sims[0], sims[1]


def test_lamp_faults() -> None:
    ok, out = _twins("lamp_out", "lighting", at(18))
    night = [at(20), at(22)]
    assert [ok.sample(t)["status"] for t in night] == ["ok", "ok"]
    assert [out.sample(t) for t in night] == [
        {"powerState": "on", "status": "defectiveLamp", "illuminanceLevel": 1.0,
         "activePower": 0.0}] * 2
    ok, burning = _twins("day_burning", "lighting", at(9), at(15))
    assert ok.sample(at(12))["powerState"] == "off"
    day = burning.sample(at(12))
    assert day["powerState"] == "on" and day["activePower"] > 0
    assert burning.sample(at(16))["powerState"] == "off"


def test_stuck_and_drift() -> None:
    ok, stuck = _twins("stuck", "traffic", at(7))
    times = [at(7, m) for m in range(0, 60, 10)]
    assert len({str(ok.sample(t)) for t in times}) > 1
    assert len({str(stuck.sample(t)) for t in times}) == 1
    ok, drifting = _twins("drift", "flood", at(0), drift_per_h=0.1)
    diffs = [drifting.sample(at(h))["currentLevel"] - ok.sample(at(h))["currentLevel"]
             for h in (1, 5, 10)]
    assert [round(d, 2) for d in diffs] == [0.1, 0.5, 1.0]
    # a speed drifting down stops at 0: a sensor reads no negative speed
    ok, slowing = _twins("drift", "traffic", at(0), drift_per_h=-5.0)
    speeds = [(ok.sample(at(h))["averageVehicleSpeed"],
               slowing.sample(at(h))["averageVehicleSpeed"]) for h in (1, 2, 23)]
    assert speeds[0][1] == pytest.approx(speeds[0][0] - 5, abs=0.01)
    assert speeds[1][1] == pytest.approx(speeds[1][0] - 10, abs=0.01)
    assert speeds[2][0] > 0 and speeds[2][1] == 0.0


def test_incidents_slow_a_road_and_are_seeded() -> None:
    ok, jammed = _twins("incident", "traffic", at(10), at(11))
    during = at(10, 30)
    assert jammed.sample(during)["averageVehicleSpeed"] < \
        0.8 * ok.sample(during)["averageVehicleSpeed"]
    pack = load_pack("bandung")
    roads = [s for gw in pack.gateways for s in gw.sensors if s.domain == "traffic"]
    sims = [make_sim(s, pack, Weather(pack.city.timezone, 1), 1) for s in roads]
    days = [at(6, 0, d) + m * 600 for d in range(1, 29) for m in range(0, 90)]
    hit = [sum("incident" in sim.active_faults(t) for t in days) for sim in sims]
    assert 0 < sum(h > 0 for h in hit) < len(roads)  # some roads, some days, not all
    assert jammed.active_faults(during) == ["incident"]


def test_active_faults_tell_the_truth() -> None:
    """What ``active_faults`` says is what the samples show (the detection bench's truth)."""
    ok, out = _twins("lamp_out", "lighting", at(18), at(23))
    assert out.active_faults(at(17)) == [] and out.active_faults(at(20)) == ["lamp_out"]
    assert out.active_faults(at(23, 30)) == []
    assert out.sample(at(20))["activePower"] == 0.0 < ok.sample(at(20))["activePower"]


def test_unknown_fault_is_a_driver_error() -> None:
    pack = load_pack("bandung")
    sensor = pack.gateways[0].sensors[0]
    bad = sensor.model_copy(update={"params": {**sensor.params, "fault": "gremlins"}})
    with pytest.raises(DriverError, match="unknown fault 'gremlins'"):
        SimDriver(bad, pack, Weather(pack.city.timezone))


def test_fault_from_params_starts_at_the_first_sample() -> None:
    """``fault: drift`` without ``fault_from``: drift counts from the first sample, not
    from 1970."""
    pack = load_pack("bandung")
    sensor = next(s for gw in pack.gateways for s in gw.sensors if s.domain == "flood")
    faulty = sensor.model_copy(update={"params": {**sensor.params, "fault": "drift",
                                                  "drift_per_h": 0.1}})
    ok, drifting = (make_sim(s, pack, Weather(pack.city.timezone, 5), 5)
                    for s in (sensor, faulty))
    diffs = [drifting.sample(at(h))["currentLevel"] - ok.sample(at(h))["currentLevel"]
             for h in (2, 4, 12)]
    assert [round(d, 2) for d in diffs] == [0.0, 0.2, 1.0]
