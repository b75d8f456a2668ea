"""The domain pages' pure builders (dashboards/charts.py): numbers worked out here by
hand, from the points given, not by the code under test."""

from __future__ import annotations

import pytest

from cityhub.config import load_pack
from cityhub.config.pack import CityPack
from cityhub.levels import State
from cityhub.store.base import Latest
from dashboards.charts import (
    compliance,
    corridor_groups,
    downstream_etas,
    energy_kwh,
    eta_window,
    faulty_rows,
    gauge_figure,
    gauge_rows,
    gauges_now,
    heatmap_figure,
    hour_of_day_means,
    lamp_counts,
    lamp_figure,
    sparkline,
    traffic_rows,
)
from dashboards.i18n import Lang
from dashboards.status import SensorState, sensor_states
from dashboards.wording import COLOURS

EN = Lang("en", "Asia/Jakarta")
ID = Lang("id", "Asia/Jakarta")
NOW_S = 1_767_225_600  # 2026-01-01 00:00 UTC, 07:00 in Jakarta (UTC+7)
NOW = NOW_S * 10**9
H = 3600 * 10**9


def latest(device: str, meas: str, age_s: float = 10, **fields: object) -> Latest:
    return Latest(meas, {"device": device}, fields, NOW - int(age_s * 1e9))  # type: ignore[arg-type]


# -- traffic --------------------------------------------------------------------------------


def test_hour_of_day_means_in_city_time() -> None:
    # Jakarta is UTC+7 with no DST: a window starting at UTC hour u is local hour (u+7)%24
    groups = {
        "north": [(NOW, 30.0), (NOW + 24 * H, 50.0), (NOW + H, 20.0)],
        "south": [(NOW - 7 * H, 10.0)],
        "east": [],
    }
    got = hour_of_day_means(groups, "Asia/Jakarta")
    assert set(got) == {"north", "south", "east"}
    assert all(len(v) == 24 for v in got.values())
    north: list[float | None] = [None] * 24
    north[7], north[8] = (30.0 + 50.0) / 2, 20.0
    assert got["north"] == north
    assert got["south"] == [10.0] + [None] * 23
    assert got["east"] == [None] * 24
    # the same windows in UTC land seven hours earlier
    assert hour_of_day_means(groups, "UTC")["north"][0] == 40.0


def test_heatmap_figure_shows_the_matrix() -> None:
    matrix: list[list[float | None]] = [[None] * 23 + [12.5], [40.0] * 24]
    fig = heatmap_figure(["North", "South"], matrix, EN)
    hm = fig.data[0]
    assert list(hm.y) == ["North", "South"]
    assert list(hm.x) == [f"{h:02d}" for h in range(24)]
    assert [list(r) for r in hm.z] == matrix
    assert hm.text[0][23] == "12" or hm.text[0][23] == "13"  # no decimals
    assert hm.text[0][0] == "" and hm.text[1][5] == "40"


def test_corridors_or_districts(small_pack: CityPack) -> None:
    # the small pack has no corridors: the traffic sensors of each district, in pack order
    assert corridor_groups(small_pack) == [("North", ["tfc-1"]),
                                           ("South", ["tfc-2", "tfc-b1"])]
    assert corridor_groups(small_pack, "south") == [("South", ["tfc-2", "tfc-b1"])]
    bandung = load_pack("bandung")
    groups = corridor_groups(bandung)
    assert [name for name, _ in groups] == [c.name for c in bandung.corridors]
    assert groups[0][1] == list(bandung.corridors[0].sensors)


def test_traffic_rows_incidents_first(small_pack: CityPack) -> None:
    rows = [
        latest("tfc-b1", "traffic", averageVehicleSpeed=48.0, intensity=5.0),
        latest("tfc-1", "traffic", averageVehicleSpeed=12.0, intensity=3.0),
        latest("tfc-1", "traffic_state", tti=4.17, los="F", congested=True, incident=True),
        # a derived state of an older reading is not this reading's
        latest("tfc-b1", "traffic_state", age_s=600, tti=9.0, incident=True),
    ]
    states = sensor_states(small_pack, rows, now_ns=NOW, stale_after_s=900)
    names = {"north": "North", "south": "South"}
    got = traffic_rows(states, rows, EN, names)
    assert [r["id"] for r in got] == ["tfc-1", "tfc-b1", "tfc-2"]
    first, second, silent = got
    assert first["sensor"] == "[tfc-1](/sensor/tfc-1)"
    assert (first["speed"], first["flow"], first["los"], first["tti"]) == ("12", "3", "F",
                                                                           "4.17")
    assert (first["congested"], first["incident"], first["state"]) == ("yes", "yes",
                                                                       "incident")
    # 48 km/h of a 50 km/h free flow: LOS A (48/50 > 0.85), from the reading itself
    assert (second["los"], second["tti"], second["incident"]) == ("A", "", "no")
    assert second["district"] == "South" and second["congested"] == ""
    assert (silent["speed"], silent["state"]) == ("", "no data")
    assert traffic_rows(states, rows, ID, names)[0]["tti"] == "4,17"


# -- flood ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bogor() -> CityPack:
    return load_pack("bogor")


def test_eta_window() -> None:
    assert eta_window(1000.0, (6, 12)) == (1000.0 + 6 * 3600, 1000.0 + 12 * 3600)
    assert eta_window(0.0, (0.5, 0.5)) == (1800.0, 1800.0)
    with pytest.raises(ValueError, match="shortest"):
        eta_window(0.0, (3, 2))


def test_downstream_eta_from_katulampa(bogor: CityPack) -> None:
    # Katulampa: Siaga III at 0.8 m; its water reaches Sempur in 0.5-2 h, Manggarai in 6-12 h
    t = NOW_S - 60
    rows = [latest("flood-katulampa", "flood", age_s=60, currentLevel=1.0),
            latest("flood-katulampa", "flood_state", age_s=60, siaga=3.0, rise_m_per_h=0.0)]
    gauges = gauges_now(bogor, rows, now_s=NOW_S, stale_after_s=900)
    etas = downstream_etas(bogor, gauges)
    assert [(e.downstream, e.place, e.earliest_s, e.latest_s) for e in etas] == [
        ("flood-ciliwung-sempur", "Ciliwung at Sempur", t + 1800, t + 7200),
        ("manggarai", "Pintu Air Manggarai (Jakarta)", t + 6 * 3600, t + 12 * 3600)]
    assert all(e.siaga == 3 and not e.rising and e.river == "Ciliwung" for e in etas)

    # normal and steady: nothing expected; normal but rising: expected
    calm = [latest("flood-katulampa", "flood", currentLevel=0.5),
            latest("flood-katulampa", "flood_state", rise_m_per_h=0.01)]
    assert downstream_etas(bogor, gauges_now(bogor, calm, now_s=NOW_S,
                                             stale_after_s=900)) == []
    rising = [latest("flood-katulampa", "flood", currentLevel=0.5),
              latest("flood-katulampa", "flood_state", rise_m_per_h=0.4)]
    etas = downstream_etas(bogor, gauges_now(bogor, rising, now_s=NOW_S, stale_after_s=900))
    assert len(etas) == 2 and all(e.rising and e.siaga == 4 for e in etas)
    # a stale reading forecasts nothing
    old = [latest("flood-katulampa", "flood", age_s=3600, currentLevel=2.5)]
    assert downstream_etas(bogor, gauges_now(bogor, old, now_s=NOW_S,
                                             stale_after_s=900)) == []


def test_gauges_rows_and_figure(bogor: CityPack) -> None:
    rows = [latest("flood-katulampa", "flood", age_s=100, currentLevel=1.6),
            latest("flood-katulampa", "flood_state", age_s=100, rise_m_per_h=0.3,
                   eta_next_level_s=1300.0),
            latest("flood-ciliwung-sempur", "flood", currentLevel=0.7),
            # from an older reading: not shown with the newer one
            latest("flood-ciliwung-sempur", "flood_state", age_s=300, rise_m_per_h=9.0)]
    gauges = gauges_now(bogor, rows, now_s=NOW_S, stale_after_s=900)
    by_id = {g.id: g for g in gauges}
    k, s = by_id["flood-katulampa"], by_id["flood-ciliwung-sempur"]
    assert (k.level_m, k.siaga, k.code, k.rise_m_per_h) == (1.6, 2, "siaga_2", 0.3)
    assert (s.siaga, s.rise_m_per_h, s.eta_next_level_s) == (4, None, None)
    assert gauges_now(bogor, rows, now_s=NOW_S, stale_after_s=900,
                      district="bogor-tengah") == [s]

    table = gauge_rows(gauges, EN, {}, now_s=NOW_S)
    assert [r["id"] for r in table] == ["flood-katulampa", "flood-ciliwung-sempur"]
    # 1300 s from the reading, 100 s ago: 1200 s = 20 min from now
    assert table[0]["next"] == "in 20 min"
    assert (table[0]["level"], table[0]["state"], table[0]["rise"]) == ("1.60", "Siaga II",
                                                                        "0.30")
    assert table[0]["bands"] == "0.80 / 1.50 / 2.00" and table[1]["next"] == ""

    fig = gauge_figure(gauges, EN)
    bars, s3, s2, s1 = fig.data
    names = [g.name for g in gauges]
    assert list(bars.y) == names and list(bars.x) == [g.level_m for g in gauges]
    assert list(bars.marker.color) == [COLOURS[g.code] for g in gauges]
    assert list(s3.x) == [0.8, 1.5] and list(s2.x) == [1.5, 2.0] and list(s1.x) == [2.0, 2.5]
    assert s1.name == "Siaga I begins"


def test_sparkline_in_city_time() -> None:
    fig = sparkline([(NOW, 1.0), (NOW + H // 12, 1.25)], "#123456", EN)
    line = fig.data[0]
    assert list(line.y) == [1.0, 1.25] and line.line.color == "#123456"
    # 00:00 UTC is 07:00 in Jakarta; five minutes later 07:05
    assert [(x.hour, x.minute) for x in line.x] == [(7, 0), (7, 5)]
    assert fig.layout.height == 70


# -- lighting -------------------------------------------------------------------------------


def test_energy_from_window_means() -> None:
    # 90 W, 60 W and 30 W for an hour each: 180 Wh = 0.18 kWh; in 15-minute windows a quarter
    means = [(0, 90.0), (H, 60.0), (2 * H, 30.0)]
    assert energy_kwh(means, 3600) == pytest.approx(0.18)
    assert energy_kwh(means, 900) == pytest.approx(0.045)
    assert energy_kwh([], 3600) == 0.0
    with pytest.raises(ValueError, match="window_s"):
        energy_kwh(means, 0)


def lamp(device: str, district: str, code: str, **facts: object) -> SensorState:
    return SensorState(device, device.upper(), "lighting", district, "gw", 0.0, 0.0,
                       State(code, 2 if code == "lamp_fault" else 0, facts),  # type: ignore[arg-type]
                       NOW)


def test_lamp_counts_faults_and_compliance() -> None:
    states = [lamp("a", "north", "lamp_on"), lamp("b", "north", "lamp_on"),
              lamp("c", "north", "lamp_dimmed"),
              lamp("d", "north", "lamp_fault", fault="day_burning", power_w=90.0),
              lamp("e", "north", "offline"), lamp("f", "south", "lamp_off"),
              SensorState("t", "T", "traffic", "south", "gw", 0, 0, State("los_a", 0), NOW)]
    counts = lamp_counts(states)
    assert counts == {
        "north": {"lamp_on": 2, "lamp_dimmed": 1, "lamp_off": 0, "lamp_fault": 1, "no_data": 1},
        "south": {"lamp_on": 0, "lamp_dimmed": 0, "lamp_off": 1, "lamp_fault": 0, "no_data": 0},
    }
    fig = lamp_figure(counts, {"north": "North", "south": "South"}, EN)
    assert [t.name for t in fig.data] == ["lamp on", "lamp dimmed", "lamp off", "lamp fault",
                                          "no data"]
    assert list(fig.data[0].x) == ["North", "South"] and list(fig.data[0].y) == [2, 0]

    rows = faulty_rows(states, EN, {"north": "North"})
    assert [(r["id"], r["district"], r["fault"]) for r in rows] == [
        ("d", "North", "burning by day, 90 W")]
    assert rows[0]["sensor"] == "[D](/sensor/d)"

    assert compliance([True, False, True, None, "yes"]) == (2, 3)
    assert compliance([]) == (0, 0)
