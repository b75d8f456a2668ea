"""Sensor states and KPIs: pure functions of the pack and latest points."""

from __future__ import annotations

import plotly.graph_objects as go

from cityhub.config.pack import CityPack
from cityhub.levels import level_of_service, rain_class, siaga
from cityhub.store.base import Latest
from dashboards.figures import Kpis, city_map, districts_geojson, kpis
from dashboards.i18n import Lang
from dashboards.status import sensor_states
from dashboards.wording import detail, label

EN = Lang("en", "Asia/Jakarta")

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
    assert states["tfc-1"].code == "los_f"
    assert label(EN, "los_f") == "LOS F"
    assert states["tfc-1"].severity == 3
    assert detail(EN, states["tfc-1"].state) == "10 km/h, 30 veh/min"
    assert states["tfc-2"].code == "no_data"
    assert detail(EN, states["tfc-2"].state) == "stale"
    assert detail(EN, states["tfc-b1"].state) == "silent"
    assert states["river-1"].code == "siaga_2"
    assert label(EN, states["river-1"].code) == "Siaga II"
    assert states["lamp-1"].code == "lamp_fault"
    assert states["rain-1"].code == "rain_very_heavy"
    k = kpis(list(states.values()))
    assert k == Kpis(reporting=4, sensors=6, congested=1, worst_flood="siaga_2", lamps_lit=0,
                     lamps=1, lamp_faults=1, heavy_rain=1, offline=0)
    fig = city_map(small_pack, list(states.values()), EN)
    go.Figure(fig)  # Plotly accepts what was built without its checks
    assert {t["name"] for t in fig["data"]} == {"traffic", "flood gauges", "street lights",
                                                "rain gauges", "districts"}
    flood = next(t for t in fig["data"] if t["name"] == "flood gauges")
    assert list(flood["marker"]["color"]) == [states["river-1"].colour]
    assert flood["customdata"][0][1:3] == ["Siaga II", "2.20 m (Siaga I at 3.00 m)"]


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
    assert (states["tfc-1"].code, states["tfc-1"].severity) == ("incident", 3)
    assert states["tfc-2"].code == "los_b" and "stuck" in detail(EN, states["tfc-2"].state)
    assert states["lamp-1"].code == "lamp_on"  # its fault state is older than the reading
    assert states["river-1"].code == "no_data"
    rows[6] = latest("lamp-1", "light_state", fault="day_burning", sun_elevation=40.0)
    states = {s.id: s for s in sensor_states(small_pack, rows, now_ns=NOW, stale_after_s=900)}
    assert states["lamp-1"].code == "lamp_fault"
    assert detail(EN, states["lamp-1"].state).startswith("burning by day")


def test_a_silent_sensor_of_an_offline_gateway_is_offline(small_pack: CityPack) -> None:
    gw = small_pack.sensors["tfc-1"][0].id
    rows = [latest("tfc-1", "traffic", age_s=7200, averageVehicleSpeed=50.0),
            latest("river-1", "flood", currentLevel=0.2)]
    states = {s.id: s for s in sensor_states(small_pack, rows, now_ns=NOW,
                                             stale_after_s=900, offline={gw})}
    assert states["tfc-1"].code == "offline"
    same_gw = [s for s in states.values() if s.gateway == gw and s.id != "tfc-1"]
    assert all(s.code in ("offline", "siaga_4") for s in same_gw)
    assert kpis(list(states.values())).offline == len(
        [s for s in states.values() if s.code == "offline"]) >= 1


def test_the_same_state_in_bahasa_indonesia(small_pack: CityPack) -> None:
    ID = Lang("id", "Asia/Jakarta")
    rows = [latest("river-1", "flood", currentLevel=2.25),
            latest("rain-1", "rain", rainRate=12.5)]
    states = {s.id: s for s in sensor_states(small_pack, rows, now_ns=NOW, stale_after_s=900)}
    assert detail(ID, states["river-1"].state) == "2,25 m (Siaga I pada 3,00 m)"
    assert label(ID, states["rain-1"].code) == "hujan lebat"
    assert detail(ID, states["rain-1"].state) == "12,5 mm/jam"
