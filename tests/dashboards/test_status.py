"""Sensor states and KPIs: pure functions of the pack and latest points."""

from __future__ import annotations

from cityhub.config.pack import CityPack
from cityhub.levels import level_of_service, rain_class, siaga
from cityhub.store.base import Latest
from dashboards.figures import city_map, districts_geojson, kpis
from dashboards.status import sensor_states

NOW = 1_767_225_600 * 10**9


def latest(device: str, meas: str, age_s: float = 10, **fields: object) -> Latest:
    return Latest(meas, {"device": device}, fields, NOW - int(age_s * 1e9))  # type: ignore[arg-type]


def test_levels() -> None:
    assert [level_of_service(v, 50) for v in (45, 40, 30, 22, 17, 10)] == list("ABCDEF")
    assert [siaga(x, 0.8, 1.5, 2.0) for x in (0.5, 0.8, 1.6, 2.0, 3)] == [4, 3, 2, 1, 1]
    assert [rain_class(r) for r in (0, 2, 7, 15, 30)] == [
        "none", "light", "moderate", "heavy", "very heavy"]


def test_states_and_kpis(small_pack: CityPack) -> None:
    rows = [
        latest("tfc-1", "traffic", averageVehicleSpeed=10.0, intensity=30.0),  # ff 50 -> F
        latest("tfc-2", "traffic", age_s=7200, averageVehicleSpeed=50.0),  # stale
        latest("river-1", "flood", currentLevel=2.2),  # Siaga II (2.0..3.0)
        latest("lamp-1", "lighting", powerState="on", status="defectiveLamp", activePower=0.0),
        latest("rain-1", "rain", rainRate=25.0),
    ]
    states = {s.id: s for s in sensor_states(small_pack, rows, now_ns=NOW, stale_after_s=900)}
    assert states["tfc-1"].label == "LOS F"
    assert states["tfc-1"].severity == 3
    assert states["tfc-2"].label == "no data"
    assert states["tfc-2"].detail == "stale"
    assert states["tfc-b1"].detail == "silent"
    assert states["river-1"].label == "Siaga II"
    assert states["lamp-1"].label == "lamp fault"
    assert states["rain-1"].label == "rain very heavy"
    k = kpis(list(states.values()))
    assert k == {"reporting": "4/6", "congested": "1", "flood": "Siaga II", "lamps_on": "0/1",
                 "lamp_faults": "1", "heavy_rain": "1"}
    fig = city_map(small_pack, list(states.values()))
    assert {t.name for t in fig.data} == {"traffic", "flood", "lighting", "rain"}
    flood = next(t for t in fig.data if t.name == "flood")
    assert list(flood.marker.color) == [states["river-1"].colour]


def test_district_geojson_closes_rings(small_pack: CityPack) -> None:
    geo = districts_geojson(small_pack)
    [north] = geo["features"]  # south has no outline
    ring = north["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1]
    assert len(ring) == 5


def test_derived_states_never_hide_a_reading_and_show_what_the_analytics_found(
        small_pack: CityPack) -> None:
    """The analytics write derived points beside the readings: a newer traffic_state does
    not stand in for the reading (the sensor keeps its LOS), an incident or a lamp fault
    they found shows, a stuck sensor says so; a derived state older than the reading is
    not taken."""
    rows = [
        latest("tfc-1", "traffic", averageVehicleSpeed=40.0, intensity=10.0),
        latest("tfc-1", "traffic_state", tti=1.25, los="B", congested=False, incident=True),
        latest("tfc-2", "traffic", averageVehicleSpeed=40.0),
        latest("tfc-2", "traffic_state", tti=1.25, los="B", congested=False, incident=False),
        latest("tfc-2", "quality", stuck=True),
        latest("lamp-1", "lighting", powerState="on", status="ok", activePower=90.0),
        latest("lamp-1", "light_state", age_s=3600, fault="day_burning", sun_elevation=40.0),
        latest("river-1", "flood_state", siaga=1.0),  # a derived state alone: no reading
    ]
    states = {s.id: s for s in sensor_states(small_pack, rows, now_ns=NOW, stale_after_s=900)}
    assert (states["tfc-1"].label, states["tfc-1"].severity) == ("incident", 3)
    assert states["tfc-2"].label == "LOS B" and "stuck" in states["tfc-2"].detail
    assert states["lamp-1"].label == "lamp on"  # its fault state is older than the reading
    assert states["river-1"].label == "no data"
    rows[6] = latest("lamp-1", "light_state", fault="day_burning", sun_elevation=40.0)
    states = {s.id: s for s in sensor_states(small_pack, rows, now_ns=NOW, stale_after_s=900)}
    assert states["lamp-1"].label == "lamp fault"
    assert states["lamp-1"].detail.startswith("burning by day")
